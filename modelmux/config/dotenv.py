"""The `.env` layer: a small KEY=VALUE parser."""

from __future__ import annotations

import os
import re

from modelmux.config.errors import ConfigError

_ENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


def parse_dotenv(text: str, label: str) -> dict[str, str]:
    """A small `.env` parser: KEY=VALUE, `export` prefix, quotes, `#` comments."""
    out: dict[str, str] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        m = _ENV_LINE.match(line)
        if not m:
            raise ConfigError(f"{label} line {lineno}: expected KEY=VALUE")
        name, value = m.group(1), m.group(2)
        if value[:1] in ("'", '"'):
            quote = value[0]
            end = _closing_quote(value, quote)
            if end < 0:
                raise ConfigError(f"{label} line {lineno}: {name}: unterminated {quote} quote")
            rest = value[end + 1 :].strip()
            if rest and not rest.startswith("#"):
                raise ConfigError(f"{label} line {lineno}: {name}: text after the closing quote")
            value = value[1:end]
            if quote == '"':
                value = _unescape(value)
        else:
            value = re.split(r"\s+#", value, maxsplit=1)[0].strip()
        out[name] = value
    return out


def _closing_quote(value: str, quote: str) -> int:
    i = 1
    while i < len(value):
        if value[i] == "\\" and quote == '"':
            i += 2
            continue
        if value[i] == quote:
            return i
        i += 1
    return -1


def _unescape(value: str) -> str:
    escapes = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}
    return re.sub(r"\\(.)", lambda m: escapes.get(m.group(1), "\\" + m.group(1)), value)


def read_dotenv(path: str, label: str) -> dict[str, str]:
    """The variables in the `.env` file at `path`; none when there is no such file."""
    if not os.path.isfile(path):
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            return parse_dotenv(f.read(), label)
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{label}: cannot read: {getattr(e, 'strerror', e)}") from None
