"""OpenAI Chat Completions request → Anthropic Messages body for Vertex (pure, no I/O).

`to_anthropic` is the entry point: it checks the top-level fields (model, stream, token limit,
sampling, stop, user) itself and hands the rest to focused modules — messages.py (roles, turns,
tool calls/results), tools.py (tools, tool_choice), thinking.py (reasoning_effort / thinking
per model family) and json_mode.py (response_format). It validates the client's body as it
goes: every problem is an `InvalidRequest` whose `param` names the offending field
(`messages[2].content[0].image_url.url`), raised before any upstream call is made.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from modelmux.convert.fields import REQUEST_FIELDS
from modelmux.convert.json_mode import JsonMode, convert_json_mode
from modelmux.convert.messages import MessageBuilder, sanitize_tool_id
from modelmux.convert.models import ModelFamily, family_for
from modelmux.convert.remote import RemoteImage, inline_remote
from modelmux.convert.thinking import convert_thinking, history_blocks_thinking
from modelmux.convert.tools import EMPTY_SCHEMA, convert_tool_choice, convert_tools
from modelmux.convert.validators import bad, is_int, is_num, opt_bool
from modelmux.errors import InvalidRequest, UnsupportedFeature

# Re-exported: other code and the tests import these from here.
__all__ = [
    "ANTHROPIC_VERSION",
    "ConvertOptions",
    "ConvertedRequest",
    "JsonMode",
    "RemoteImage",
    "inline_remote",
    "sanitize_tool_id",
    "to_anthropic",
]

ANTHROPIC_VERSION = "vertex-2023-10-16"


@dataclass(frozen=True, slots=True)
class ConvertOptions:
    default_max_tokens: int = 8192
    reasoning_content: bool = True  # expose thinking as reasoning_content
    anthropic_version: str = ANTHROPIC_VERSION
    # send `output_config.effort` with adaptive thinking. Off by default: Vertex has rejected
    # `output_config` as an extra input (pitfall A14); turn on where it is accepted.
    output_config: bool = False


@dataclass(slots=True)
class ConvertedRequest:
    body: dict
    stream: bool
    include_usage: bool
    client_model: str
    json_mode: JsonMode | None
    remote_images: list[RemoteImage]
    reasoning_content: bool = True


def to_anthropic(
    openai_body: object, *, model_id: str, options: ConvertOptions
) -> ConvertedRequest:
    if not isinstance(openai_body, dict):
        raise InvalidRequest("The request body must be a JSON object", param=None)
    b = openai_body
    for key, value in b.items():
        rule = REQUEST_FIELDS.get(key)
        if rule is not None and rule.treatment == "rejected" and value is not None:
            _check_rejected(key, value)

    client_model = b.get("model")
    if not isinstance(client_model, str) or not client_model:
        raise bad("model", "a model name is required")
    fam = family_for(model_id)

    # messages
    raw_msgs = b.get("messages")
    if not isinstance(raw_msgs, list) or not raw_msgs:
        raise bad("messages", "expected a non-empty array of messages")
    remote: list[RemoteImage] = []
    conv = MessageBuilder(remote)
    for i, m in enumerate(raw_msgs):
        conv.add(i, m)
    messages = conv.build()
    if not messages:
        raise bad("messages", "at least one user or assistant message with content is required")

    stream, include_usage = _stream_flags(b)
    max_tokens = _max_tokens(b, options)

    body: dict[str, Any] = {"anthropic_version": options.anthropic_version, "messages": messages}

    # tools
    tools = convert_tools(b)
    tool_choice = convert_tool_choice(b, tools)

    # thinking (history that cannot carry thinking blocks turns it off, see docs)
    thinking, output_config = convert_thinking(b, fam, output_config=options.output_config)
    thinking_on = thinking is not None and thinking.get("type") in ("enabled", "adaptive")
    if thinking_on and history_blocks_thinking(messages):
        thinking, output_config, thinking_on = None, None, False
    if thinking_on and tool_choice is not None and tool_choice["type"] in ("any", "tool"):
        raise InvalidRequest(
            "Invalid 'tool_choice': Claude cannot be forced to call a tool while thinking is "
            "enabled; use tool_choice 'auto' or turn reasoning off",
            param="tool_choice",
        )

    # JSON mode
    json_mode, json_tool, instruction = convert_json_mode(b, tools, tool_choice, thinking_on)
    if json_tool is not None:
        tools.append(json_tool)
        if json_mode is not None and json_mode.forced:
            tool_choice = {"type": "tool", "name": json_tool["name"]}
    system = conv.system
    if instruction:
        system.append({"type": "text", "text": instruction})

    # tool history without tool definitions: Claude needs the tools declared
    if not tools and conv.tool_names_used:
        for name in dict.fromkeys(conv.tool_names_used):
            tools.append({"name": name, "input_schema": dict(EMPTY_SCHEMA)})
        tool_choice = {"type": "none"}

    # one call at a time when the client asks, and always for a forced JSON answer
    ptc = opt_bool(b, "parallel_tool_calls")
    if tools and (ptc is False or (json_mode is not None and json_mode.forced)):
        if tool_choice is None:
            tool_choice = {"type": "auto"}
        if tool_choice["type"] != "none":
            tool_choice = {**tool_choice, "disable_parallel_tool_use": True}

    if system:
        body["system"] = system
    if tools:
        body["tools"] = tools
    if tool_choice is not None:
        body["tool_choice"] = tool_choice

    temperature, top_p, top_k = _sampling(b, fam, thinking_on)
    if temperature is not None:
        body["temperature"] = temperature
    if top_p is not None:
        body["top_p"] = top_p
    if top_k is not None:
        body["top_k"] = top_k

    # thinking & token budget: max_tokens must exceed the thinking budget
    if thinking is not None:
        body["thinking"] = thinking
        budget = thinking.get("budget_tokens")
        if thinking_on and is_int(budget) and max_tokens <= budget:
            max_tokens = budget + max_tokens
    if output_config is not None:
        body["output_config"] = output_config
    body["max_tokens"] = max_tokens

    stops = _stop_sequences(b.get("stop"))
    if stops:
        body["stop_sequences"] = stops

    user_id = _user_id(b)
    if user_id is not None:
        body["metadata"] = {"user_id": user_id}

    if stream:
        body["stream"] = True

    return ConvertedRequest(
        body=body,
        stream=stream,
        include_usage=include_usage,
        client_model=client_model,
        json_mode=json_mode,
        remote_images=remote,
        reasoning_content=options.reasoning_content,
    )


# ---------------------------------------------------------------------------------------------
# top-level fields


def _check_rejected(key: str, value: object) -> None:
    if key == "n":
        if not is_int(value) or value < 1:
            raise bad("n", "expected a positive integer")
        if value != 1:
            raise UnsupportedFeature(
                "Invalid 'n': Claude returns exactly one choice; only n=1 is supported", param="n"
            )
    elif key == "audio":
        raise UnsupportedFeature(
            "Invalid 'audio': audio output is not supported by Claude models", param="audio"
        )
    elif key == "modalities":
        if not isinstance(value, list) or any(not isinstance(x, str) for x in value):
            raise bad("modalities", "expected an array of strings")
        if any(x != "text" for x in value):
            raise UnsupportedFeature(
                "Invalid 'modalities': only 'text' output is supported", param="modalities"
            )


def _stream_flags(b: dict) -> tuple[bool, bool]:
    """(stream, include_usage); stream_options is ignored when not streaming."""
    stream = bool(opt_bool(b, "stream"))
    include_usage = False
    so = b.get("stream_options")
    if stream and so is not None:
        if not isinstance(so, dict):
            raise bad("stream_options", "expected an object")
        iu = so.get("include_usage")
        if iu is not None and not isinstance(iu, bool):
            raise bad("stream_options.include_usage", "expected a boolean")
        include_usage = bool(iu)
    return stream, include_usage


def _max_tokens(b: dict, options: ConvertOptions) -> int:
    # max_completion_tokens wins over the deprecated max_tokens; Claude requires a value
    max_tokens = b.get("max_completion_tokens")
    mt_key = "max_completion_tokens"
    if max_tokens is None:
        max_tokens, mt_key = b.get("max_tokens"), "max_tokens"
    if max_tokens is None:
        max_tokens = options.default_max_tokens
    elif not is_int(max_tokens) or max_tokens < 1:
        raise bad(mt_key, "expected an integer >= 1")
    return max_tokens


def _sampling(b: dict, fam: ModelFamily, thinking_on: bool) -> tuple[Any, Any, Any]:
    """(temperature, top_p, top_k), each None when not sent to Claude."""
    temperature = b.get("temperature")
    if temperature is not None:
        if not is_num(temperature) or not 0 <= temperature <= 2:
            raise bad("temperature", "expected a number between 0 and 2")
        # OpenAI allows up to 2, Claude up to 1
        temperature = min(float(temperature), 1.0) if temperature > 1 else temperature
    top_p = b.get("top_p")
    if top_p is not None and (not is_num(top_p) or not 0 <= top_p <= 1):
        raise bad("top_p", "expected a number between 0 and 1")
    top_k = b.get("top_k")
    if top_k is not None and (not is_int(top_k) or top_k < 0):
        raise bad("top_k", "expected a non-negative integer")
    if thinking_on:  # Claude: thinking needs the default temperature, no top_k, top_p >= 0.95
        temperature = top_k = None
        if top_p is not None and top_p < 0.95:
            top_p = None
    if temperature is not None and top_p is not None and fam.exclusive_sampling:
        top_p = None  # this family rejects both; temperature is the more common knob
    return temperature, top_p, top_k


def _stop_sequences(stop: object) -> list[str]:
    if stop is None:
        return []
    if isinstance(stop, str):
        stop = [stop]
    if not isinstance(stop, list) or any(not isinstance(s, str) for s in stop):
        raise bad("stop", "expected a string or an array of strings")
    return [s for s in stop if s and not s.isspace()]  # Claude rejects blank stop sequences


def _user_id(b: dict) -> str | None:
    # safety_identifier supersedes the deprecated `user`; long ids are hashed to fit
    for key in ("safety_identifier", "user"):
        v = b.get(key)
        if v is None:
            continue
        if not isinstance(v, str):
            raise bad(key, "expected a string")
        if not v:
            continue
        if len(v) > 256:
            return "sha256-" + hashlib.sha256(v.encode()).hexdigest()
        return v
    return None
