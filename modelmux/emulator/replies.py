"""Turn a validated request and its Script into an Anthropic Message, or into SSE events.

Pure (no aiohttp): the same Reply renders as one JSON object for `:rawPredict` and as Vertex's
named-event stream for `:streamRawPredict`, so both paths always say the same thing.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import math
import re
from dataclasses import dataclass
from typing import Any

import orjson

from modelmux import sse
from modelmux.emulator.directives import Script
from modelmux.emulator.errors import new_id

__all__ = [
    "FAST_TEXT",
    "Reply",
    "build_reply",
    "count_tokens",
    "message_object",
    "response_model",
    "stream_events",
]

FAST_TEXT = "Hello from the modelmux emulator."
_WORDS = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
    "mike",
    "november",
    "oscar",
    "papa",
    "quebec",
    "romeo",
    "sierra",
    "tango",
    "uniform",
    "victor",
    "whiskey",
    "xray",
    "yankee",
    "zulu",
]
_SKIP_KEYS = frozenset(
    {
        "data",
        "signature",
        "anthropic_version",
        "model",
        "stream",
        "type",
        "role",
        "id",
        "tool_use_id",
    }
)
_CHUNK = re.compile(r"\S+\s*")


@dataclass
class Reply:
    """The assistant turn the emulator will send."""

    model: str
    content: list[dict[str, Any]]
    stop_reason: str
    stop_sequence: str | None
    usage: dict[str, Any]
    message_id: str = ""

    def __post_init__(self) -> None:
        if not self.message_id:
            self.message_id = new_id("msg_vrtx_")


def response_model(model: str) -> str:
    """Vertex answers with the hyphen form: `claude-x@20250929` → `claude-x-20250929`."""
    return model.replace("@", "-")


def _estimate(text_len: int) -> int:
    return max(1, math.ceil(text_len / 4))


def count_tokens(body: Any) -> int:
    """A rough, deterministic token count (≈4 characters a token; images a flat 100)."""
    total = 0
    extra = 0

    def walk(value: Any, key: str | None) -> None:
        nonlocal total, extra
        if isinstance(value, str):
            if key not in _SKIP_KEYS:
                total += len(value)
        elif isinstance(value, dict):
            if value.get("type") in ("image", "document"):
                extra += 100
            for k, v in value.items():
                if k in ("input", "input_schema"):
                    total += len(orjson.dumps(v))
                else:
                    walk(v, k)
        elif isinstance(value, list):
            for item in value:
                walk(item, key)

    walk(body, None)
    return _estimate(total) + extra


def _long_text(words: int) -> str:
    out = []
    for i in range(words):
        word = _WORDS[(i * 7) % len(_WORDS)]
        out.append(word.capitalize() if i % 12 == 0 else word)
    return " ".join(out) + "."


def signature_for(thinking: str) -> str:
    """A deterministic stand-in for Anthropic's opaque thinking signature."""
    digest = hashlib.sha256(b"modelmux-emulator:" + thinking.encode()).digest()
    return base64.b64encode(b"EmuSig" + digest * 3).decode()


def _forced_tool(body: dict[str, Any]) -> str | None:
    choice = body.get("tool_choice") or {}
    if choice.get("type") == "tool":
        return choice.get("name")
    if choice.get("type") == "any" and body.get("tools"):
        return body["tools"][0].get("name")
    return None


def _apply_stop_sequences(
    content: list[dict[str, Any]], stops: list[str]
) -> tuple[list[dict[str, Any]], str | None]:
    """Cut the reply at the first stop sequence a text block produces, as the model would."""
    for i, block in enumerate(content):
        if block["type"] != "text":
            continue
        hits = [(block["text"].find(s), s) for s in stops if s in block["text"]]
        if hits:
            at, seq = min(hits)
            cut = [*content[:i]]
            if at > 0:
                cut.append({"type": "text", "text": block["text"][:at]})
            return cut, seq
    return content, None


def build_reply(body: dict[str, Any], script: Script, model: str) -> Reply:
    """Decide content, stop_reason and usage for a request (directives already parsed)."""
    content: list[dict[str, Any]] = []
    for text in script.thinking:
        content.append({"type": "thinking", "thinking": text, "signature": signature_for(text)})
    if script.redacted_thinking:
        data = base64.b64encode(b"EmuRedacted" + hashlib.sha256(b"r").digest()).decode()
        content.append({"type": "redacted_thinking", "data": data})

    max_tokens = body.get("max_tokens") or 1
    capped = False
    tools: list[dict[str, Any]] = []
    for kind, value in script.parts:
        if kind == "text":
            content.append({"type": "text", "text": value})
        elif kind == "long":
            words = min(value, max_tokens)
            capped = capped or words < value
            content.append({"type": "text", "text": _long_text(words)})
        else:
            name, tool_input = value
            tools.append(
                {"type": "tool_use", "id": new_id("toolu_vrtx_"), "name": name, "input": tool_input}
            )
    forced = _forced_tool(body)
    if forced and not any(t["name"] == forced for t in tools):
        tools.append(
            {
                "type": "tool_use",
                "id": new_id("toolu_vrtx_"),
                "name": forced,
                "input": script.json_input if script.json_input is not None else {},
            }
        )
    if (body.get("tool_choice") or {}).get("disable_parallel_tool_use"):
        tools = tools[:1]
    if script.echo_request:
        content.append({"type": "text", "text": orjson.dumps(body).decode()})
    elif not script.parts and not forced:
        text = script.remaining_text
        content.append({"type": "text", "text": f"Echo: {text}" if text else "OK"})
    content.extend(tools)

    stop_sequence = None
    if script.stop_reason:
        stop_reason = script.stop_reason
        if stop_reason == "stop_sequence":
            stops = body.get("stop_sequences") or []
            stop_sequence = script.stop_sequence or (stops[0] if stops else "STOP")
    else:
        if body.get("stop_sequences") and not script.echo_request:
            content, stop_sequence = _apply_stop_sequences(content, body["stop_sequences"])
        if stop_sequence is not None:
            stop_reason = "stop_sequence"
        elif capped:
            stop_reason = "max_tokens"
        elif any(b["type"] == "tool_use" for b in content):
            stop_reason = "tool_use"
        else:
            stop_reason = "end_turn"

    output = sum(
        len(b.get("text") or b.get("thinking") or "")
        + (len(orjson.dumps(b["input"])) if "input" in b else 0)
        for b in content
    )
    output_tokens = max_tokens if capped else _estimate(output)
    usage = {
        "input_tokens": count_tokens({k: body.get(k) for k in ("system", "messages", "tools")}),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output_tokens,
    }
    usage.update(script.usage)
    return Reply(response_model(model), content, stop_reason, stop_sequence, _full_usage(usage))


def fast_reply(model: str) -> Reply:
    """The benchmark-mode answer: fixed text, no per-request computation."""
    usage = {
        "input_tokens": 10,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 8,
    }
    return Reply(
        response_model(model),
        [{"type": "text", "text": FAST_TEXT}],
        "end_turn",
        None,
        _full_usage(usage),
    )


def _full_usage(usage: dict[str, int]) -> dict[str, Any]:
    return {
        "input_tokens": usage["input_tokens"],
        "cache_creation_input_tokens": usage["cache_creation_input_tokens"],
        "cache_read_input_tokens": usage["cache_read_input_tokens"],
        "cache_creation": {
            "ephemeral_5m_input_tokens": usage["cache_creation_input_tokens"],
            "ephemeral_1h_input_tokens": 0,
        },
        "output_tokens": usage["output_tokens"],
        "service_tier": "standard",
    }


def message_object(reply: Reply) -> dict[str, Any]:
    """The non-streaming response body."""
    return {
        "id": reply.message_id,
        "type": "message",
        "role": "assistant",
        "model": reply.model,
        "content": reply.content,
        "stop_reason": reply.stop_reason,
        "stop_sequence": reply.stop_sequence,
        "usage": reply.usage,
    }


# ---------------------------------------------------------------------------------------------
# Streaming


def text_chunks(text: str) -> list[str]:
    """Split text in pieces of two words (at least two pieces when there are ≥2 characters)."""
    words = _CHUNK.findall(text)
    lead = text[: len(text) - len(text.lstrip())]
    if lead and words:
        words[0] = lead + words[0]
    pieces = ["".join(words[i : i + 2]) for i in range(0, len(words), 2)]
    if "".join(pieces) != text:
        pieces = [text]
    if len(pieces) == 1 and len(text) >= 2:
        mid = len(text) // 2
        pieces = [text[:mid], text[mid:]]
    return pieces


def json_fragments(value: dict[str, Any]) -> list[str]:
    """The input JSON as Vertex streams it: `""` first, then pieces, one cut inside a string."""
    raw = orjson.dumps(value).decode()
    if raw == "{}":
        return [""]
    cuts = set(range(12, len(raw), 12))
    for match in re.finditer(r':\s*"((?:[^"\\]|\\.)*)"', raw):
        start, end = match.span(1)
        if end - start >= 2:
            cuts.add(start + (end - start) // 2)
            break
    points = [0, *sorted(c for c in cuts if 0 < c < len(raw)), len(raw)]
    return ["", *(raw[a:b] for a, b in itertools.pairwise(points))]


def _usage_delta(usage: dict[str, Any]) -> dict[str, Any]:
    return {
        "input_tokens": usage["input_tokens"],
        "cache_creation_input_tokens": usage["cache_creation_input_tokens"],
        "cache_read_input_tokens": usage["cache_read_input_tokens"],
        "output_tokens": usage["output_tokens"],
    }


def stream_events(reply: Reply) -> tuple[list[tuple[str, dict[str, Any]]], int]:
    """Vertex's event sequence for `reply`, and the index where injected faults cut in.

    The cut index sits after the second text_delta (or the last one if fewer; after `ping` if
    the reply has no text) so midstream faults always follow some content.
    """
    start_usage = {**reply.usage, "output_tokens": 1}
    start_usage.pop("service_tier", None)
    events: list[tuple[str, dict[str, Any]]] = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    **message_object(reply),
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": start_usage,
                },
            },
        ),
        ("ping", {"type": "ping"}),
    ]
    cut, text_deltas = 2, 0

    def delta(index: int, payload: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return (
            "content_block_delta",
            {"type": "content_block_delta", "index": index, "delta": payload},
        )

    for index, block in enumerate(reply.content):
        kind = block["type"]
        if kind == "text":
            start_block: dict[str, Any] = {"type": "text", "text": ""}
        elif kind == "thinking":
            start_block = {"type": "thinking", "thinking": "", "signature": ""}
        elif kind == "tool_use":
            start_block = {
                "type": "tool_use",
                "id": block["id"],
                "name": block["name"],
                "input": {},
            }
        else:
            start_block = block
        events.append(
            (
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": start_block},
            )
        )
        if kind == "text":
            for piece in text_chunks(block["text"]):
                events.append(delta(index, {"type": "text_delta", "text": piece}))
                text_deltas += 1
                if text_deltas <= 2:
                    cut = len(events)
        elif kind == "thinking":
            for piece in text_chunks(block["thinking"]):
                events.append(delta(index, {"type": "thinking_delta", "thinking": piece}))
            events.append(
                delta(index, {"type": "signature_delta", "signature": block["signature"]})
            )
        elif kind == "tool_use":
            for piece in json_fragments(block["input"]):
                events.append(delta(index, {"type": "input_json_delta", "partial_json": piece}))
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))

    events.append(
        (
            "vertex_event",
            {
                "type": "vertex_event",
                "usage": {
                    **_usage_delta(reply.usage),
                    "tiers": {"standard": reply.usage["output_tokens"]},
                },
            },
        )
    )
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": reply.stop_reason, "stop_sequence": reply.stop_sequence},
                "usage": _usage_delta(reply.usage),
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return events, cut


def encode_event(name: str, payload: dict[str, Any]) -> bytes:
    return sse.encode_event(name, orjson.dumps(payload))
