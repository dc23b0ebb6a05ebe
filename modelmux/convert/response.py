"""Anthropic Messages response → OpenAI `chat.completion` (pure)."""

from __future__ import annotations

import secrets
import time
from typing import Any

import orjson

from modelmux.convert.request import ConvertedRequest, JsonMode

FINISH_REASONS: dict[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
_LENGTH = ("max_tokens", "model_context_window_exceeded")


def new_completion_id() -> str:
    """`chatcmpl-` + 24 random URL-safe characters (144 bits)."""
    return "chatcmpl-" + secrets.token_urlsafe(18)


def finish_reason(stop_reason: object, has_tool_calls: bool) -> str:
    """Total map: every input yields one of OpenAI's literals."""
    if stop_reason in _LENGTH:
        return "length"
    if has_tool_calls:
        return "tool_calls"
    fr = FINISH_REASONS.get(stop_reason) if isinstance(stop_reason, str) else None
    if fr == "tool_calls":  # tool_use without a client-visible tool call (JSON mode)
        return "stop"
    return fr or "stop"


def _int(v: object) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def openai_usage(usage: dict | None) -> dict[str, Any]:
    u = usage or {}
    inp, out = _int(u.get("input_tokens")), _int(u.get("output_tokens"))
    cw, cr = _int(u.get("cache_creation_input_tokens")), _int(u.get("cache_read_input_tokens"))
    prompt = inp + cw + cr
    return {
        "prompt_tokens": prompt,
        "completion_tokens": out,
        "total_tokens": prompt + out,
        "prompt_tokens_details": {"cached_tokens": cr, "audio_tokens": 0},
        "cache_creation_input_tokens": cw,
        "cache_read_input_tokens": cr,
    }


def dumps_args(value: object) -> str:
    """Compact JSON, non-ASCII kept as is."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # integers beyond 64 bits: the stdlib copes
        import json

        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def json_answer(mode: JsonMode, tool_input: object) -> str:
    if mode.wrap_key is not None and isinstance(tool_input, dict) and mode.wrap_key in tool_input:
        return dumps_args(tool_input[mode.wrap_key])
    return dumps_args(tool_input)


def to_openai(
    message: dict,
    req: ConvertedRequest,
    *,
    completion_id: str | None = None,
    created: int | None = None,
) -> dict:
    jm = req.json_mode
    json_tool = jm.tool_name if jm is not None else None
    texts: list[str] = []
    thoughts: list[str] = []
    tool_calls: list[dict] = []
    answer: str | None = None
    for block in message.get("content") or ():
        if not isinstance(block, dict):
            continue
        btype = block.get("type")
        if btype == "text":
            text = block.get("text")
            if isinstance(text, str):
                texts.append(text)
        elif btype == "tool_use":
            if json_tool is not None and block.get("name") == json_tool:
                if answer is None and jm is not None:
                    answer = json_answer(jm, block.get("input") or {})
                continue
            tool_calls.append(
                {
                    "id": block.get("id"),
                    "type": "function",
                    "function": {
                        "name": block.get("name"),
                        "arguments": dumps_args(block.get("input") or {}),
                    },
                }
            )
        elif btype == "thinking":
            t = block.get("thinking")
            if isinstance(t, str):
                thoughts.append(t)
    if answer is not None:
        content: str | None = answer  # the JSON answer replaces any preamble text
    else:
        content = "".join(texts) if texts else None
    if content == "" and tool_calls:
        content = None
    msg: dict[str, Any] = {
        "role": "assistant",
        "content": content if (content is not None or tool_calls) else "",
        "refusal": None,
        "annotations": [],
    }
    if tool_calls:
        msg["tool_calls"] = tool_calls
    if req.reasoning_content and thoughts:
        msg["reasoning_content"] = "".join(thoughts)
    return {
        "id": completion_id or new_completion_id(),
        "object": "chat.completion",
        "created": int(time.time()) if created is None else created,
        "model": req.client_model,
        "choices": [
            {
                "index": 0,
                "message": msg,
                "logprobs": None,
                "finish_reason": finish_reason(message.get("stop_reason"), bool(tool_calls)),
            }
        ],
        "usage": openai_usage(message.get("usage")),
        "service_tier": "default",
        "system_fingerprint": None,
    }
