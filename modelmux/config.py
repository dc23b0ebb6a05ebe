"""The settings schema and the layered loader that builds the frozen `Settings` once.

One table (`SCHEMA`) lists every key; TOML names, `MODELMUX_<SECTION>_<KEY>` environment names,
`--<section>-<key>` flags, defaults, validation, `--help` text, the commented sample config and
the documentation table are all derived from it, so they cannot drift apart.

Layers, highest wins: flags > environment (modelmux names, then legacy names) > `.env` in the
working directory > user file > system file > defaults. `--config FILE` replaces both file
layers. Files merge key by key. Every value remembers the layer that set it.

Nothing here touches the network; the only I/O is reading the config files, `.env` and the
service-account key file being checked.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import configargparse

from modelmux import __version__
from modelmux.settings import (
    AuthSettings,
    ImagesSettings,
    MetricsSettings,
    ModelAlias,
    ServerSettings,
    Settings,
    StreamingSettings,
    TranslationSettings,
    VertexSettings,
)

__all__ = [
    "EX_CONFIG",
    "EX_USAGE",
    "KEYS",
    "SCHEMA",
    "ConfigError",
    "UsageError",
    "build_parser",
    "check_adc_file",
    "check_ready",
    "check_service_account_file",
    "check_toml_text",
    "coerce",
    "default_user_file",
    "load_settings",
    "redacted",
    "render_docs_table",
    "render_sample",
]

EX_USAGE = 64  # os.EX_USAGE: bad command-line flags
EX_CONFIG = 78  # os.EX_CONFIG: invalid configuration

SYSTEM_FILE = "/etc/modelmux/config.toml"
# For tests and packaging only: points the system layer elsewhere.
SYSTEM_FILE_ENV = "MODELMUX_SYSTEM_CONFIG"
CONFIG_ENV = "MODELMUX_CONFIG"


class ConfigError(Exception):
    """Invalid configuration; the message is one line naming where, which key and what is allowed."""


class UsageError(Exception):
    """Bad command-line flags (unknown flag, missing or malformed value)."""


class _Bad(ValueError):
    """A value failed conversion or validation; the caller adds where it came from."""


# --------------------------------------------------------------------------------------------
# The schema
# --------------------------------------------------------------------------------------------

# type names: str, path (a str resolved against its file's directory), int, float, bool,
# list (of non-empty strings), models (array of {name, id, location?} tables)
_TYPE_WORDS = {
    "str": "a string",
    "path": "a path string",
    "int": "an integer",
    "float": "a number",
    "bool": "a boolean",
    "list": "a list of strings",
    "models": "an array of tables {name, id, location}",
}

_LOCATION_RE = re.compile(r"^(global|us|eu|[a-z]+-[a-z]+[0-9]+)$")
_PROJECT_RE = re.compile(r"^[a-z0-9][a-z0-9.:_-]{0,127}$", re.IGNORECASE)
_MODEL_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@:/-]*$")
_HOST_RE = re.compile(r"^[A-Za-z0-9.:_%\[\]-]+$")


def _check_location(value: str) -> None:
    if value and not _LOCATION_RE.match(value):
        raise _Bad(
            f"got {value!r} (allowed: a Vertex region such as us-east5 or europe-west1, "
            "or global, us, eu)"
        )


def _check_project(value: str) -> None:
    if value and not _PROJECT_RE.match(value):
        raise _Bad(f"got {value!r} (allowed: a Google Cloud project ID such as my-project-123)")


def _check_model_id(value: str) -> None:
    if value and not _MODEL_ID_RE.match(value):
        raise _Bad(f"got {value!r} (allowed: a Vertex model ID such as claude-sonnet-4@20250514)")


def _check_host(value: str) -> None:
    if not value or not _HOST_RE.match(value):
        raise _Bad(f"got {value!r} (allowed: an IP address or host name such as 127.0.0.1)")


def _check_url(value: str) -> None:
    if value and not re.match(r"^https?://[^\s/]+", value):
        raise _Bad("allowed: empty or an http:// or https:// URL")


def _check_nonempty(value: str) -> None:
    if not value:
        raise _Bad("must not be empty")


@dataclass(frozen=True, slots=True)
class Key:
    """One row of the schema."""

    section: str
    name: str
    type: str
    default: Any
    help: str
    secret: bool = False
    choices: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None
    check: Callable[[Any], None] | None = None
    short_flags: tuple[str, ...] = ()  # extra daemon flags, e.g. --port
    legacy_env: tuple[str, ...] = ()
    synonym_of: str = ""  # "location" for [vertex] region

    @property
    def dotted(self) -> str:
        return f"{self.section}.{self.name}"

    @property
    def env(self) -> str:
        return f"MODELMUX_{self.section}_{self.name}".upper()

    @property
    def flag(self) -> str:
        return f"--{self.section}-{self.name}".replace("_", "-")

    @property
    def flags(self) -> tuple[str, ...]:
        return (*self.short_flags, self.flag)

    @property
    def dest(self) -> str:
        return f"{self.section}__{self.name}"

    @property
    def target(self) -> str:
        """The dotted key this row sets (a synonym sets its canonical key)."""
        return f"{self.section}.{self.synonym_of}" if self.synonym_of else self.dotted

    def allowed(self) -> str:
        """What is allowed, for error messages and docs."""
        if self.choices:
            return ", ".join(self.choices)
        if self.min is not None and self.max is not None:
            return f"{_num(self.min)} to {_num(self.max)}"
        return _TYPE_WORDS[self.type]


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


NON_STREAMING_AGENTS = (
    # command-line HTTP tools and API workbenches: they show a body, not an event stream
    "curl",
    "wget",
    "httpie",
    "goose",
    "postman",
    "insomnia",
    "thunder client",
    # IDE HTTP clients
    "jetbrains",
    "intellij",
    "pycharm",
)
BUFFERED_AGENTS = (
    # browsers and editor extensions render better with fewer, larger chunks
    "mozilla",
    "vscode",
    "cursor",
    "zed",
    "windsurf",
)

_LOG_LEVELS = ("trace", "debug", "info", "warning", "error")

SCHEMA: tuple[Key, ...] = (
    # [server]
    Key("server", "host", "str", "127.0.0.1", "Address to listen on (loopback by default).",
        check=_check_host, short_flags=("--host",)),
    Key("server", "port", "int", 3000, "TCP port to listen on (0 = any free port).", min=0, max=65535,
        short_flags=("--port",), legacy_env=("PORT",)),
    Key("server", "log_level", "str", "info", "Log verbosity.", choices=_LOG_LEVELS,
        short_flags=("--log-level",), legacy_env=("LOG_LEVEL",)),
    Key("server", "log_format", "str", "auto",
        "Log format: auto (console on a TTY, JSON otherwise), json or console.",
        choices=("auto", "json", "console"), short_flags=("--log-format",)),
    Key("server", "enable_retries", "bool", True,
        "Retry failed upstream calls (only before the first byte reaches the client)."),
    Key("server", "max_retry_attempts", "int", 3,
        "Total attempts per request, the first one included.", min=1, max=10),
    Key("server", "max_body_mb", "int", 32,
        "Request bodies above this many MiB get 413.", min=1, max=1024),
    Key("server", "shutdown_timeout_s", "float", 30,
        "On SIGTERM, let in-flight requests finish for this many seconds.", min=0, max=3600),
    Key("server", "event_loop", "str", "auto",
        "Event loop: uvloop (measurably faster), asyncio, or auto (uvloop when installed).",
        choices=("auto", "uvloop", "asyncio")),
    Key("server", "api_keys", "list", (),
        "When non-empty, clients must send `Authorization: Bearer <one of them>`.", secret=True),
    Key("server", "api_keys_file", "path", "",
        "File with one client API key per line; re-read on reload."),
    # [auth]
    Key("auth", "service_account_file", "path", "",
        "Path to a service-account JSON key. Neither this nor service_account_json set: "
        "Application Default Credentials."),
    Key("auth", "service_account_json", "str", "",
        "The service-account JSON key, inline (containers).", secret=True),
    # [vertex]
    Key("vertex", "project", "str", "", "Google Cloud project ID.", check=_check_project,
        legacy_env=("VERTEX_PROJECT",)),
    Key("vertex", "location", "str", "",
        "Vertex location: a region such as us-east5 or europe-west1, `global`, or the "
        "multi-regions `us` / `eu`.", check=_check_location, legacy_env=("VERTEX_LOCATION",)),
    Key("vertex", "region", "str", "", "Older synonym of location (location wins).",
        check=_check_location, legacy_env=("VERTEX_REGION",), synonym_of="location"),
    Key("vertex", "publisher", "str", "anthropic", "Vertex model publisher.",
        check=_check_nonempty, legacy_env=("VERTEX_PUBLISHER",)),
    Key("vertex", "model", "str", "",
        "Vertex model ID used when a request names no configured alias.",
        check=_check_model_id, legacy_env=("VERTEX_MODEL_ID",)),
    Key("vertex", "base_url", "str", "",
        "Endpoint override (Private Service Connect, a proxy, the emulator).", check=_check_url),
    Key("vertex", "anthropic_version", "str", "vertex-2023-10-16",
        "`anthropic_version` sent to Vertex.", check=_check_nonempty),
    Key("vertex", "default_max_tokens", "int", 8192,
        "max_tokens sent when the client gives none (Vertex requires it).", min=1, max=1_000_000),
    Key("vertex", "request_timeout_s", "float", 600,
        "Timeout for a whole non-streaming call.", min=1, max=86400),
    Key("vertex", "connect_timeout_s", "float", 10,
        "Timeout for connecting to Vertex.", min=0.1, max=600),
    Key("vertex", "stream_idle_timeout_s", "float", 300,
        "An upstream stream silent for this many seconds is cut.", min=1, max=86400),
    Key("vertex", "anthropic_beta", "list", (),
        "anthropic-beta values clients may send; they are forwarded to Vertex, any other value "
        "is dropped (Vertex rejects betas it does not know)."),
    Key("vertex", "max_connections", "int", 2048,
        "Size of the connection pool to Vertex (bounds concurrent upstream calls).",
        min=1, max=100000),
    Key("vertex", "reject_unknown_models", "bool", False,
        "A `model` matching no alias gets 404 model_not_found instead of the default model."),
    Key("vertex", "models", "models", (),
        "Aliases clients may name: array of tables {name, id, location?}; "
        "env/flag form is a JSON list."),
    # [streaming]
    Key("streaming", "mode", "str", "auto",
        "Streaming policy: auto (by client), never, standard, buffered or always.",
        choices=("auto", "never", "standard", "buffered", "always")),
    Key("streaming", "buffer_size", "int", 65536,
        "Buffered mode: flush once this many bytes of content are held.", min=1, max=16_777_216),
    Key("streaming", "chunk_timeout_ms", "int", 5000,
        "Buffered mode: flush at least this often (milliseconds).", min=1, max=600_000),
    Key("streaming", "keepalive_s", "float", 15,
        "Send SSE comment lines while the model is silent this long (0 = off).", min=0, max=3600),
    Key("streaming", "non_streaming_agents", "list", NON_STREAMING_AGENTS,
        "User-Agent substrings (case-insensitive) of clients that get one JSON response in "
        "auto mode."),
    Key("streaming", "buffered_agents", "list", BUFFERED_AGENTS,
        "User-Agent substrings (case-insensitive) of clients that get buffered streams in "
        "auto mode."),
    # [images]
    Key("images", "fetch_remote", "bool", True,
        "Download image and PDF URLs and inline them (Vertex rejects URL sources)."),
    Key("images", "allow_private_networks", "bool", False,
        "Allow image fetches from loopback/private/link-local addresses (SSRF guard when false)."),
    Key("images", "max_bytes", "int", 5_242_880, "Largest image/PDF fetched per URL, in bytes.",
        min=1, max=104_857_600),
    Key("images", "fetch_timeout_s", "float", 10,
        "Timeout for one image/PDF URL, redirects included.", min=0.1, max=300),
    Key("images", "max_per_request", "int", 20,
        "Most image/PDF URLs fetched for one request; more is a 400 (0 = refuse all URLs).",
        min=0, max=1000),
    Key("images", "max_total_bytes", "int", 20_971_520,
        "Most bytes fetched for all the URLs of one request (20 MiB; base64 adds a third to what "
        "is sent upstream).", min=1, max=1_073_741_824),
    # [translation]
    Key("translation", "reasoning_content", "bool", True,
        "Expose Claude thinking as message.reasoning_content."),
    Key("translation", "output_config", "bool", False,
        "Send output_config (effort levels for reasoning_effort) to Vertex; enable only for "
        "models and regions where Vertex accepts it (it has rejected it as an extra input)."),
    # [metrics]
    Key("metrics", "prometheus", "bool", True, "Serve GET /metrics in Prometheus text format."),
    Key("metrics", "require_api_key", "bool", False,
        "GET /metrics also needs a client API key (when [server] api_keys or api_keys_file "
        "are set); /health stays open."),
)  # fmt: skip

SECTIONS: tuple[str, ...] = tuple(dict.fromkeys(k.section for k in SCHEMA))
_BY_DOTTED: dict[str, Key] = {k.dotted: k for k in SCHEMA}
KEYS: Mapping[str, Key] = MappingProxyType(_BY_DOTTED)  # dotted key -> schema row
_LEGACY_ENV: dict[str, Key] = {name: k for k in SCHEMA for name in k.legacy_env}


# --------------------------------------------------------------------------------------------
# Conversion and validation of one value
# --------------------------------------------------------------------------------------------

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _shown(key: Key, value: Any) -> str:
    if key.secret:
        return ""
    return f" {value!r}"


def _tname(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array",
            dict: "table"}.get(type(value), type(value).__name__)  # fmt: skip


def _from_text(key: Key, text: str) -> Any:
    """Convert an environment/flag string to the key's type."""
    t = key.type
    s = text.strip()
    if t in ("str", "path"):
        return text
    if t == "int":
        try:
            return int(s)
        except ValueError:
            raise _Bad(f"expected an integer, got{_shown(key, text)}") from None
    if t == "float":
        try:
            return float(s)
        except ValueError:
            raise _Bad(f"expected a number, got{_shown(key, text)}") from None
    if t == "bool":
        if s.lower() in _TRUE:
            return True
        if s.lower() in _FALSE:
            return False
        raise _Bad(f"expected true or false, got{_shown(key, text)}")
    if t == "list":
        if s.startswith("["):
            try:
                value = json.loads(s)
            except ValueError:
                raise _Bad("expected a JSON list of strings or comma-separated values") from None
            return value
        return [part.strip() for part in s.split(",") if part.strip()]
    if t == "models":
        try:
            return json.loads(s) if s else []
        except ValueError:
            raise _Bad(
                'expected a JSON list such as [{"name": "claude", "id": "claude-sonnet-4@20250514"}]'
            ) from None
    raise AssertionError(t)


def _typed(key: Key, value: Any) -> Any:
    """Check the type of a (TOML or converted) value and normalise it; raise _Bad."""
    t = key.type
    want = _TYPE_WORDS[t]
    if t in ("str", "path"):
        if not isinstance(value, str):
            raise _Bad(f"expected {want}, got {_tname(value)}")
        return value
    if t == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Bad(f"expected {want}, got {_tname(value)}")
        return value
    if t == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _Bad(f"expected {want}, got {_tname(value)}")
        return float(value)
    if t == "bool":
        if not isinstance(value, bool):
            raise _Bad(f"expected {want} (true or false), got {_tname(value)}")
        return value
    if t == "list":
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise _Bad(f"expected {want}, got {_tname(value)}")
        return tuple(v.strip() for v in value if v.strip())
    if t == "models":
        return _typed_models(value)
    raise AssertionError(t)


def _typed_models(value: Any) -> tuple[ModelAlias, ...]:
    if not isinstance(value, (list, tuple)):
        raise _Bad(f"expected {_TYPE_WORDS['models']}, got {_tname(value)}")
    out: list[ModelAlias] = []
    seen: set[str] = set()
    for i, item in enumerate(value):
        if isinstance(item, ModelAlias):
            item = {"name": item.name, "id": item.id, "location": item.location}
        where = f"entry {i + 1}"
        if not isinstance(item, dict):
            raise _Bad(f"{where}: expected a table {{name, id, location}}, got {_tname(item)}")
        unknown = sorted(set(item) - {"name", "id", "location"})
        if unknown:
            raise _Bad(f"{where}: unknown key {unknown[0]!r} (allowed: name, id, location)")
        for field in ("name", "id"):
            if not isinstance(item.get(field), str) or not item[field].strip():
                raise _Bad(f"{where}: {field!r} must be a non-empty string")
        location = item.get("location", "")
        if not isinstance(location, str):
            raise _Bad(f"{where}: 'location' must be a string")
        try:
            _check_model_id(item["id"].strip())
            _check_location(location.strip())
        except _Bad as e:
            raise _Bad(f"{where}: {e}") from None
        name = item["name"].strip()
        if name.lower() in seen:
            raise _Bad(f"{where}: duplicate alias name {name!r}")
        seen.add(name.lower())
        out.append(ModelAlias(name=name, id=item["id"].strip(), location=location.strip()))
    return tuple(out)


def _validate(key: Key, value: Any) -> Any:
    """Range, choices and format checks on a typed value; returns the normalised value."""
    if key.choices:
        value = value.strip().lower()
        if key.dotted == "server.log_level" and value == "warn":
            value = "warning"
        if value not in key.choices:
            raise _Bad(f"got {value!r} (allowed: {key.allowed()})")
    if key.min is not None and key.max is not None and not key.min <= value <= key.max:
        raise _Bad(f"out of range, got {_num(value)} (allowed: {key.allowed()})")
    if key.type == "str" and key.name not in ("service_account_json",):
        value = value.strip()
    if key.type == "list" and key.section == "streaming":
        value = tuple(v.lower() for v in value)
    if key.check is not None:
        key.check(value)
    return value


def coerce(key: Key, raw: Any, *, text: bool) -> Any:
    """Convert (if `text`), type-check and validate one value; raise `_Bad`."""
    value = _from_text(key, raw) if text else raw
    return _validate(key, _typed(key, value))


def check_service_account_file(path: str) -> None:
    """Raise `ConfigError`-ready `_Bad` unless `path` is a readable service-account JSON key."""
    try:
        with open(path, "rb") as f:
            data = f.read(1_000_000)
    except OSError as e:
        raise _Bad(f"cannot read {path}: {e.strerror or e}") from None
    _check_service_account_json(data, f"{path} ")


def _check_service_account_json(data: str | bytes, what: str = "") -> None:
    try:
        info = json.loads(data)
    except ValueError:
        raise _Bad(f"{what}is not valid JSON (expected a service-account key file)") from None
    if not isinstance(info, dict) or info.get("type") != "service_account":
        got = info.get("type") if isinstance(info, dict) else None
        got_s = f" (its type is {got!r})" if isinstance(got, str) and len(got) < 40 else ""
        raise _Bad(f'{what}is not a service-account key{got_s}; expected "type": "service_account"')
    missing = [f for f in ("client_email", "private_key") if not info.get(f)]
    if missing:
        raise _Bad(f"{what}is a service-account key without {missing[0]!r}")


# --------------------------------------------------------------------------------------------
# Layers
# --------------------------------------------------------------------------------------------

# A layer value: (typed value, origin string)
_Values = dict[str, tuple[Any, str]]


def default_user_file(environ: Mapping[str, str]) -> str:
    """`$XDG_CONFIG_HOME/modelmux/config.toml`, else `~/.config/modelmux/config.toml` (XDG rules)."""
    xdg = environ.get("XDG_CONFIG_HOME", "")
    if not os.path.isabs(xdg):
        home = environ.get("HOME") or os.path.expanduser("~")
        xdg = os.path.join(home, ".config")
    return os.path.join(xdg, "modelmux", "config.toml")


def _resolve_path(value: str, base_dir: str) -> str:
    if not value:
        return value
    value = os.path.expanduser(value)
    return os.path.normpath(os.path.join(base_dir, value))


def _read_toml(path: str, label: str, *, required: bool) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        if required:
            raise ConfigError(f"{label}: file not found") from None
        return None
    except IsADirectoryError:
        raise ConfigError(f"{label}: is a directory, expected a TOML file") from None
    except OSError as e:
        raise ConfigError(f"{label}: cannot read: {e.strerror or e}") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{label}: invalid TOML: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as e:
        # tomllib's message ends with "(at line N, column M)"; keep it on one line.
        raise ConfigError(f"{label}: invalid TOML: {' '.join(str(e).split())}") from None


def _file_layer(data: Mapping[str, Any], label: str, path: str) -> _Values:
    values: _Values = {}
    base_dir = os.path.dirname(os.path.abspath(path))
    for section, table in data.items():
        if section not in SECTIONS:
            raise ConfigError(
                f"{label}: unknown section [{section}] (allowed: {', '.join(SECTIONS)})"
            )
        if not isinstance(table, dict):
            raise ConfigError(
                f"{label}: {section} must be a table [{section}], got {_tname(table)}"
            )
        names = [k.name for k in SCHEMA if k.section == section]
        for name, raw in table.items():
            key = _BY_DOTTED.get(f"{section}.{name}")
            if key is None:
                raise ConfigError(
                    f"{label}: unknown key {name!r} in [{section}] (allowed: {', '.join(names)})"
                )
            try:
                value = coerce(key, raw, text=False)
            except _Bad as e:
                raise ConfigError(f"{label}: [{section}] {name}: {e}") from None
            if key.type == "path":
                value = _resolve_path(value, base_dir)
            values[key.dotted] = (value, label)
    return _fold_synonyms(values)


def check_toml_text(text: str, label: str, path: str) -> None:
    """Raise ConfigError unless `text` is a valid config file (used before writing one)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{label}: invalid TOML: {' '.join(str(e).split())}") from None
    _file_layer(data, label, path)


def _fold_synonyms(values: _Values) -> _Values:
    """Within one layer, a synonym (region) sets its canonical key unless that is set too."""
    out: _Values = {}
    for dotted, item in values.items():
        key = _BY_DOTTED[dotted]
        if key.synonym_of:
            if key.target not in values:
                out.setdefault(key.target, item)
        else:
            out[dotted] = item
    return out


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


# --------------------------------------------------------------------------------------------
# Flags (configargparse): one option per key, with its env var
# --------------------------------------------------------------------------------------------


class _Parser(configargparse.ArgumentParser):
    def error(self, message: str) -> Any:  # never sys.exit(2)
        raise UsageError(message)


def _metavar(key: Key) -> str:
    if key.choices:
        return "{" + ",".join(key.choices) + "}"
    return {"int": "N", "float": "SECONDS" if key.name.endswith("_s") else "N", "bool": "BOOL",
            "list": "A,B,...", "models": "JSON", "path": "PATH"}.get(key.type, "TEXT")  # fmt: skip


def _help(key: Key) -> str:
    default = key.default
    if key.type == "list":
        default = ",".join(default) if default else "none"
    elif key.type == "models":
        default = "none"
    elif key.type == "bool":
        default = "true" if default else "false"
    elif default == "":
        default = "unset"
    text = f"{key.help} (default: {default}"
    if key.legacy_env:
        text += f"; legacy env: {', '.join(key.legacy_env)}"
    return (text + ")").replace("%", "%%")


def build_parser(prog: str = "modelmuxd") -> _Parser:
    """The daemon's flag parser, derived from SCHEMA. Values stay strings; the loader converts."""
    parser = _Parser(
        prog=prog,
        description="OpenAI-compatible proxy for Claude models on Google Vertex AI.",
        add_help=False,
        allow_abbrev=False,
        add_config_file_help=False,
        default_config_files=[],
        epilog="Every key also reads /etc/modelmux/config.toml, the user file "
        "(~/.config/modelmux/config.toml) and .env; see docs/configuration.md.",
    )
    parser.add_argument("-h", "--help", action="store_true", default=argparse.SUPPRESS,
                        help="show this help and exit")  # fmt: skip
    parser.add_argument("--version", action="store_true", default=argparse.SUPPRESS,
                        help="print the version and exit")  # fmt: skip
    parser.add_argument("--config", metavar="FILE", env_var=CONFIG_ENV, default=argparse.SUPPRESS,
                        help="read this TOML file instead of the system and user files")  # fmt: skip
    parser.add_argument("--emulator", action="store_true", default=argparse.SUPPRESS,
                        help="serve against the bundled in-process Vertex emulator")  # fmt: skip
    groups: dict[str, Any] = {}
    for key in SCHEMA:
        group = groups.get(key.section)
        if group is None:
            group = groups[key.section] = parser.add_argument_group(f"[{key.section}]")
        kwargs: dict[str, Any] = {}
        if key.type == "bool":
            kwargs.update(nargs="?", const="true")
        group.add_argument(*key.flags, dest=key.dest, metavar=_metavar(key), env_var=key.env,
                           default=argparse.SUPPRESS, help=_help(key), **kwargs)  # fmt: skip
    return parser


def _flag_used(argv: Sequence[str], key: Key) -> str:
    """Which of the key's option strings appeared last on the command line."""
    used = key.flag
    for tok in argv:
        if tok == "--":
            break
        opt = tok.split("=", 1)[0]
        if opt in key.flags:
            used = opt
    return used


# --------------------------------------------------------------------------------------------
# The loader
# --------------------------------------------------------------------------------------------


def load_settings(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: str | None = None,
    system_file: str = SYSTEM_FILE,
    user_file: str | None = None,
) -> Settings:
    """Build the frozen Settings from flags, environment, `.env`, user/system files, defaults."""
    argv = list(argv) if argv is not None else []
    environ = dict(os.environ if environ is None else environ)
    cwd = cwd or os.getcwd()
    if environ.get(SYSTEM_FILE_ENV):
        system_file = environ[SYSTEM_FILE_ENV]
    if user_file is None:
        user_file = default_user_file(environ)

    # .env: never overrides the real environment
    dotenv_path = os.path.join(cwd, ".env")
    dotenv_label = f".env {dotenv_path}"
    dotenv: dict[str, str] = {}
    if os.path.isfile(dotenv_path):
        try:
            with open(dotenv_path, encoding="utf-8") as f:
                dotenv = parse_dotenv(f.read(), dotenv_label)
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"{dotenv_label}: cannot read: {getattr(e, 'strerror', e)}") from None

    def env_origin(name: str, legacy: bool = False) -> str:
        if name in environ:
            return f"env {name}" + (" (legacy)" if legacy else "")
        return dotenv_label

    merged_env = {k: v for k, v in {**dotenv, **environ}.items() if v != ""}

    provider = merged_env.get("LLM_PROVIDER")
    if provider is not None and provider.strip().lower() != "vertex":
        raise ConfigError(
            f"{env_origin('LLM_PROVIDER', True)}: LLM_PROVIDER: only 'vertex' is supported, "
            f"got {provider.strip()[:40]!r}"
        )

    # flags and MODELMUX_* (configargparse: flags win over env_var)
    parser = build_parser()
    ns = parser.parse_args(argv, env_vars=merged_env)
    sources = parser.get_source_to_settings_dict()
    env_used = set(sources.get("environment_variables", {}))

    flag_values: _Values = {}
    env_values: _Values = {}
    dotenv_values: _Values = {}
    for key in SCHEMA:
        if not hasattr(ns, key.dest):
            continue
        raw = getattr(ns, key.dest)
        if key.env in env_used:
            origin = env_origin(key.env)
            target = env_values if key.env in environ else dotenv_values
            try:
                value = coerce(key, raw, text=True)
            except _Bad as e:
                raise ConfigError(f"{origin}: {key.dotted}: {e}") from None
            if key.type == "path":
                value = _resolve_path(value, cwd)
            target[key.dotted] = (value, origin)
        else:
            flag = _flag_used(argv, key)
            try:
                value = _typed(key, _from_text(key, raw))
            except _Bad as e:
                raise UsageError(f"{flag}: {e}") from None
            try:
                value = _validate(key, value)
            except _Bad as e:
                raise ConfigError(f"flag {flag}: {key.dotted}: {e}") from None
            if key.type == "path":
                value = _resolve_path(value, cwd)
            flag_values[key.dotted] = (value, f"flag {flag}")

    # legacy names sit below MODELMUX_* in the same environment layer
    for name, key in _LEGACY_ENV.items():
        if name not in merged_env:
            continue
        target = env_values if name in environ else dotenv_values
        if key.dotted in target:
            continue
        origin = env_origin(name, legacy=True)
        try:
            value = coerce(key, merged_env[name], text=True)
        except _Bad as e:
            raise ConfigError(f"{origin}: {key.dotted}: {e}") from None
        legacy_canonical = key.synonym_of and f"{key.section}.{key.synonym_of}" in target
        if not legacy_canonical:
            target[key.dotted] = (value, origin)

    # files
    files: list[tuple[str, str]] = []  # (label, path), lowest first
    config_file = getattr(ns, "config", None) or merged_env.get(CONFIG_ENV)
    if config_file:
        config_file = _resolve_path(config_file, cwd)
        files.append((f"config file {config_file}", config_file))
    else:
        files.append((f"system file {system_file}", system_file))
        files.append((f"user file {user_file}", user_file))
    file_layers: list[_Values] = []
    read_files: list[str] = []
    for label, path in files:
        data = _read_toml(path, label, required=bool(config_file))
        if data is not None:
            read_files.append(path)
            file_layers.append(_file_layer(data, label, path))

    # merge, lowest first; within env layers the synonym folds onto its canonical key
    effective: dict[str, tuple[Any, str]] = {
        k.dotted: (_typed(k, k.default), "default") for k in SCHEMA if not k.synonym_of
    }
    for layer in (*file_layers, _fold_synonyms(dotenv_values), _fold_synonyms(env_values),
                  _fold_synonyms(flag_values)):  # fmt: skip
        effective.update(layer)

    # credentials: checked now, so a bad key file fails at start-up, not on the first request
    sa_file, sa_file_origin = effective["auth.service_account_file"]
    sa_json, sa_json_origin = effective["auth.service_account_json"]
    if sa_file and sa_json:
        raise ConfigError(
            f"{sa_json_origin}: auth.service_account_json: set only one of "
            f"service_account_file ({sa_file_origin}) and service_account_json"
        )
    if sa_file:
        try:
            check_service_account_file(sa_file)
        except _Bad as e:
            raise ConfigError(f"{sa_file_origin}: auth.service_account_file: {e}") from None
    if sa_json:
        try:
            _check_service_account_json(sa_json)
        except _Bad as e:
            raise ConfigError(f"{sa_json_origin}: auth.service_account_json: {e}") from None
    keys_file, keys_origin = effective["server.api_keys_file"]
    file_keys: tuple[str, ...] = ()
    if keys_file:
        try:
            file_keys = read_api_keys_file(keys_file)
        except _Bad as e:
            raise ConfigError(f"{keys_origin}: server.api_keys_file: {e}") from None

    return _build(effective, emulator=hasattr(ns, "emulator"), config_files=read_files,
                  file_api_keys=file_keys)  # fmt: skip


def parse_api_keys(text: str) -> tuple[str, ...]:
    """Keys from an api_keys_file's text: one per line; blank lines and `#` lines are skipped."""
    keys = []
    for line in text.splitlines():
        key = line.strip()
        if key and not key.startswith("#"):
            keys.append(key)
    return tuple(dict.fromkeys(keys))


def read_api_keys_file(path: str) -> tuple[str, ...]:
    """Read an api_keys_file; raise _Bad (never quoting the file's content) if unusable."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read(10_000_000)
    except OSError as e:
        raise _Bad(f"cannot read {path}: {e.strerror or type(e).__name__}") from None
    except UnicodeDecodeError:
        raise _Bad(f"{path} is not UTF-8 text") from None
    keys = parse_api_keys(text)
    if not keys:
        # An empty key file must not silently turn access control off.
        raise _Bad(f"{path} contains no keys (one key per line; # starts a comment)")
    if any(any(c.isspace() for c in key) for key in keys):
        raise _Bad(f"{path}: a key contains whitespace (one key per line)")
    return keys


def _build(effective: Mapping[str, tuple[Any, str]], *, emulator: bool,
           config_files: Sequence[str], file_api_keys: tuple[str, ...] = ()) -> Settings:  # fmt: skip
    def section(name: str) -> dict[str, Any]:
        return {k.name: effective[k.dotted][0] for k in SCHEMA
                if k.section == name and not k.synonym_of}  # fmt: skip

    return Settings(
        server=ServerSettings(**section("server"), file_api_keys=file_api_keys),
        auth=AuthSettings(**section("auth")),
        vertex=VertexSettings(**section("vertex")),
        streaming=StreamingSettings(**section("streaming")),
        images=ImagesSettings(**section("images")),
        translation=TranslationSettings(**section("translation")),
        metrics=MetricsSettings(**section("metrics")),
        emulator=emulator,
        origins=MappingProxyType({k: origin for k, (_, origin) in effective.items()}),
        config_files=tuple(config_files),
    )


def check_adc_file(settings: Settings, environ: Mapping[str, str]) -> None:
    """When ADC will be used, check the GOOGLE_APPLICATION_CREDENTIALS file it would read."""
    if settings.auth.service_account_file or settings.auth.service_account_json:
        return
    path = environ.get("GOOGLE_APPLICATION_CREDENTIALS", "")
    if not path:
        return
    where = "env GOOGLE_APPLICATION_CREDENTIALS"
    try:
        with open(path, "rb") as f:
            info = json.loads(f.read(1_000_000))
    except OSError as e:
        raise ConfigError(f"{where}: cannot read {path}: {e.strerror or e}") from None
    except ValueError:
        raise ConfigError(f"{where}: {path} is not valid JSON") from None
    if not isinstance(info, dict) or not isinstance(info.get("type"), str):
        raise ConfigError(f'{where}: {path} is not a Google credentials file (no "type")')
    if info["type"] == "service_account":
        try:
            _check_service_account_json(json.dumps(info), f"{path} ")
        except _Bad as e:
            raise ConfigError(f"{where}: {e}") from None


def check_ready(settings: Settings) -> None:
    """Raise ConfigError if the daemon could not serve real Vertex with these settings."""
    if settings.emulator:
        return
    v = settings.vertex
    hint = "run `modelmux config init`, or set"
    if not v.project:
        raise ConfigError(
            f"vertex.project is not set ({hint} [vertex] project, MODELMUX_VERTEX_PROJECT "
            "or VERTEX_PROJECT)"
        )
    if not v.location and not (v.models and all(m.location for m in v.models)):
        raise ConfigError(
            f"vertex.location is not set ({hint} [vertex] location, MODELMUX_VERTEX_LOCATION "
            "or VERTEX_LOCATION; e.g. global, us-east5)"
        )
    if not v.model and not v.models:
        raise ConfigError(
            f"vertex.model is not set and no [[vertex.models]] aliases exist ({hint} "
            "[vertex] model, MODELMUX_VERTEX_MODEL or VERTEX_MODEL_ID)"
        )


# --------------------------------------------------------------------------------------------
# Presentation: config show, the sample file, the docs table
# --------------------------------------------------------------------------------------------


def _section_obj(settings: Settings, section: str) -> Any:
    return getattr(settings, section)


def effective_items(settings: Settings) -> list[tuple[Key, Any, str]]:
    """(key, value with secrets replaced by "***", origin) for every canonical key."""
    out = []
    for key in SCHEMA:
        if key.synonym_of:
            continue
        value = getattr(_section_obj(settings, key.section), key.name)
        if key.secret and value:
            value = "***"
        out.append((key, value, settings.origin(key.dotted)))
    return out


def _display(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, tuple):
        if value and isinstance(value[0], ModelAlias):
            return ", ".join(
                f"{m.name}={m.id}" + (f" ({m.location})" if m.location else "") for m in value
            )
        return ", ".join(value)
    return str(value)


def jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [
            {"name": v.name, "id": v.id, "location": v.location} if isinstance(v, ModelAlias) else v
            for v in value
        ]
    return value


def redacted(settings: Settings) -> list[tuple[str, str, str]]:
    """(dotted key, display value with secrets as "***", origin) for `modelmux config show`."""
    return [
        (key.dotted, _display(value), origin) for key, value, origin in effective_items(settings)
    ]


def toml_value(value: Any) -> str:
    """A TOML literal for a str/int/float/bool/list value (JSON strings are valid TOML)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return _num(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(type(value))


def render_sample() -> str:
    """The fully commented sample config (contrib/modelmux.toml): every key at its default."""
    lines = [
        "# modelmux configuration (TOML). Installed as /etc/modelmux/config.toml.",
        "#",
        "# Every key is commented out at its built-in default; uncomment what you change.",
        "# Layers, highest wins: flags > MODELMUX_<SECTION>_<KEY> environment (and legacy names)",
        "# > .env in the working directory > ~/.config/modelmux/config.toml > this file > defaults.",
        "# `modelmux config show` prints each effective value and where it came from;",
        "# `modelmux config validate` checks this file. Keep secrets out of world-readable files:",
        "# prefer server.api_keys_file and auth.service_account_file (mode 0600/0640).",
    ]
    for section in SECTIONS:
        lines += ["", "", f"[{section}]"]
        for key in SCHEMA:
            if key.section != section:
                continue
            if key.type == "models":
                continue
            help_ = key.help.replace("`", "")
            lines += ["", f"# {help_}"]
            if key.choices or key.min is not None:
                lines.append(f"# Allowed: {key.allowed()}.")
            env = key.env + "".join(f", {n} (legacy)" for n in key.legacy_env)
            lines.append(f"# Env: {env}; flag: {', '.join(key.flags)}")
            lines.append(f"#{key.name} = {toml_value(key.default)}")
        if section == "vertex":
            lines += [
                "",
                "# Model aliases clients may name as `model`; repeat the block for each.",
                "# Env: MODELMUX_VERTEX_MODELS (a JSON list); flag: --vertex-models JSON",
                "#[[vertex.models]]",
                '#name = "claude-sonnet-4"           # what clients send as `model`',
                '#id = "claude-sonnet-4@20250514"    # the Vertex model ID',
                '#location = "global"                # optional per-model override',
            ]
    return "\n".join(lines) + "\n"


def _doc_default(key: Key) -> str:
    if key.type == "models":
        return "`[]`"
    return f"`{toml_value(key.default)}`"


def render_docs_table() -> str:
    """The Markdown key table in docs/configuration.md (a test checks the doc contains it)."""
    rows = [
        "| TOML key | Environment | Flag | Default | Meaning |",
        "|---|---|---|---|---|",
    ]
    for key in SCHEMA:
        env = f"`{key.env}`" + "".join(f", `{n}` (legacy)" for n in key.legacy_env)
        flags = ", ".join(f"`{f}`" for f in key.flags)
        meaning = key.help.replace("|", "\\|")
        if key.choices or key.min is not None:
            meaning += f" Allowed: {key.allowed()}."
        if key.secret:
            meaning += " Secret: shown as `***`."
        rows.append(
            f"| `[{key.section}] {key.name}` | {env} | {flags} | {_doc_default(key)} | {meaning} |"
        )
    return "\n".join(rows) + "\n"


def version_line(prog: str) -> str:
    return f"{prog} {__version__}"


if __name__ == "__main__":  # regenerate: python -m modelmux.config sample|docs-table
    import sys

    what = sys.argv[1] if len(sys.argv) > 1 else ""
    if what not in ("sample", "docs-table"):
        sys.exit("usage: python -m modelmux.config sample|docs-table")
    sys.stdout.write(render_sample() if what == "sample" else render_docs_table())
