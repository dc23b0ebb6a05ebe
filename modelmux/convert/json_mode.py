"""`response_format` → how JSON output is emulated on Claude, which has no JSON mode.

`json_object` (or a `json_schema` without a schema) is a system instruction only. A schema
becomes an extra tool whose input is the answer: forced with `tool_choice` when nothing else
competes for it (no user tools, no tool_choice, no thinking), otherwise offered with an
instruction. Non-object root schemas are wrapped under one property, since tool inputs must be
objects. The returned `JsonMode` tells the response side how to unwrap the answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import orjson

from modelmux.convert.validators import bad

JSON_TOOL_NAME = "json_response"
JSON_WRAP_KEY = "value"
JSON_OBJECT_INSTRUCTION = (
    "Respond with a single valid JSON object and nothing else: no text before or after it "
    "and no code fences."
)


@dataclass(frozen=True, slots=True)
class JsonMode:
    """How a `response_format` JSON request was emulated, so the answer can be unwrapped."""

    kind: Literal["json_object", "json_schema"]
    tool_name: str | None  # None: prompt-only, text passes through
    wrap_key: str | None  # non-object root schemas are wrapped under this property
    forced: bool


def _json_object() -> tuple[JsonMode, None, str]:
    # prompt-only: nothing to unwrap, the text is the JSON
    return JsonMode("json_object", None, None, False), None, JSON_OBJECT_INSTRUCTION


def convert_json_mode(
    body: dict, tools: list[dict], tool_choice: dict | None, thinking_on: bool
) -> tuple[JsonMode | None, dict | None, str | None]:
    """Returns (mode, extra tool, system instruction)."""
    rf = body.get("response_format")
    if rf is None:
        return None, None, None
    if not isinstance(rf, dict):
        raise bad("response_format", "expected an object")
    rtype = rf.get("type")
    if rtype == "text":
        return None, None, None
    if rtype == "json_object":
        return _json_object()
    if rtype != "json_schema":
        raise bad("response_format.type", "expected 'text', 'json_object' or 'json_schema'")
    js = rf.get("json_schema")
    if not isinstance(js, dict):
        raise bad("response_format.json_schema", "expected an object")
    schema = js.get("schema")
    if schema is None:
        return _json_object()
    if not isinstance(schema, dict):
        raise bad("response_format.json_schema.schema", "expected a JSON Schema object")
    if tool_choice is not None and tool_choice["type"] == "none":
        # no tool may be called, so the schema can only be asked for in the prompt
        text = (
            "Respond with a single JSON value that validates against this JSON Schema and nothing "
            "else (no prose, no code fences):\n" + orjson.dumps(schema).decode()
        )
        return JsonMode("json_schema", None, None, False), None, text
    # the answer tool must not shadow a client tool of the same name
    names = {t["name"] for t in tools}
    name, n = JSON_TOOL_NAME, 1
    while name in names:
        name, n = f"{JSON_TOOL_NAME}_{n}", n + 1
    is_object = schema.get("type") == "object" or ("type" not in schema and "properties" in schema)
    if is_object:
        input_schema, wrap = (schema if "type" in schema else {"type": "object", **schema}), None
    else:
        # definitions stay at the root so `#/$defs/...` references still resolve
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
    # forcing the tool is only safe when nothing else competes (and thinking forbids forcing)
    forced = not thinking_on and not tools and tool_choice is None
    instruction = None
    if not forced:
        instruction = (
            f"When you give your final answer, call the `{name}` tool with it instead of writing "
            "it as text."
        )
    return JsonMode("json_schema", name, wrap, forced), tool, instruction
