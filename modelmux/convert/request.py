"""OpenAI Chat Completions request → Anthropic Messages body for Vertex (pure, no I/O).

`to_anthropic` validates the client's body as it goes: every problem is an `InvalidRequest` whose
`param` names the offending field (`messages[2].content[0].image_url.url`), raised before any
upstream call is made.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal, TypeGuard

import orjson

from modelmux.convert.fields import REQUEST_FIELDS
from modelmux.convert.media import (
    IMAGE_TYPES,
    PDF,
    check_media,
    check_remote_url,
    parse_data_uri,
)
from modelmux.convert.models import (
    ADAPTIVE_EFFORTS,
    THINKING_BUDGETS,
    ModelFamily,
    family_for,
)
from modelmux.errors import InvalidRequest, UnsupportedFeature

ANTHROPIC_VERSION = "vertex-2023-10-16"
EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}
JSON_TOOL_NAME = "json_response"
JSON_WRAP_KEY = "value"
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")
JSON_OBJECT_INSTRUCTION = (
    "Respond with a single valid JSON object and nothing else: no text before or after it "
    "and no code fences."
)

FIRST_USER_PLACEHOLDER = "."

_TOOL_ID_OK = re.compile(r"^[a-zA-Z0-9_-]+$")
_TOOL_ID_BAD = re.compile(r"[^a-zA-Z0-9_-]")
_TOOL_NAME_OK = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@dataclass(frozen=True, slots=True)
class ConvertOptions:
    default_max_tokens: int = 8192
    reasoning_content: bool = True  # expose thinking as reasoning_content
    anthropic_version: str = ANTHROPIC_VERSION
    # send `output_config.effort` with adaptive thinking. Off by default: Vertex has rejected
    # `output_config` as an extra input (pitfall A14); turn on where it is accepted.
    output_config: bool = False


@dataclass(slots=True)
class RemoteImage:
    """An http(s) image/PDF URL the upstream layer must download, then `inline_remote(...)`.

    `allowed`: the media types this part may turn into (the sniffed bytes pick image vs
    document): an `image_url` takes images or a PDF, a `file` part only a PDF."""

    url: str
    message_index: int
    block: dict
    param: str = ""
    allowed: tuple[str, ...] = (*IMAGE_TYPES, PDF)


@dataclass(frozen=True, slots=True)
class JsonMode:
    """How a `response_format` JSON request was emulated, so the answer can be unwrapped."""

    kind: Literal["json_object", "json_schema"]
    tool_name: str | None  # None: prompt-only, text passes through
    wrap_key: str | None  # non-object root schemas are wrapped under this property
    forced: bool


@dataclass(slots=True)
class ConvertedRequest:
    body: dict
    stream: bool
    include_usage: bool
    client_model: str
    json_mode: JsonMode | None
    remote_images: list[RemoteImage]
    reasoning_content: bool = True


# ---------------------------------------------------------------------------------------------
# small validators


def _bad(param: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"Invalid '{param}': {message}", param=param)


def _is_int(v: object) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: object) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and math.isfinite(v)


def _opt_bool(body: dict, key: str) -> bool | None:
    v = body.get(key)
    if v is not None and not isinstance(v, bool):
        raise _bad(key, "expected a boolean")
    return v


def sanitize_tool_id(tool_id: str) -> str:
    """Map any id onto `^[a-zA-Z0-9_-]+$`, deterministically; changed ids get a short hash so
    distinct inputs stay distinct. Valid ids are returned unchanged."""
    if _TOOL_ID_OK.match(tool_id):
        return tool_id
    digest = hashlib.sha256(tool_id.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    base = _TOOL_ID_BAD.sub("_", tool_id)[:48]
    return f"{base}_{digest}" if base else f"call_{digest}"


# ---------------------------------------------------------------------------------------------
# message conversion


@dataclass(slots=True)
class _Turn:
    role: str  # "user" | "assistant"
    index: int  # first client message index
    results: list[dict] = field(default_factory=list)  # tool_result blocks (user turns)
    blocks: list[dict] = field(default_factory=list)


# Content part types each kind of message may hold, and how a part out of place is reported.
_SYSTEM_PARTS = frozenset({"text"})
_USER_PARTS = frozenset({"text", "image_url", "file", "input_audio"})
_ASSISTANT_PARTS = frozenset({"text", "refusal"})
_RESULT_PARTS = frozenset({"text", "image_url"})
_NOT_HERE = "content part type {ptype} is not allowed here"
_UNKNOWN_PART = "unknown content part type {ptype}"


class _Messages:
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
            raise _bad(param, "expected a non-empty string")
        return sanitize_tool_id(raw)

    @staticmethod
    def _text_block(text: str, part: dict | None = None) -> dict | None:
        if not text or text.isspace():
            return None
        block: dict[str, Any] = {"type": "text", "text": text}
        if part is not None and isinstance(part.get("cache_control"), dict):
            block["cache_control"] = part["cache_control"]
        return block

    def _parts(
        self, content: object, i: int, param: str, *, allowed: frozenset[str], where: str
    ) -> list[dict]:
        """A string or a list of content parts, of the types `allowed` in this kind of message.
        Empty and whitespace-only text is dropped (Claude rejects empty text blocks)."""
        if content is None:
            return []
        if isinstance(content, str):
            b = self._text_block(content)
            return [b] if b else []
        if not isinstance(content, list):
            raise _bad(param, "expected a string or an array of content parts")
        out = []
        for j, part in enumerate(content):
            p = f"{param}[{j}]"
            if not isinstance(part, dict):
                raise _bad(p, "expected an object")
            ptype = part.get("type")
            if ptype not in allowed:
                raise _bad(f"{p}.type", where.format(ptype=repr(ptype)))
            if ptype == "text":
                text = part.get("text")
                if not isinstance(text, str):
                    raise _bad(f"{p}.text", "expected a string")
                b = self._text_block(text, part)
                if b:
                    out.append(b)
            elif ptype == "image_url":
                out.append(self._image(part, i, p))
            elif ptype == "file":
                out.append(self._file(part, i, p))
            elif ptype == "input_audio":
                raise UnsupportedFeature(
                    f"Invalid '{p}': audio input is not supported by Claude models",
                    param=p,
                    code="unsupported_content_type",
                )
            # "refusal" parts of past assistant turns carry nothing Claude can take back
        return out

    def _image(self, part: dict, i: int, p: str) -> dict:
        spec = part.get("image_url")
        url = spec.get("url") if isinstance(spec, dict) else spec
        up = f"{p}.image_url.url"
        if not isinstance(url, str) or not url:
            raise _bad(up, "expected a URL string")
        low = url[:8].lower()
        if low.startswith("data:"):
            uri = parse_data_uri(url, param=up)
            if not uri.is_base64:
                raise _bad(up, "data URIs must be base64-encoded")
            mt = check_media(uri.media_type, uri.data, param=up, allowed=(*IMAGE_TYPES, PDF))
            btype = "document" if mt == PDF else "image"
            return {"type": btype, "source": {"type": "base64", "media_type": mt, "data": uri.data}}
        if low.startswith(("http://", "https://")):
            check_remote_url(url, param=up)
            block: dict[str, Any] = {
                "type": "image",
                "source": {"type": "base64", "media_type": "", "data": ""},
            }
            self.remote.append(RemoteImage(url=url, message_index=i, block=block, param=up))
            return block
        raise _bad(up, "expected an http(s) URL or a base64 data URI")

    def _file(self, part: dict, i: int, p: str) -> dict:
        spec = part.get("file")
        if not isinstance(spec, dict):
            raise _bad(f"{p}.file", "expected an object")
        if spec.get("file_id") is not None and spec.get("file_data") is None:
            raise UnsupportedFeature(
                f"Invalid '{p}.file.file_id': uploaded files are not supported; send the file "
                "inline as file_data (base64 or a data: URI)",
                param=f"{p}.file.file_id",
            )
        data = spec.get("file_data")
        fp = f"{p}.file.file_data"
        if not isinstance(data, str) or not data:
            raise _bad(fp, "expected base64 data or a data: URI")
        declared = ""
        if data[:8].lower().startswith(("http://", "https://")):  # an extension: PDF by URL
            check_remote_url(data, param=fp, code="invalid_value")
            block = {"type": "document", "source": {"type": "base64", "media_type": "", "data": ""}}
            self.remote.append(
                RemoteImage(url=data, message_index=i, block=block, param=fp, allowed=(PDF,))
            )
            return self._doc_title(block, spec)
        if data[:5].lower() == "data:":
            uri = parse_data_uri(data, param=fp)
            declared, data = uri.media_type, uri.data
            if declared == "text/plain":
                if uri.is_base64:
                    try:
                        data = base64.b64decode(data, validate=True).decode("utf-8")
                    except (ValueError, UnicodeDecodeError):
                        raise _bad(fp, "text/plain file is not valid UTF-8 base64") from None
                if not data.strip():
                    raise _bad(fp, "empty text document")
                block = {
                    "type": "document",
                    "source": {"type": "text", "media_type": "text/plain", "data": data},
                }
                return self._doc_title(block, spec)
            if not uri.is_base64:
                raise _bad(fp, "data URIs must be base64-encoded")
        else:
            data = "".join(data.split())
        mt = check_media(declared, data, param=fp, allowed=(PDF,))
        block = {"type": "document", "source": {"type": "base64", "media_type": mt, "data": data}}
        return self._doc_title(block, spec)

    @staticmethod
    def _doc_title(block: dict, spec: dict) -> dict:
        name = spec.get("filename")
        if isinstance(name, str) and name.strip():
            block["title"] = name
        return block

    def add(self, i: int, m: object) -> None:
        param = f"messages[{i}]"
        if not isinstance(m, dict):
            raise _bad(param, "expected an object")
        self.ends_with_empty_user = False
        role = m.get("role")
        content = m.get("content")
        if role in ("system", "developer"):
            if content is None:
                raise _bad(f"{param}.content", "required")
            self.system.extend(
                self._parts(content, i, f"{param}.content", allowed=_SYSTEM_PARTS, where=_NOT_HERE)
            )
        elif role == "user":
            if content is None:
                raise _bad(f"{param}.content", "required")
            blocks = self._parts(
                content, i, f"{param}.content", allowed=_USER_PARTS, where=_UNKNOWN_PART
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
            name = m.get("name")
            if not isinstance(name, str) or not name:
                raise _bad(f"{param}.name", "required for role 'function'")
            for k in range(len(self.pending_functions) - 1, -1, -1):
                if self.pending_functions[k][0] == name:
                    sid = self.pending_functions.pop(k)[1]
                    break
            else:
                raise _bad(param, f"no preceding function_call named {name!r}")
            self._result(sid, content, i, f"{param}.content")
        else:
            raise _bad(
                f"{param}.role",
                f"{role!r} is not one of 'system', 'developer', 'user', 'assistant', 'tool', 'function'",
            )

    def _assistant(self, m: dict, i: int, param: str) -> None:
        blocks = self._parts(
            m.get("content"), i, f"{param}.content", allowed=_ASSISTANT_PARTS, where=_NOT_HERE
        )
        calls = m.get("tool_calls")
        if calls is not None:
            if not isinstance(calls, list):
                raise _bad(f"{param}.tool_calls", "expected an array")
            for k, call in enumerate(calls):
                cp = f"{param}.tool_calls[{k}]"
                if not isinstance(call, dict):
                    raise _bad(cp, "expected an object")
                if call.get("type", "function") != "function":
                    raise UnsupportedFeature(
                        f"Invalid '{cp}.type': only function tool calls are supported",
                        param=f"{cp}.type",
                    )
                fn = call.get("function")
                if not isinstance(fn, dict):
                    raise _bad(f"{cp}.function", "expected an object")
                sid = self._tool_id(call.get("id"), f"{cp}.id")
                blocks.append(self._tool_use(sid, fn, f"{cp}.function"))
        fc = m.get("function_call")
        if fc is not None:
            if not isinstance(fc, dict):
                raise _bad(f"{param}.function_call", "expected an object")
            sid = f"call_fn_{i}"
            block = self._tool_use(sid, fc, f"{param}.function_call")
            self.pending_functions.append((block["name"], sid))
            blocks.append(block)
        if blocks:
            self._turn("assistant", i).blocks.extend(blocks)

    def _tool_use(self, sid: str, fn: dict, p: str) -> dict:
        name = fn.get("name")
        if not isinstance(name, str) or not name:
            raise _bad(f"{p}.name", "expected a non-empty string")
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
                raise _bad(f"{p}.arguments", "must encode a JSON object")
        else:
            raise _bad(f"{p}.arguments", "expected a JSON string")
        self.tool_names_used.append(name)
        return {"type": "tool_use", "id": sid, "name": name, "input": parsed}

    def _result(self, sid: str, content: object, i: int, param: str) -> None:
        block: dict[str, Any] = {"type": "tool_result", "tool_use_id": sid}
        if isinstance(content, str):
            if content:
                block["content"] = content
        elif isinstance(content, list):
            parts = self._parts(content, i, param, allowed=_RESULT_PARTS, where=_NOT_HERE)
            if parts:
                block["content"] = parts
        elif content is not None:
            raise _bad(param, "expected a string or an array of content parts")
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
            turns.append(
                _Turn("user", 0, blocks=[{"type": "text", "text": FIRST_USER_PLACEHOLDER}])
            )
        if turns and turns[0].role == "assistant":
            # Claude needs a user turn first; OpenAI histories may open with an assistant greeting
            turns.insert(
                0, _Turn("user", 0, blocks=[{"type": "text", "text": FIRST_USER_PLACEHOLDER}])
            )
        self._check_tool_pairs(turns)
        return [
            {"role": t.role, "content": t.results + t.blocks}
            for t in turns
            if t.results or t.blocks
        ]

    @staticmethod
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
                        raise _bad(f"messages[{t.index}].tool_calls", "duplicate tool call ids")
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
                    raise _bad(
                        "messages",
                        f"tool message for id {rid!r} (near messages[{t.index}]) does not answer a "
                        "tool call of the preceding assistant message",
                    )
            if len(set(got)) != len(got):
                raise _bad("messages", f"duplicate tool results near messages[{t.index}]")
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


# ---------------------------------------------------------------------------------------------
# tools


def _convert_tools(body: dict) -> list[dict]:
    tools: list[dict] = []
    seen: set[str] = set()
    for key in ("tools", "functions"):
        raw = body.get(key)
        if raw is None:
            continue
        if not isinstance(raw, list):
            raise _bad(key, "expected an array")
        for k, t in enumerate(raw):
            p = f"{key}[{k}]"
            if not isinstance(t, dict):
                raise _bad(p, "expected an object")
            if key == "tools":
                ttype = t.get("type", "function")
                if ttype != "function":
                    raise UnsupportedFeature(
                        f"Invalid '{p}.type': only function tools are supported (got {ttype!r})",
                        param=f"{p}.type",
                    )
                fn = t.get("function")
                p = f"{p}.function"
                if not isinstance(fn, dict):
                    raise _bad(p, "expected an object")
            else:
                fn = t
            name = fn.get("name")
            if not isinstance(name, str) or not _TOOL_NAME_OK.match(name):
                raise _bad(f"{p}.name", "must be 1-64 characters of a-z, A-Z, 0-9, '_' or '-'")
            if name in seen:
                raise _bad(f"{p}.name", f"duplicate tool name {name!r}")
            seen.add(name)
            tool: dict[str, Any] = {"name": name}
            desc = fn.get("description")
            if isinstance(desc, str) and desc:
                tool["description"] = desc
            tool["input_schema"] = _input_schema(fn.get("parameters"), f"{p}.parameters")
            if isinstance(t.get("cache_control"), dict):
                tool["cache_control"] = t["cache_control"]
            tools.append(tool)
    return tools


def _input_schema(params: object, p: str) -> dict:
    if params is None or params == {}:
        return dict(EMPTY_SCHEMA)
    if not isinstance(params, dict):
        raise _bad(p, "expected a JSON Schema object")
    stype = params.get("type")
    if stype is None:
        return {"type": "object", **params}
    if stype != "object":
        raise _bad(p, "the root of a function's parameters must be of type 'object'")
    return params


def _choice_name(tc: dict, p: str) -> str:
    fn = tc.get("function")
    name = fn.get("name") if isinstance(fn, dict) else tc.get("name")
    if not isinstance(name, str) or not name:
        raise _bad(f"{p}.function.name", "expected a tool name")
    return name


def _convert_tool_choice(body: dict, tools: list[dict]) -> dict | None:
    """OpenAI tool_choice / function_call → Anthropic tool_choice; may filter `tools` in place."""
    key = "tool_choice" if body.get("tool_choice") is not None else "function_call"
    tc = body.get(key)
    if tc is None:
        return None
    names = {t["name"] for t in tools}
    if isinstance(tc, str):
        mapping = {"none": "none", "auto": "auto", "required": "any"}
        if tc not in mapping or (key == "function_call" and tc == "required"):
            raise _bad(key, f"{tc!r} is not one of 'none', 'auto', 'required' or an object")
        if not tools:
            if tc == "none":
                return None
            raise _bad(key, f"{key} {tc!r} requires tools")
        return {"type": mapping[tc]}
    if not isinstance(tc, dict):
        raise _bad(key, "expected a string or an object")
    ctype = tc.get("type", "function")
    if key == "function_call" or ctype == "function":
        name = tc.get("name") if key == "function_call" else _choice_name(tc, key)
        if not isinstance(name, str) or name not in names:
            raise _bad(key, f"names the function {name!r}, which is not in tools")
        return {"type": "tool", "name": name}
    if ctype == "allowed_tools":
        spec = tc.get("allowed_tools")
        if not isinstance(spec, dict) or not isinstance(spec.get("tools"), list):
            raise _bad(f"{key}.allowed_tools", "expected {mode, tools}")
        mode = spec.get("mode", "auto")
        if mode not in ("auto", "required"):
            raise _bad(f"{key}.allowed_tools.mode", "expected 'auto' or 'required'")
        allowed = []
        for k, t in enumerate(spec["tools"]):
            if not isinstance(t, dict):
                raise _bad(f"{key}.allowed_tools.tools[{k}]", "expected an object")
            allowed.append(_choice_name(t, f"{key}.allowed_tools.tools[{k}]"))
        unknown = [n for n in allowed if n not in names]
        if unknown or not allowed:
            raise _bad(f"{key}.allowed_tools.tools", f"unknown or no tools: {unknown}")
        tools[:] = [t for t in tools if t["name"] in allowed]
        return {"type": "any" if mode == "required" else "auto"}
    raise UnsupportedFeature(
        f"Invalid '{key}.type': {ctype!r} is not supported", param=f"{key}.type"
    )


# ---------------------------------------------------------------------------------------------
# thinking


def _thinking(
    body: dict, fam: ModelFamily, options: ConvertOptions
) -> tuple[dict | None, dict | None]:
    explicit = body.get("thinking")
    if explicit is not None:
        if not isinstance(explicit, dict) or not isinstance(explicit.get("type"), str):
            raise _bad("thinking", "expected an object with a 'type'")
        ttype = explicit["type"]
        if ttype == "disabled":
            return (None, None) if fam.thinking == "adaptive" else (dict(explicit), None)
        if ttype == "enabled":
            budget = explicit.get("budget_tokens")
            if not _is_int(budget) or budget < 1024:
                raise _bad("thinking.budget_tokens", "expected an integer >= 1024")
            if not fam.accepts_budget and fam.thinking == "adaptive":
                level = next((e for e, b in THINKING_BUDGETS.items() if budget <= b), "xhigh")
                return _adaptive(explicit, level, fam, options)
        if ttype == "adaptive" and fam.thinking == "budget":
            return {"type": "enabled", "budget_tokens": THINKING_BUDGETS["medium"]}, None
        return dict(explicit), None
    effort = body.get("reasoning_effort")
    if effort is None:
        return None, None
    if effort not in REASONING_EFFORTS:
        raise _bad("reasoning_effort", f"expected one of {', '.join(REASONING_EFFORTS)}")
    if effort == "none" or fam.thinking == "none":
        return None, None
    if fam.thinking == "budget":
        return {"type": "enabled", "budget_tokens": THINKING_BUDGETS[effort]}, None
    return _adaptive({}, effort, fam, options)


def _adaptive(
    base: dict, effort: str, fam: ModelFamily, options: ConvertOptions
) -> tuple[dict, dict | None]:
    thinking = {k: v for k, v in base.items() if k not in ("type", "budget_tokens")}
    thinking = {"type": "adaptive", **thinking}
    if not options.output_config:
        return thinking, None
    chosen = next((e for e in ADAPTIVE_EFFORTS.get(effort, ()) if e in fam.efforts), None)
    return thinking, ({"effort": chosen} if chosen else None)


# ---------------------------------------------------------------------------------------------
# JSON mode


def _json_mode(
    body: dict, tools: list[dict], tool_choice: dict | None, thinking_on: bool
) -> tuple[JsonMode | None, dict | None, str | None]:
    """Returns (mode, extra tool, system instruction)."""
    rf = body.get("response_format")
    if rf is None:
        return None, None, None
    if not isinstance(rf, dict):
        raise _bad("response_format", "expected an object")
    rtype = rf.get("type")
    if rtype == "text":
        return None, None, None
    if rtype == "json_object":
        return JsonMode("json_object", None, None, False), None, JSON_OBJECT_INSTRUCTION
    if rtype != "json_schema":
        raise _bad("response_format.type", "expected 'text', 'json_object' or 'json_schema'")
    js = rf.get("json_schema")
    if not isinstance(js, dict):
        raise _bad("response_format.json_schema", "expected an object")
    schema = js.get("schema")
    if schema is None:
        return JsonMode("json_object", None, None, False), None, JSON_OBJECT_INSTRUCTION
    if not isinstance(schema, dict):
        raise _bad("response_format.json_schema.schema", "expected a JSON Schema object")
    if tool_choice is not None and tool_choice["type"] == "none":
        text = (
            "Respond with a single JSON value that validates against this JSON Schema and nothing "
            "else (no prose, no code fences):\n" + orjson.dumps(schema).decode()
        )
        return JsonMode("json_schema", None, None, False), None, text
    names = {t["name"] for t in tools}
    name, n = JSON_TOOL_NAME, 1
    while name in names:
        name, n = f"{JSON_TOOL_NAME}_{n}", n + 1
    is_object = schema.get("type") == "object" or ("type" not in schema and "properties" in schema)
    if is_object:
        input_schema, wrap = (schema if "type" in schema else {"type": "object", **schema}), None
    else:
        hoisted = {k: schema[k] for k in ("$defs", "definitions") if k in schema}
        inner = {k: v for k, v in schema.items() if k not in hoisted and k != "$schema"}
        input_schema = {
            "type": "object",
            "properties": {JSON_WRAP_KEY: inner},
            "required": [JSON_WRAP_KEY],
            **hoisted,
        }
        wrap = JSON_WRAP_KEY
    desc = js.get("description")
    tool = {
        "name": name,
        "description": desc
        if isinstance(desc, str) and desc
        else "Give the final answer as JSON by calling this tool; its input is the answer.",
        "input_schema": input_schema,
    }
    forced = not thinking_on and not tools and tool_choice is None
    instruction = None
    if not forced:
        instruction = (
            f"When you give your final answer, call the `{name}` tool with it instead of writing "
            "it as text."
        )
    return JsonMode("json_schema", name, wrap, forced), tool, instruction


# ---------------------------------------------------------------------------------------------
# the entry point


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
        raise _bad("model", "a model name is required")
    fam = family_for(model_id)

    # messages
    raw_msgs = b.get("messages")
    if not isinstance(raw_msgs, list) or not raw_msgs:
        raise _bad("messages", "expected a non-empty array of messages")
    remote: list[RemoteImage] = []
    conv = _Messages(remote)
    for i, m in enumerate(raw_msgs):
        conv.add(i, m)
    messages = conv.build()
    if not messages:
        raise _bad("messages", "at least one user or assistant message with content is required")

    # stream
    stream = bool(_opt_bool(b, "stream"))
    include_usage = False
    so = b.get("stream_options")
    if stream and so is not None:
        if not isinstance(so, dict):
            raise _bad("stream_options", "expected an object")
        iu = so.get("include_usage")
        if iu is not None and not isinstance(iu, bool):
            raise _bad("stream_options.include_usage", "expected a boolean")
        include_usage = bool(iu)

    # max tokens
    max_tokens = b.get("max_completion_tokens")
    mt_key = "max_completion_tokens"
    if max_tokens is None:
        max_tokens, mt_key = b.get("max_tokens"), "max_tokens"
    if max_tokens is None:
        max_tokens = options.default_max_tokens
    elif not _is_int(max_tokens) or max_tokens < 1:
        raise _bad(mt_key, "expected an integer >= 1")

    body: dict[str, Any] = {"anthropic_version": options.anthropic_version, "messages": messages}

    # tools
    tools = _convert_tools(b)
    tool_choice = _convert_tool_choice(b, tools)

    # thinking (history that cannot carry thinking blocks turns it off, see docs)
    thinking, output_config = _thinking(b, fam, options)
    thinking_on = thinking is not None and thinking.get("type") in ("enabled", "adaptive")
    if thinking_on and _history_blocks_thinking(messages):
        thinking, output_config, thinking_on = None, None, False
    if thinking_on and tool_choice is not None and tool_choice["type"] in ("any", "tool"):
        raise InvalidRequest(
            "Invalid 'tool_choice': Claude cannot be forced to call a tool while thinking is "
            "enabled; use tool_choice 'auto' or turn reasoning off",
            param="tool_choice",
        )

    # JSON mode
    json_mode, json_tool, instruction = _json_mode(b, tools, tool_choice, thinking_on)
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

    ptc = _opt_bool(b, "parallel_tool_calls")
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

    # sampling
    temperature = b.get("temperature")
    if temperature is not None:
        if not _is_num(temperature) or not 0 <= temperature <= 2:
            raise _bad("temperature", "expected a number between 0 and 2")
        temperature = min(float(temperature), 1.0) if temperature > 1 else temperature
    top_p = b.get("top_p")
    if top_p is not None and (not _is_num(top_p) or not 0 <= top_p <= 1):
        raise _bad("top_p", "expected a number between 0 and 1")
    top_k = b.get("top_k")
    if top_k is not None and (not _is_int(top_k) or top_k < 0):
        raise _bad("top_k", "expected a non-negative integer")
    if thinking_on:  # Claude: thinking needs the default temperature, no top_k, top_p >= 0.95
        temperature = top_k = None
        if top_p is not None and top_p < 0.95:
            top_p = None
    if temperature is not None and top_p is not None and fam.exclusive_sampling:
        top_p = None
    if temperature is not None:
        body["temperature"] = temperature
    if top_p is not None:
        body["top_p"] = top_p
    if top_k is not None:
        body["top_k"] = top_k

    # thinking & token budget
    if thinking is not None:
        body["thinking"] = thinking
        budget = thinking.get("budget_tokens")
        if thinking_on and _is_int(budget) and max_tokens <= budget:
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


def _check_rejected(key: str, value: object) -> None:
    if key == "n":
        if not _is_int(value) or value < 1:
            raise _bad("n", "expected a positive integer")
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
            raise _bad("modalities", "expected an array of strings")
        if any(x != "text" for x in value):
            raise UnsupportedFeature(
                "Invalid 'modalities': only 'text' output is supported", param="modalities"
            )


def _history_blocks_thinking(messages: list[dict]) -> bool:
    """Thinking cannot be switched on mid tool loop (the previous assistant turn would need its
    thinking blocks, which OpenAI clients cannot send back), nor with an assistant prefill."""
    last = messages[-1]
    if last["role"] == "assistant":
        return True
    return any(blk["type"] == "tool_result" for blk in last["content"])


def _stop_sequences(stop: object) -> list[str]:
    if stop is None:
        return []
    if isinstance(stop, str):
        stop = [stop]
    if not isinstance(stop, list) or any(not isinstance(s, str) for s in stop):
        raise _bad("stop", "expected a string or an array of strings")
    return [s for s in stop if s and not s.isspace()]


def _user_id(b: dict) -> str | None:
    for key in ("safety_identifier", "user"):
        v = b.get(key)
        if v is None:
            continue
        if not isinstance(v, str):
            raise _bad(key, "expected a string")
        if not v:
            continue
        if len(v) > 256:
            return "sha256-" + hashlib.sha256(v.encode()).hexdigest()
        return v
    return None


def inline_remote(
    image: RemoteImage, media_type: str, data_b64: str, *, sniffed: bool = False
) -> None:
    """Fill a downloaded image/PDF into its placeholder block. `media_type` is the response's
    Content-Type (a hint: the sniffed bytes win); unsupported content is an InvalidRequest.

    `sniffed=True`: the caller already sniffed the raw bytes and `media_type` is the result, so
    the payload is not decoded again; only the type is checked against `image.allowed`."""
    param = image.param or f"messages[{image.message_index}]"
    if sniffed:
        mt = media_type
        if mt not in image.allowed:
            raise InvalidRequest(
                f"{param}: unsupported media type {mt or 'unknown'!r}; supported: "
                + ", ".join(image.allowed),
                param=param,
                code="invalid_image_format" if mt.startswith("image/") else "invalid_value",
            )
    else:
        mt = check_media(
            media_type.split(";", 1)[0],
            data_b64,
            param=param,
            allowed=image.allowed,
            trust_bytes=True,  # servers often send a wrong Content-Type
        )
    image.block["type"] = "document" if mt == PDF else "image"
    image.block["source"] = {"type": "base64", "media_type": mt, "data": data_b64}
