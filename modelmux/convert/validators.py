"""Small type checks shared by the request translators (request, messages, content, tools,
thinking, json_mode).

Every problem with the client's body becomes an `InvalidRequest` whose `param` names the
offending field; `bad` builds that error so the message format stays the same everywhere.
"""

from __future__ import annotations

import math
from typing import TypeGuard

from modelmux.errors import InvalidRequest


def bad(param: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"Invalid '{param}': {message}", param=param)


def is_int(v: object) -> TypeGuard[int]:
    # bool is an int subclass, but `true` is never a valid count
    return isinstance(v, int) and not isinstance(v, bool)


def is_num(v: object) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and math.isfinite(v)


def opt_bool(body: dict, key: str) -> bool | None:
    v = body.get(key)
    if v is not None and not isinstance(v, bool):
        raise bad(key, "expected a boolean")
    return v
