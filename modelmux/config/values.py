"""Conversion and validation of one value: text to type, type check, range/choice/format."""

from __future__ import annotations

import json
from typing import Any

from modelmux.config.errors import BadValue
from modelmux.config.schema import TYPE_WORDS, Key, check_location, check_model_id, num
from modelmux.settings import ModelAlias

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
# Python types a scalar key accepts (a bool is never an int or float here)
_SCALAR_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "path": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
}


def _shown(key: Key, value: Any) -> str:
    if key.secret:
        return ""
    return f" {value!r}"


def tname(value: Any) -> str:
    """The TOML word for a value's type, for "got ..." messages."""
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array",
            dict: "table"}.get(type(value), type(value).__name__)  # fmt: skip


def from_text(key: Key, text: str) -> Any:
    """Convert an environment/flag string to the key's type."""
    t = key.type
    s = text.strip()
    if t in ("str", "path"):
        return text
    if t in ("int", "float"):
        try:
            return (int if t == "int" else float)(s)
        except ValueError:
            raise BadValue(f"expected {TYPE_WORDS[t]}, got{_shown(key, text)}") from None
    if t == "bool":
        if s.lower() in _TRUE:
            return True
        if s.lower() in _FALSE:
            return False
        raise BadValue(f"expected true or false, got{_shown(key, text)}")
    if t == "list":
        if s.startswith("["):
            try:
                value = json.loads(s)
            except ValueError:
                raise BadValue(
                    "expected a JSON list of strings or comma-separated values"
                ) from None
            return value
        return [part.strip() for part in s.split(",") if part.strip()]
    if t == "models":
        try:
            return json.loads(s) if s else []
        except ValueError:
            raise BadValue(
                'expected a JSON list such as [{"name": "claude", "id": "claude-sonnet-4@20250514"}]'
            ) from None
    raise AssertionError(t)


def typed(key: Key, value: Any) -> Any:
    """Check the type of a (TOML or converted) value and normalise it; raise BadValue."""
    t = key.type
    want = TYPE_WORDS[t]
    if t in _SCALAR_TYPES:
        numeric = t in ("int", "float")
        ok = isinstance(value, _SCALAR_TYPES[t]) and not (numeric and isinstance(value, bool))
        if not ok:
            hint = " (true or false)" if t == "bool" else ""
            raise BadValue(f"expected {want}{hint}, got {tname(value)}")
        return float(value) if t == "float" else value
    if t == "list":
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise BadValue(f"expected {want}, got {tname(value)}")
        return tuple(v.strip() for v in value if v.strip())
    if t == "models":
        return _typed_models(value)
    raise AssertionError(t)


def _typed_models(value: Any) -> tuple[ModelAlias, ...]:
    if not isinstance(value, (list, tuple)):
        raise BadValue(f"expected {TYPE_WORDS['models']}, got {tname(value)}")
    out: list[ModelAlias] = []
    seen: set[str] = set()
    for i, item in enumerate(value):
        if isinstance(item, ModelAlias):
            item = {"name": item.name, "id": item.id, "location": item.location}
        where = f"entry {i + 1}"
        if not isinstance(item, dict):
            raise BadValue(f"{where}: expected a table {{name, id, location}}, got {tname(item)}")
        unknown = sorted(set(item) - {"name", "id", "location"})
        if unknown:
            raise BadValue(f"{where}: unknown key {unknown[0]!r} (allowed: name, id, location)")
        for field in ("name", "id"):
            if not isinstance(item.get(field), str) or not item[field].strip():
                raise BadValue(f"{where}: {field!r} must be a non-empty string")
        location = item.get("location", "")
        if not isinstance(location, str):
            raise BadValue(f"{where}: 'location' must be a string")
        try:
            check_model_id(item["id"].strip())
            check_location(location.strip())
        except BadValue as e:
            raise BadValue(f"{where}: {e}") from None
        name = item["name"].strip()
        if name.lower() in seen:
            raise BadValue(f"{where}: duplicate alias name {name!r}")
        seen.add(name.lower())
        out.append(ModelAlias(name=name, id=item["id"].strip(), location=location.strip()))
    return tuple(out)


def validate(key: Key, value: Any) -> Any:
    """Range, choices and format checks on a typed value; returns the normalised value."""
    if key.choices:
        value = value.strip().lower()
        if key.dotted == "server.log_level" and value == "warn":
            value = "warning"
        if value not in key.choices:
            raise BadValue(f"got {value!r} (allowed: {key.allowed()})")
    if key.min is not None and key.max is not None and not key.min <= value <= key.max:
        raise BadValue(f"out of range, got {num(value)} (allowed: {key.allowed()})")
    if key.type == "str" and key.name not in ("service_account_json",):
        value = value.strip()
    if key.type == "list" and key.section == "streaming":
        value = tuple(v.lower() for v in value)
    if key.check is not None:
        key.check(value)
    return value


def coerce(key: Key, raw: Any, *, text: bool) -> Any:
    """Convert (if `text`), type-check and validate one value; raise `BadValue`."""
    value = from_text(key, raw) if text else raw
    return validate(key, typed(key, value))
