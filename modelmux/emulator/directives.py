"""Prompt directives (`[mm:NAME args]`) that script the emulator's reply.

Directives are read from the text of the last user message only, so a conversation's history
never re-triggers them (a tool loop ends with a plain echo). Parsing is pure and bracket-aware:
JSON arguments may contain `]` inside strings and nested brackets balance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = ["DirectiveError", "Script", "last_user_text", "parse_script", "split_directives"]

OPEN = "[mm:"

STOP_REASONS = frozenset(
    {
        "end_turn",
        "max_tokens",
        "stop_sequence",
        "tool_use",
        "refusal",
        "pause_turn",
        "model_context_window_exceeded",
    }
)
_USAGE_KEYS = {
    "input": "input_tokens",
    "output": "output_tokens",
    "cache_read": "cache_read_input_tokens",
    "cache_creation": "cache_creation_input_tokens",
}
_NAME = re.compile(r"[a-z][a-z0-9-]*")
# Transport/framing faults (docs/emulator.md, "Fault modes"): directive → Script flag.
_FAULT_FLAGS = {
    "reset-before-headers": "reset_before_headers",
    "reset-midstream": "reset_midstream",
    "malformed-sse": "malformed_sse",
    "malformed-json": "malformed_json",
}


class DirectiveError(ValueError):
    """A directive the emulator cannot obey (typo, bad JSON); answered with a 400."""


@dataclass
class Script:
    """What the prompt asked for. `parts` keeps text/long/tool directives in prompt order."""

    parts: list[tuple[str, Any]] = field(default_factory=list)
    thinking: list[str] = field(default_factory=list)
    redacted_thinking: bool = False
    json_input: dict[str, Any] | None = None
    stop_reason: str | None = None
    stop_sequence: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    error: tuple[str, int, str | None] | None = None  # (shape, status, google status name)
    retry_after: str | None = None
    fail_once: int | None = None
    delay_ms: float = 0.0
    slow_ms: float = 0.0
    midstream_error: str | None = None
    stall: bool = False
    truncate: bool = False
    reset_before_headers: bool = False
    reset_midstream: bool = False
    malformed_sse: bool = False
    malformed_json: bool = False
    echo_request: bool = False
    remaining_text: str = ""


def _scan_end(text: str, start: int) -> int:
    """Index just past the `]` closing the directive whose body starts at `start`."""
    depth_sq, depth_curly, in_string, escaped = 1, 0, False, False
    for i in range(start, len(text)):
        ch = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            continue
        if ch == '"' and depth_curly > 0:
            in_string = True
        elif ch == "{":
            depth_curly += 1
        elif ch == "}":
            depth_curly = max(0, depth_curly - 1)
        elif ch == "[":
            depth_sq += 1
        elif ch == "]":
            depth_sq -= 1
            if depth_sq == 0:
                return i + 1
    raise DirectiveError(f"unterminated directive starting with {text[start - 4 : start + 20]!r}")


def split_directives(text: str) -> tuple[list[tuple[str, str]], str]:
    """Return ([(name, args)…], text with the directives removed)."""
    found: list[tuple[str, str]] = []
    kept: list[str] = []
    pos = 0
    while True:
        at = text.find(OPEN, pos)
        if at < 0:
            kept.append(text[pos:])
            break
        kept.append(text[pos:at])
        body_start = at + len(OPEN)
        end = _scan_end(text, body_start)
        inner = text[body_start : end - 1]
        name, _, args = inner.partition(" ")
        if not _NAME.fullmatch(name):
            raise DirectiveError(f"bad directive name in [mm:{inner}]")
        found.append((name, args.strip()))
        pos = end
    return found, "".join(kept)


def last_user_text(messages: list[dict[str, Any]]) -> str:
    """Text of the last user message; tool_result text if it has no text of its own."""
    for message in reversed(messages):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        texts: list[str] = []
        results: list[str] = []
        for block in content or []:
            if block.get("type") == "text":
                texts.append(block.get("text", ""))
            elif block.get("type") == "tool_result":
                inner = block.get("content")
                if isinstance(inner, str):
                    results.append(inner)
                elif isinstance(inner, list):
                    results.extend(b.get("text", "") for b in inner if b.get("type") == "text")
        return "\n".join(texts or results)
    return ""


def _int(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise DirectiveError(f"[mm:{name}] needs an integer, got {value!r}") from None


def _number(name: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise DirectiveError(f"[mm:{name}] needs a number, got {value!r}") from None


def _json_object(name: str, value: str) -> dict[str, Any]:
    if not value:
        return {}
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise DirectiveError(f"[mm:{name}] has invalid JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise DirectiveError(f"[mm:{name}] needs a JSON object")
    return parsed


def _status(name: str, args: list[str]) -> int:
    if not args:
        raise DirectiveError(f"[mm:{name}] needs an HTTP status")
    status = _int(name, args[0])
    if not 400 <= status <= 599:
        raise DirectiveError(f"[mm:{name}] status must be 400-599")
    return status


def _apply(script: Script, name: str, args: str) -> None:
    words = args.split()
    if name == "text":
        if not args:
            raise DirectiveError("[mm:text] needs some text")
        script.parts.append(("text", args))
    elif name == "long":
        script.parts.append(("long", max(1, _int(name, args))))
    elif name == "tool":
        tool_name, _, raw = args.partition(" ")
        if not tool_name:
            raise DirectiveError("[mm:tool] needs a tool name")
        script.parts.append(("tool", (tool_name, _json_object(name, raw.strip()))))
    elif name == "json":
        script.json_input = _json_object(name, args)
    elif name == "thinking":
        script.thinking.append(args or "Let me think about this.")
    elif name == "redacted-thinking":
        script.redacted_thinking = True
    elif name == "stop":
        if not words or words[0] not in STOP_REASONS:
            raise DirectiveError(f"[mm:stop] reason must be one of {sorted(STOP_REASONS)}")
        script.stop_reason = words[0]
        if len(words) > 1:
            script.stop_sequence = args.split(None, 1)[1]
    elif name == "usage":
        for word in words:
            key, sep, value = word.partition("=")
            if not sep or key not in _USAGE_KEYS:
                raise DirectiveError(f"[mm:usage] takes {'/'.join(_USAGE_KEYS)}=N, got {word!r}")
            script.usage[_USAGE_KEYS[key]] = _int(name, value)
    elif name == "error":
        script.error = ("anthropic", _status(name, words), None)
    elif name in ("google-error", "google-error-array"):
        shape = "google-array" if name == "google-error-array" else "google"
        script.error = (shape, _status(name, words), words[1] if len(words) > 1 else None)
    elif name == "retry-after":
        if not words:
            raise DirectiveError("[mm:retry-after] needs seconds")
        script.retry_after = words[0]
    elif name == "fail-once":
        script.fail_once = _status(name, words)
    elif name == "delay":
        script.delay_ms = _number(name, args)
    elif name == "slow":
        script.slow_ms = _number(name, args)
    elif name == "midstream-error":
        script.midstream_error = words[0] if words else "overloaded_error"
    elif name == "stall":
        script.stall = True
    elif name == "truncate":
        script.truncate = True
    elif name == "echo-request":
        script.echo_request = True
    elif name in _FAULT_FLAGS:
        setattr(script, _FAULT_FLAGS[name], True)
    else:
        raise DirectiveError(f"unknown directive [mm:{name}]")


def parse_script(messages: list[dict[str, Any]]) -> Script:
    """Build the Script for a request from its last user message."""
    found, rest = split_directives(last_user_text(messages))
    script = Script(remaining_text=" ".join(rest.split()))
    for name, args in found:
        _apply(script, name, args)
    return script
