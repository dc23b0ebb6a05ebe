"""Strict validation of Anthropic Messages request bodies as Vertex AI accepts them.

The emulator rejects what real Vertex rejects (wire-formats.md B.1-B.5, B.9) so that a
translation bug fails a test instead of a production request. Pure: no I/O, no aiohttp, so the
translator's tests can call `validate_messages_request` directly. Messages follow Anthropic's
style: a JSON path, a colon, what is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NoReturn

__all__ = [
    "ValidationFailed",
    "model_rules",
    "validate_count_tokens_request",
    "validate_messages_request",
]

VERTEX_ANTHROPIC_VERSION = "vertex-2023-10-16"

_TOOL_USE_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
_IMAGE_TYPES_TEXT = "'image/jpeg', 'image/png', 'image/gif' or 'image/webp'"

_TOP_LEVEL = frozenset(
    {
        "anthropic_version",
        "max_tokens",
        "messages",
        "system",
        "stop_sequences",
        "temperature",
        "top_p",
        "top_k",
        "metadata",
        "tools",
        "tool_choice",
        "thinking",
        "stream",
    }
)

# Allowed keys per content block type (extra keys are rejected, as the API's schema does).
_BLOCK_KEYS: dict[str, frozenset[str]] = {
    "text": frozenset({"type", "text", "cache_control", "citations"}),
    "image": frozenset({"type", "source", "cache_control"}),
    "document": frozenset({"type", "source", "title", "context", "citations", "cache_control"}),
    "tool_use": frozenset({"type", "id", "name", "input", "cache_control"}),
    "tool_result": frozenset({"type", "tool_use_id", "content", "is_error", "cache_control"}),
    "thinking": frozenset({"type", "thinking", "signature"}),
    "redacted_thinking": frozenset({"type", "data"}),
}
_TOOL_RESULT_CONTENT_TYPES = ("text", "image", "document", "search_result")


class ValidationFailed(Exception):
    """A request body Vertex would answer with 400 invalid_request_error."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _fail(message: str) -> NoReturn:
    raise ValidationFailed(message)


def _type_name(value: Any) -> str:
    return type(value).__name__


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_keys(obj: dict[str, Any], allowed: frozenset[str], path: str) -> None:
    for key in obj:
        if key not in allowed:
            _fail(f"{path}.{key}: Extra inputs are not permitted")


def _require_dict(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        _fail(f"{path}: Input should be a valid dictionary")
    return value


def _require_str(obj: dict[str, Any], key: str, path: str) -> str:
    if key not in obj:
        _fail(f"{path}.{key}: Field required")
    value = obj[key]
    if not isinstance(value, str):
        _fail(f"{path}.{key}: Input should be a valid string")
    return value


# ---------------------------------------------------------------------------------------------
# Model-family rules (wire-formats B.5, B.9). Keyed by parsed (family, major, minor); a model id
# that does not parse ("claude-3-7-sonnet@…", unknown names) gets no model-specific rule.

_MODEL_ID = re.compile(r"^claude-(opus|sonnet|haiku)-(\d+)(?:-(\d{1,2}))?(?=$|[@-])")


def _model_version(model: str) -> tuple[str, int, int] | None:
    match = _MODEL_ID.match(model)
    if match is None:
        return None
    return match.group(1), int(match.group(2)), int(match.group(3) or 0)


def _rejects_temperature_with_top_p(family: str, version: tuple[int, int]) -> bool:
    return version >= (4, 5) or (family == "opus" and version >= (4, 1))


def _adaptive_only(family: str, version: tuple[int, int]) -> bool:
    return version >= (4, 7)


def _enabled_only(family: str, version: tuple[int, int]) -> bool:
    return version < (4, 6)


def model_rules(model: str | None) -> dict[str, bool]:
    """Which model-specific rules apply to `model` (exposed for tests and docs)."""
    parsed = _model_version(model) if model else None
    if parsed is None:
        return {"no_temperature_with_top_p": False, "adaptive_only": False, "enabled_only": False}
    family, major, minor = parsed
    version = (major, minor)
    return {
        "no_temperature_with_top_p": _rejects_temperature_with_top_p(family, version),
        "adaptive_only": _adaptive_only(family, version),
        "enabled_only": _enabled_only(family, version),
    }


# ---------------------------------------------------------------------------------------------
# Content blocks


def _validate_text_block(block: dict[str, Any], path: str) -> None:
    text = _require_str(block, "text", path)
    if text == "":
        _fail(f"{path}.text: text content blocks must be non-empty")
    if not text.strip():
        _fail(f"{path}.text: text content blocks must contain non-whitespace text")


def _inline_source(block: dict[str, Any], path: str) -> tuple[dict[str, Any], Any]:
    """The block's `source` and its type; Vertex rejects URL sources for images and documents."""
    if "source" not in block:
        _fail(f"{path}.source: Field required")
    source = _require_dict(block["source"], f"{path}.source")
    kind = source.get("type")
    if kind == "url":
        _fail(f"{path}.source.base64.data: URL sources are not supported")
    return source, kind


def _validate_image_block(block: dict[str, Any], path: str) -> None:
    source, kind = _inline_source(block, path)
    if kind != "base64":
        _fail(f"{path}.source.type: Input should be 'base64'")
    _check_keys(source, frozenset({"type", "media_type", "data"}), f"{path}.source.base64")
    media_type = _require_str(source, "media_type", f"{path}.source.base64")
    if media_type not in _IMAGE_TYPES:
        _fail(f"{path}.source.base64.media_type: Input should be {_IMAGE_TYPES_TEXT}")
    data = _require_str(source, "data", f"{path}.source.base64")
    if data == "":
        _fail(f"{path}.source.base64.data: image data must be non-empty")


def _validate_document_block(block: dict[str, Any], path: str) -> None:
    source, kind = _inline_source(block, path)
    if kind == "base64":
        if source.get("media_type") != "application/pdf":
            _fail(f"{path}.source.base64.media_type: Input should be 'application/pdf'")
        _require_str(source, "data", f"{path}.source.base64")
    elif kind == "text":
        if source.get("media_type") != "text/plain":
            _fail(f"{path}.source.text.media_type: Input should be 'text/plain'")
        _require_str(source, "data", f"{path}.source.text")
    elif kind == "content":
        content = source.get("content")
        if isinstance(content, str):
            if content == "":
                _fail(f"{path}.source.content: content must be non-empty")
        elif isinstance(content, list) and content:
            for i, inner in enumerate(content):
                inner_path = f"{path}.source.content.{i}"
                inner = _require_dict(inner, inner_path)
                if inner.get("type") not in ("text", "image"):
                    _fail(f"{inner_path}.type: Input should be 'text' or 'image'")
                _validate_block(inner, inner_path, role="user")
        else:
            _fail(f"{path}.source.content: Input should be a non-empty string or list")
    else:
        _fail(f"{path}.source.type: Input should be 'base64', 'text', 'content' or 'url'")
    for key in ("title", "context"):
        if block.get(key) is not None and not isinstance(block[key], str):
            _fail(f"{path}.{key}: Input should be a valid string")


def _validate_tool_use_block(block: dict[str, Any], path: str) -> None:
    tool_id = _require_str(block, "id", path)
    if not _TOOL_USE_ID.match(tool_id):
        _fail(f"{path}.id: String should match pattern '^[a-zA-Z0-9_-]+$'")
    _require_str(block, "name", path)
    if "input" not in block:
        _fail(f"{path}.input: Field required")
    if not isinstance(block["input"], dict):
        _fail(f"{path}.input: Input should be a valid dictionary")


def _validate_tool_result_block(block: dict[str, Any], path: str) -> None:
    tool_use_id = _require_str(block, "tool_use_id", path)
    if not _TOOL_USE_ID.match(tool_use_id):
        _fail(f"{path}.tool_use_id: String should match pattern '^[a-zA-Z0-9_-]+$'")
    if "is_error" in block and not isinstance(block["is_error"], bool):
        _fail(f"{path}.is_error: Input should be a valid boolean")
    content = block.get("content")
    if content is None or isinstance(content, str):
        return
    if not isinstance(content, list):
        _fail(f"{path}.content: Input should be a valid string or list")
    for i, inner in enumerate(content):
        inner_path = f"{path}.content.{i}"
        inner = _require_dict(inner, inner_path)
        kind = inner.get("type")
        if kind not in _TOOL_RESULT_CONTENT_TYPES:
            _fail(
                f"{inner_path}.type: Input should be 'text', 'image', 'document' or 'search_result'"
            )
        if kind != "search_result":
            _validate_block(inner, inner_path, role="user")


def _validate_thinking_block(block: dict[str, Any], path: str) -> None:
    _require_str(block, "thinking", path)
    _require_str(block, "signature", path)


def _validate_redacted_thinking_block(block: dict[str, Any], path: str) -> None:
    _require_str(block, "data", path)


_BLOCK_VALIDATORS: dict[str, Callable[[dict[str, Any], str], None]] = {
    "text": _validate_text_block,
    "image": _validate_image_block,
    "document": _validate_document_block,
    "tool_use": _validate_tool_use_block,
    "tool_result": _validate_tool_result_block,
    "thinking": _validate_thinking_block,
    "redacted_thinking": _validate_redacted_thinking_block,
}
_USER_ONLY = frozenset({"image", "document", "tool_result"})
_ASSISTANT_ONLY = frozenset({"tool_use", "thinking", "redacted_thinking"})


def _validate_block(block: dict[str, Any], path: str, *, role: str) -> None:
    kind = block.get("type")
    if kind is None:
        _fail(f"{path}.type: Field required")
    validator = _BLOCK_VALIDATORS.get(kind) if isinstance(kind, str) else None
    if validator is None:
        allowed = "', '".join(_BLOCK_VALIDATORS)
        _fail(f"{path}.type: Input should be '{allowed}'")
    if role == "assistant" and kind in _USER_ONLY:
        _fail(f"{path}.type: `{kind}` blocks are not allowed in assistant messages")
    if role == "user" and kind in _ASSISTANT_ONLY:
        _fail(f"{path}.type: `{kind}` blocks are not allowed in user messages")
    _check_keys(block, _BLOCK_KEYS[kind], f"{path}.{kind}")
    validator(block, f"{path}")


# ---------------------------------------------------------------------------------------------
# Messages


def _validate_messages(messages: Any) -> None:
    if not isinstance(messages, list):
        _fail("messages: Input should be a valid list")
    if not messages:
        _fail("messages: at least one message is required")
    last = len(messages) - 1
    for i, message in enumerate(messages):
        path = f"messages.{i}"
        message = _require_dict(message, path)
        _check_keys(message, frozenset({"role", "content"}), path)
        role = message.get("role")
        if "role" not in message:
            _fail(f"{path}.role: Field required")
        if role not in ("user", "assistant"):
            _fail(f"{path}.role: Input should be 'user' or 'assistant'")
        if "content" not in message:
            _fail(f"{path}.content: Field required")
        content = message["content"]
        final_assistant = i == last and role == "assistant"
        if isinstance(content, str):
            if content == "" and not final_assistant:
                _fail(
                    f"{path}: all messages must have non-empty content except for the "
                    "optional final assistant message"
                )
            if content and not content.strip() and not final_assistant:
                _fail(f"{path}.content: text content blocks must contain non-whitespace text")
            if final_assistant and content != content.rstrip():
                _fail(
                    f"{path}.content: final assistant content cannot end with trailing whitespace"
                )
        elif isinstance(content, list):
            if not content and not final_assistant:
                _fail(
                    f"{path}: all messages must have non-empty content except for the "
                    "optional final assistant message"
                )
            for j, block in enumerate(content):
                block_path = f"{path}.content.{j}"
                _validate_block(_require_dict(block, block_path), block_path, role=role)
            if final_assistant and content:
                tail = content[-1]
                if tail["type"] == "text" and tail["text"] != tail["text"].rstrip():
                    _fail(
                        f"{path}.content.{len(content) - 1}.text: final assistant content "
                        "cannot end with trailing whitespace"
                    )
        else:
            _fail(f"{path}.content: Input should be a valid string or list")
    if messages[0]["role"] != "user":
        _fail('messages: first message must use the "user" role')
    for i in range(1, len(messages)):
        if messages[i]["role"] == messages[i - 1]["role"]:
            role = messages[i]["role"]
            _fail(
                f'messages.{i}: roles must alternate between "user" and "assistant", '
                f'but found multiple "{role}" roles in a row'
            )
    _validate_tool_pairing(messages)


def _blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message["content"]
    return content if isinstance(content, list) else []


def _validate_tool_pairing(messages: list[dict[str, Any]]) -> None:
    """tool_use ids unique; each answered first thing in the next user message; no orphans."""
    seen: set[str] = set()
    for i, message in enumerate(messages):
        for j, block in enumerate(_blocks(message)):
            if block["type"] == "tool_use":
                if block["id"] in seen:
                    _fail(f"messages.{i}.content.{j}: `tool_use` ids must be unique")
                seen.add(block["id"])
    for i, message in enumerate(messages):
        blocks = _blocks(message)
        if message["role"] == "assistant":
            wanted = [b["id"] for b in blocks if b["type"] == "tool_use"]
            if not wanted:
                continue
            following = _blocks(messages[i + 1]) if i + 1 < len(messages) else []
            answered = {b["tool_use_id"] for b in following if b["type"] == "tool_result"}
            missing = [tid for tid in wanted if tid not in answered]
            if missing:
                _fail(
                    f"messages.{i + 1 if i + 1 < len(messages) else i}: `tool_use` ids were "
                    f"found without `tool_result` blocks immediately after: "
                    f"{', '.join(missing)}. Each `tool_use` block must have a corresponding "
                    "`tool_result` block in the next message."
                )
        else:
            previous = _blocks(messages[i - 1]) if i > 0 else []
            offered = {b["id"] for b in previous if b["type"] == "tool_use"}
            in_results = True
            for j, block in enumerate(blocks):
                if block["type"] != "tool_result":
                    in_results = False
                    continue
                if not in_results:
                    _fail(
                        f"messages.{i}.content.{j}: `tool_result` blocks must come first in "
                        "the user message, before any other content"
                    )
                if block["tool_use_id"] not in offered:
                    _fail(
                        f"messages.{i}.content.{j}: unexpected `tool_use_id` found in "
                        f"`tool_result` blocks: {block['tool_use_id']}. Each `tool_result` "
                        "block must have a corresponding `tool_use` block in the previous "
                        "message."
                    )


def _validate_thinking_history(messages: list[dict[str, Any]]) -> None:
    """With thinking on, the assistant turn of an open tool loop must start with thinking."""
    last = messages[-1]
    if last["role"] == "assistant":
        _fail(
            "messages: a final assistant message (prefill) cannot be used when `thinking` is "
            "enabled"
        )
    if len(messages) < 2 or not any(b["type"] == "tool_result" for b in _blocks(last)):
        return
    index = len(messages) - 2
    blocks = _blocks(messages[index])
    first = blocks[0]["type"] if blocks else "text"
    if first not in ("thinking", "redacted_thinking"):
        _fail(
            f"messages.{index}.content.0.type: Expected `thinking` or `redacted_thinking`, "
            f"but found `{first}`. When `thinking` is enabled, a final `assistant` message "
            "must start with a thinking block (preceding the lastmost set of `tool_use` and "
            "`tool_result` blocks). We recommend you include thinking blocks from previous "
            "turns. To avoid this requirement, disable `thinking`."
        )


# ---------------------------------------------------------------------------------------------
# Other top-level fields


def _validate_system(system: Any) -> None:
    if isinstance(system, str):
        return
    if not isinstance(system, list):
        _fail("system: Input should be a valid string or list")
    for i, block in enumerate(system):
        path = f"system.{i}"
        block = _require_dict(block, path)
        if block.get("type") != "text":
            _fail(f"{path}.type: Input should be 'text'")
        _check_keys(block, _BLOCK_KEYS["text"], path)
        _validate_text_block(block, path)


def _validate_stop_sequences(stop: Any) -> None:
    if not isinstance(stop, list):
        _fail("stop_sequences: Input should be a valid list")
    for i, seq in enumerate(stop):
        if not isinstance(seq, str):
            _fail(f"stop_sequences.{i}: Input should be a valid string")
        if not seq.strip():
            _fail(f"stop_sequences.{i}: stop sequences must contain non-whitespace characters")


def _validate_unit_interval(body: dict[str, Any], key: str) -> None:
    value = body[key]
    if not _is_number(value):
        _fail(f"{key}: Input should be a valid number")
    if value < 0:
        _fail(f"{key}: Input should be greater than or equal to 0")
    if value > 1:
        _fail(f"{key}: Input should be less than or equal to 1")


def _validate_tools(tools: Any) -> set[str]:
    if not isinstance(tools, list):
        _fail("tools: Input should be a valid list")
    names: set[str] = set()
    for i, tool in enumerate(tools):
        path = f"tools.{i}"
        tool = _require_dict(tool, path)
        kind = tool.get("type")
        name = _require_str(tool, "name", path)
        if kind not in (None, "custom"):
            # Server tools (web search, …) have their own schemas; only the name is ours.
            names.add(name)
            continue
        _check_keys(
            tool,
            frozenset({"type", "name", "description", "input_schema", "cache_control", "strict"}),
            path,
        )
        if not _TOOL_NAME.match(name):
            _fail(f"{path}.name: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'")
        if name in names:
            _fail(f"tools: Tool names must be unique (duplicate: {name})")
        names.add(name)
        if "description" in tool and not isinstance(tool["description"], str):
            _fail(f"{path}.description: Input should be a valid string")
        if "input_schema" not in tool:
            _fail(f"{path}.input_schema: Field required")
        schema = _require_dict(tool["input_schema"], f"{path}.input_schema")
        if schema.get("type") != "object":
            _fail(f"{path}.input_schema.type: Input should be 'object'")
    return names


def _validate_tool_choice(choice: Any, tool_names: set[str] | None) -> str:
    choice = _require_dict(choice, "tool_choice")
    kind = choice.get("type")
    if kind not in ("auto", "any", "tool", "none"):
        _fail("tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'")
    allowed = {"type", "disable_parallel_tool_use"} if kind != "none" else {"type"}
    if kind == "tool":
        allowed.add("name")
    _check_keys(choice, frozenset(allowed), f"tool_choice.{kind}")
    if "disable_parallel_tool_use" in choice and not isinstance(
        choice["disable_parallel_tool_use"], bool
    ):
        _fail(f"tool_choice.{kind}.disable_parallel_tool_use: Input should be a valid boolean")
    if kind in ("any", "tool") and not tool_names:
        _fail(f"tool_choice: tool_choice.type `{kind}` requires `tools` to be provided")
    if kind == "tool":
        name = _require_str(choice, "name", "tool_choice.tool")
        if name not in (tool_names or set()):
            _fail(f"tool_choice.tool.name: Tool '{name}' not found in provided tools")
    return kind


def _validate_thinking(thinking: Any, max_tokens: int, rules: dict[str, bool]) -> bool:
    """Returns whether thinking is on."""
    thinking = _require_dict(thinking, "thinking")
    kind = thinking.get("type")
    if kind == "disabled":
        _check_keys(thinking, frozenset({"type"}), "thinking.disabled")
        return False
    if kind == "enabled":
        _check_keys(thinking, frozenset({"type", "budget_tokens", "display"}), "thinking.enabled")
        if "budget_tokens" not in thinking:
            _fail("thinking.enabled.budget_tokens: Field required")
        budget = thinking["budget_tokens"]
        if not _is_int(budget):
            _fail("thinking.enabled.budget_tokens: Input should be a valid integer")
        if budget < 1024:
            _fail("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
        if budget >= max_tokens:
            _fail("max_tokens: must be greater than thinking.budget_tokens")
        if rules["adaptive_only"]:
            _fail(
                'thinking.type: "enabled" is not supported for this model. Use '
                '"thinking.type": "adaptive" instead.'
            )
    elif kind == "adaptive":
        _check_keys(thinking, frozenset({"type", "display"}), "thinking.adaptive")
        if rules["enabled_only"]:
            _fail('thinking.type: "adaptive" is not supported for this model')
    else:
        _fail("thinking.type: Input should be 'enabled', 'adaptive' or 'disabled'")
    display = thinking.get("display")
    if display is not None and display not in ("summarized", "omitted"):
        _fail(f"thinking.{kind}.display: Input should be 'summarized' or 'omitted'")
    return True


def _validate_metadata(metadata: Any) -> None:
    metadata = _require_dict(metadata, "metadata")
    _check_keys(metadata, frozenset({"user_id"}), "metadata")
    user_id = metadata.get("user_id")
    if user_id is not None and not isinstance(user_id, str):
        _fail("metadata.user_id: Input should be a valid string")


def validate_messages_request(
    body: dict[str, Any],
    *,
    streaming: bool,
    model: str | None = None,
    accept_output_config: bool = False,
) -> None:
    """Raise ValidationFailed unless Vertex would accept `body` for a messages call.

    `streaming` says which verb was called (`:streamRawPredict` → True); `model` (the id from
    the URL) turns on the model-family rules; `accept_output_config` admits `output_config`,
    which Vertex has rejected in the past as an extra input.
    """
    if not isinstance(body, dict):
        _fail("Input should be a valid dictionary")
    allowed = _TOP_LEVEL | {"output_config"} if accept_output_config else _TOP_LEVEL
    for key in body:
        if key not in allowed:
            _fail(f"{key}: Extra inputs are not permitted")
    if "anthropic_version" not in body:
        _fail("anthropic_version: Field required")
    if body["anthropic_version"] != VERTEX_ANTHROPIC_VERSION:
        _fail(f"anthropic_version: Input should be '{VERTEX_ANTHROPIC_VERSION}'")
    if "max_tokens" not in body:
        _fail("max_tokens: Field required")
    max_tokens = body["max_tokens"]
    if not _is_int(max_tokens):
        _fail("max_tokens: Input should be a valid integer")
    if max_tokens < 1:
        _fail("max_tokens: Input should be greater than or equal to 1")
    if "messages" not in body:
        _fail("messages: Field required")
    _validate_messages(body["messages"])

    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        _fail("stream: Input should be a valid boolean")
    if stream and not streaming:
        _fail("stream: `stream: true` is only valid with :streamRawPredict")
    if streaming and not stream:
        _fail("stream: :streamRawPredict requires `stream: true` in the body")

    if "system" in body:
        _validate_system(body["system"])
    if "stop_sequences" in body:
        _validate_stop_sequences(body["stop_sequences"])
    for key in ("temperature", "top_p"):
        if key in body:
            _validate_unit_interval(body, key)
    if "top_k" in body:
        if not _is_int(body["top_k"]):
            _fail("top_k: Input should be a valid integer")
        if body["top_k"] < 0:
            _fail("top_k: Input should be greater than or equal to 0")
    if "metadata" in body:
        _validate_metadata(body["metadata"])

    rules = model_rules(model)
    if rules["no_temperature_with_top_p"] and "temperature" in body and "top_p" in body:
        _fail(
            "`temperature` and `top_p` cannot both be specified for this model. Please use only one."
        )

    tool_names = _validate_tools(body["tools"]) if "tools" in body else None
    choice = (
        _validate_tool_choice(body["tool_choice"], tool_names) if "tool_choice" in body else None
    )
    thinking_on = (
        _validate_thinking(body["thinking"], max_tokens, rules) if "thinking" in body else False
    )
    if thinking_on:
        if choice in ("any", "tool"):
            _fail("Thinking may not be enabled when tool_choice forces tool use.")
        _validate_thinking_history(body["messages"])
    if "output_config" in body:
        _require_dict(body["output_config"], "output_config")


_COUNT_TOKENS_FIELDS = frozenset(
    {"anthropic_version", "model", "messages", "system", "tools", "tool_choice", "thinking"}
)


def validate_count_tokens_request(body: dict[str, Any]) -> None:
    """Validate a `count-tokens:rawPredict` body (model in the body, no max_tokens)."""
    if not isinstance(body, dict):
        _fail("Input should be a valid dictionary")
    for key in body:
        if key not in _COUNT_TOKENS_FIELDS:
            _fail(f"{key}: Extra inputs are not permitted")
    if "anthropic_version" in body and body["anthropic_version"] != VERTEX_ANTHROPIC_VERSION:
        _fail(f"anthropic_version: Input should be '{VERTEX_ANTHROPIC_VERSION}'")
    if "model" not in body:
        _fail("model: Field required")
    if not isinstance(body["model"], str):
        _fail("model: Input should be a valid string")
    if "messages" not in body:
        _fail("messages: Field required")
    _validate_messages(body["messages"])
    if "system" in body:
        _validate_system(body["system"])
    tool_names = _validate_tools(body["tools"]) if "tools" in body else None
    if "tool_choice" in body:
        _validate_tool_choice(body["tool_choice"], tool_names)


# Betas this emulator accepts in the `anthropic-beta` header. Real Vertex accepts a changing set
# and rejects the rest with a 400; the list here only has to make that rule testable.
KNOWN_BETAS = frozenset(
    {
        "context-1m-2025-08-07",
        "interleaved-thinking-2025-05-14",
        "fine-grained-tool-streaming-2025-05-14",
        "token-efficient-tools-2025-02-19",
        "output-128k-2025-02-19",
    }
)


def validate_beta_header(value: str) -> None:
    """Reject unknown `anthropic-beta` values the way Vertex does."""
    unknown = [v.strip() for v in value.split(",") if v.strip() and v.strip() not in KNOWN_BETAS]
    if unknown:
        raise ValidationFailed(
            f"Unexpected value(s) `{', '.join(unknown)}` for the `anthropic-beta` header. "
            "Please consult our documentation at docs.anthropic.com or try again without the header."
        )
