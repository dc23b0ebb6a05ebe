"""OpenAI `messages` → Anthropic `system` + alternating user/assistant turns.

`MessageBuilder` takes the client's messages one at a time: system/developer text goes to
`system`; user, assistant, `tool` and legacy `function` messages become turns, consecutive
same-role messages merging into one turn (Claude wants strict alternation). `build()` then
fixes up the ends (prefill whitespace, a leading assistant turn), checks every tool call is
answered in the next turn, and makes tool ids unique and `^[a-zA-Z0-9_-]+$`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from modelmux.convert.content import (
    ASSISTANT_PARTS,
    NOT_HERE,
    RESULT_PARTS,
    SYSTEM_PARTS,
    UNKNOWN_PART,
    USER_PARTS,
    content_blocks,
)
from modelmux.convert.remote import RemoteImage
from modelmux.convert.validators import bad
from modelmux.errors import InvalidRequest, UnsupportedFeature

FIRST_USER_PLACEHOLDER = "."

_TOOL_ID_OK = re.compile(r"^[a-zA-Z0-9_-]+$")
_TOOL_ID_BAD = re.compile(r"[^a-zA-Z0-9_-]")


def sanitize_tool_id(tool_id: str) -> str:
    """Map any id onto `^[a-zA-Z0-9_-]+$`, deterministically; changed ids get a short hash so
    distinct inputs stay distinct. Valid ids are returned unchanged."""
    if _TOOL_ID_OK.match(tool_id):
        return tool_id
    digest = hashlib.sha256(tool_id.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    base = _TOOL_ID_BAD.sub("_", tool_id)[:48]
    return f"{base}_{digest}" if base else f"call_{digest}"


@dataclass(slots=True)
class _Turn:
    role: str  # "user" | "assistant"
    index: int  # first client message index
    results: list[dict] = field(default_factory=list)  # tool_result blocks (user turns)
    blocks: list[dict] = field(default_factory=list)


def _placeholder_user_turn() -> _Turn:
    # a minimal user turn where Claude needs one and the client sent none
    return _Turn("user", 0, blocks=[{"type": "text", "text": FIRST_USER_PLACEHOLDER}])


class MessageBuilder:
    def __init__(self, req_remote: list[RemoteImage]) -> None:
        self.system: list[dict] = []
        self.turns: list[_Turn] = []
        self.ends_with_empty_user = False  # the client's last message was a user one, empty
        self.remote = req_remote
        self.pending_functions: list[tuple[str, str]] = []  # legacy (name, synthesised id)
        self.tool_names_used: list[str] = []

    # -- helpers ------------------------------------------------------------------------------

    def _turn(self, role: str, index: int) -> _Turn:
        if self.turns and self.turns[-1].role == role:
            return self.turns[-1]
        t = _Turn(role, index)
        self.turns.append(t)
        return t

    def _tool_id(self, raw: object, param: str) -> str:
        if not isinstance(raw, str) or not raw:
            raise bad(param, "expected a non-empty string")
        return sanitize_tool_id(raw)

    def _parts(
        self, content: object, i: int, param: str, *, allowed: frozenset[str], where: str
    ) -> list[dict]:
        return content_blocks(content, i, param, allowed=allowed, where=where, remote=self.remote)

    # -- one client message -------------------------------------------------------------------

    def add(self, i: int, m: object) -> None:
        param = f"messages[{i}]"
        if not isinstance(m, dict):
            raise bad(param, "expected an object")
        self.ends_with_empty_user = False
        role = m.get("role")
        content = m.get("content")
        if role in ("system", "developer"):
            if content is None:
                raise bad(f"{param}.content", "required")
            self.system.extend(
                self._parts(content, i, f"{param}.content", allowed=SYSTEM_PARTS, where=NOT_HERE)
            )
        elif role == "user":
            if content is None:
                raise bad(f"{param}.content", "required")
            blocks = self._parts(
                content, i, f"{param}.content", allowed=USER_PARTS, where=UNKNOWN_PART
            )
            self.ends_with_empty_user = not blocks
            if blocks:
                self._turn("user", i).blocks.extend(blocks)
        elif role == "assistant":
            self._assistant(m, i, param)
        elif role == "tool":
            sid = self._tool_id(m.get("tool_call_id"), f"{param}.tool_call_id")
            self._result(sid, content, i, f"{param}.content")
        elif role == "function":
            # legacy: answers the latest unanswered function_call of that name
            name = m.get("name")
            if not isinstance(name, str) or not name:
                raise bad(f"{param}.name", "required for role 'function'")
            for k in range(len(self.pending_functions) - 1, -1, -1):
                if self.pending_functions[k][0] == name:
                    sid = self.pending_functions.pop(k)[1]
                    break
            else:
                raise bad(param, f"no preceding function_call named {name!r}")
            self._result(sid, content, i, f"{param}.content")
        else:
            raise bad(
                f"{param}.role",
                f"{role!r} is not one of 'system', 'developer', 'user', 'assistant', 'tool', 'function'",
            )

    def _assistant(self, m: dict, i: int, param: str) -> None:
        blocks = self._parts(
            m.get("content"), i, f"{param}.content", allowed=ASSISTANT_PARTS, where=NOT_HERE
        )
        calls = m.get("tool_calls")
        if calls is not None:
            if not isinstance(calls, list):
                raise bad(f"{param}.tool_calls", "expected an array")
            for k, call in enumerate(calls):
                cp = f"{param}.tool_calls[{k}]"
                if not isinstance(call, dict):
                    raise bad(cp, "expected an object")
                if call.get("type", "function") != "function":
                    raise UnsupportedFeature(
                        f"Invalid '{cp}.type': only function tool calls are supported",
                        param=f"{cp}.type",
                    )
                fn = call.get("function")
                if not isinstance(fn, dict):
                    raise bad(f"{cp}.function", "expected an object")
                sid = self._tool_id(call.get("id"), f"{cp}.id")
                blocks.append(self._tool_use(sid, fn, f"{cp}.function"))
        fc = m.get("function_call")
        if fc is not None:
            if not isinstance(fc, dict):
                raise bad(f"{param}.function_call", "expected an object")
            sid = f"call_fn_{i}"  # legacy calls carry no id; the function reply finds it by name
            block = self._tool_use(sid, fc, f"{param}.function_call")
            self.pending_functions.append((block["name"], sid))
            blocks.append(block)
        if blocks:
            self._turn("assistant", i).blocks.extend(blocks)

    def _tool_use(self, sid: str, fn: dict, p: str) -> dict:
        name = fn.get("name")
        if not isinstance(name, str) or not name:
            raise bad(f"{p}.name", "expected a non-empty string")
        args = fn.get("arguments")
        if args is None or (isinstance(args, str) and not args.strip()):
            parsed: object = {}
        elif isinstance(args, dict):
            parsed = args
        elif isinstance(args, str):
            try:
                parsed = orjson.loads(args)
            except orjson.JSONDecodeError as exc:
                raise InvalidRequest(
                    f"Invalid '{p}.arguments': not valid JSON ({exc})",
                    param=f"{p}.arguments",
                ) from None
            if not isinstance(parsed, dict):
                raise bad(f"{p}.arguments", "must encode a JSON object")
        else:
            raise bad(f"{p}.arguments", "expected a JSON string")
        self.tool_names_used.append(name)
        return {"type": "tool_use", "id": sid, "name": name, "input": parsed}

    def _result(self, sid: str, content: object, i: int, param: str) -> None:
        block: dict[str, Any] = {"type": "tool_result", "tool_use_id": sid}
        if isinstance(content, str):
            if content:
                block["content"] = content
        elif isinstance(content, list):
            parts = self._parts(content, i, param, allowed=RESULT_PARTS, where=NOT_HERE)
            if parts:
                block["content"] = parts
        elif content is not None:
            raise bad(param, "expected a string or an array of content parts")
        self._turn("user", i).results.append(block)

    # -- finish -------------------------------------------------------------------------------

    def build(self) -> list[dict]:
        turns = self.turns
        # The final assistant turn is a prefill: Claude rejects trailing whitespace there.
        if turns and turns[-1].role == "assistant":
            last = turns[-1].blocks
            if last and last[-1]["type"] == "text":
                stripped = last[-1]["text"].rstrip()
                if stripped:
                    last[-1] = {**last[-1], "text": stripped}
                else:
                    last.pop()
            if not last:
                turns.pop()
        if self.ends_with_empty_user and turns and turns[-1].role == "assistant":
            # The client's last (empty) user message still means "your turn": without it the
            # assistant reply before it would be a prefill that Claude continues.
            turns.append(_placeholder_user_turn())
        if turns and turns[0].role == "assistant":
            # Claude needs a user turn first; OpenAI histories may open with an assistant greeting
            turns.insert(0, _placeholder_user_turn())
        _check_tool_pairs(turns)
        return [
            {"role": t.role, "content": t.results + t.blocks}
            for t in turns
            if t.results or t.blocks
        ]


def _check_tool_pairs(turns: list[_Turn]) -> None:
    """Every tool call answered in the next turn and nothing else answered, as OpenAI
    requires. Ids reused in a later turn (clients that number calls `call_0` every turn) are
    renamed there, deterministically and on both sides, since Claude wants them unique."""
    used: set[str] = set()
    prev_ids: list[str] = []
    renames: dict[str, str] = {}
    prev_index = 0
    for t in turns:
        if t.role == "assistant":
            if prev_ids:
                raise _missing_results(prev_ids, prev_index)
            renames = {}
            for k, b in enumerate(t.blocks):
                if b["type"] != "tool_use":
                    continue
                if b["id"] in renames:
                    raise bad(f"messages[{t.index}].tool_calls", "duplicate tool call ids")
                new = b["id"]
                n = 1
                while new in used:
                    new, n = f"{b['id']}_{n}", n + 1
                renames[b["id"]] = new
                used.add(new)
                if new != b["id"]:
                    t.blocks[k] = {**b, "id": new}
            prev_ids = list(renames)
            prev_index = t.index
            continue
        got = [b["tool_use_id"] for b in t.results]
        for rid in got:
            if rid not in prev_ids:
                raise bad(
                    "messages",
                    f"tool message for id {rid!r} (near messages[{t.index}]) does not answer a "
                    "tool call of the preceding assistant message",
                )
        if len(set(got)) != len(got):
            raise bad("messages", f"duplicate tool results near messages[{t.index}]")
        missing = [x for x in prev_ids if x not in got]
        if missing:
            raise _missing_results(missing, prev_index)
        t.results = [
            r
            if renames[r["tool_use_id"]] == r["tool_use_id"]
            else {**r, "tool_use_id": renames[r["tool_use_id"]]}
            for r in t.results
        ]
        prev_ids = []
    if prev_ids:
        raise _missing_results(prev_ids, prev_index)


def _missing_results(ids: list[str], index: int) -> InvalidRequest:
    return InvalidRequest(
        f"An assistant message with 'tool_calls' must be followed by tool messages responding to "
        f"each 'tool_call_id'. Missing: {', '.join(ids)} (messages[{index}])",
        param="messages",
    )
