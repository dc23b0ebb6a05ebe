"""OpenAI `tools` / legacy `functions` → Anthropic tool definitions, and `tool_choice` /
legacy `function_call` → Anthropic `tool_choice`.

Only function tools exist on Claude; names must match Anthropic's 1-64 character pattern and
a parameters schema must have an object root (a missing `type` is taken to mean object).
"""

from __future__ import annotations

import re
from typing import Any

from modelmux.convert.validators import bad
from modelmux.errors import UnsupportedFeature

EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}

_TOOL_NAME_OK = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def convert_tools(body: dict) -> list[dict]:
    """`tools`, then legacy `functions` (bare function objects); one namespace for both."""
    tools: list[dict] = []
    seen: set[str] = set()
    for key in ("tools", "functions"):
        raw = body.get(key)
        if raw is None:
            continue
        if not isinstance(raw, list):
            raise bad(key, "expected an array")
        for k, t in enumerate(raw):
            p = f"{key}[{k}]"
            if not isinstance(t, dict):
                raise bad(p, "expected an object")
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
                    raise bad(p, "expected an object")
            else:
                fn = t
            name = fn.get("name")
            if not isinstance(name, str) or not _TOOL_NAME_OK.match(name):
                raise bad(f"{p}.name", "must be 1-64 characters of a-z, A-Z, 0-9, '_' or '-'")
            if name in seen:
                raise bad(f"{p}.name", f"duplicate tool name {name!r}")
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
        raise bad(p, "expected a JSON Schema object")
    stype = params.get("type")
    if stype is None:
        return {"type": "object", **params}
    if stype != "object":
        raise bad(p, "the root of a function's parameters must be of type 'object'")
    return params


def _choice_name(tc: dict, p: str) -> str:
    fn = tc.get("function")
    name = fn.get("name") if isinstance(fn, dict) else tc.get("name")
    if not isinstance(name, str) or not name:
        raise bad(f"{p}.function.name", "expected a tool name")
    return name


def convert_tool_choice(body: dict, tools: list[dict]) -> dict | None:
    """OpenAI tool_choice / function_call → Anthropic tool_choice; may filter `tools` in place."""
    key = "tool_choice" if body.get("tool_choice") is not None else "function_call"
    tc = body.get(key)
    if tc is None:
        return None
    names = {t["name"] for t in tools}
    if isinstance(tc, str):
        mapping = {"none": "none", "auto": "auto", "required": "any"}
        if tc not in mapping or (key == "function_call" and tc == "required"):
            raise bad(key, f"{tc!r} is not one of 'none', 'auto', 'required' or an object")
        if not tools:
            if tc == "none":
                return None
            raise bad(key, f"{key} {tc!r} requires tools")
        return {"type": mapping[tc]}
    if not isinstance(tc, dict):
        raise bad(key, "expected a string or an object")
    ctype = tc.get("type", "function")
    if key == "function_call" or ctype == "function":
        name = tc.get("name") if key == "function_call" else _choice_name(tc, key)
        if not isinstance(name, str) or name not in names:
            raise bad(key, f"names the function {name!r}, which is not in tools")
        return {"type": "tool", "name": name}
    if ctype == "allowed_tools":
        spec = tc.get("allowed_tools")
        if not isinstance(spec, dict) or not isinstance(spec.get("tools"), list):
            raise bad(f"{key}.allowed_tools", "expected {mode, tools}")
        mode = spec.get("mode", "auto")
        if mode not in ("auto", "required"):
            raise bad(f"{key}.allowed_tools.mode", "expected 'auto' or 'required'")
        allowed = []
        for k, t in enumerate(spec["tools"]):
            if not isinstance(t, dict):
                raise bad(f"{key}.allowed_tools.tools[{k}]", "expected an object")
            allowed.append(_choice_name(t, f"{key}.allowed_tools.tools[{k}]"))
        unknown = [n for n in allowed if n not in names]
        if unknown or not allowed:
            raise bad(f"{key}.allowed_tools.tools", f"unknown or no tools: {unknown}")
        tools[:] = [t for t in tools if t["name"] in allowed]
        return {"type": "any" if mode == "required" else "auto"}
    raise UnsupportedFeature(
        f"Invalid '{key}.type': {ctype!r} is not supported", param=f"{key}.type"
    )
