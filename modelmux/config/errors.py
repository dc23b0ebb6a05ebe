"""Exit codes and the exceptions the config loader raises."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

EX_USAGE = 64  # os.EX_USAGE: bad command-line flags
EX_CONFIG = 78  # os.EX_CONFIG: invalid configuration


class ConfigError(Exception):
    """Invalid configuration; the message is one line naming where, which key and what is allowed."""


class UsageError(Exception):
    """Bad command-line flags (unknown flag, missing or malformed value)."""


class BadValue(ValueError):
    """A value failed conversion or validation; the caller adds where it came from."""


@contextmanager
def reported_as(where: str, error: type[Exception] = ConfigError) -> Iterator[None]:
    """Turn a `BadValue` raised inside the block into `error("<where>: <reason>")`."""
    try:
        yield
    except BadValue as e:
        raise error(f"{where}: {e}") from None
