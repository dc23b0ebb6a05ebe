"""The settings schema: one `Key` row per setting, and the tables derived from it.

TOML names, `MODELMUX_<SECTION>_<KEY>` environment names, `--<section>-<key>` flags, defaults,
validation, `--help` text, the commented sample config and the documentation table all come
from `SCHEMA`, so they cannot drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from modelmux.config.errors import BadValue

SYSTEM_FILE = "/etc/modelmux/config.toml"
# For tests and packaging only: points the system layer elsewhere.
SYSTEM_FILE_ENV = "MODELMUX_SYSTEM_CONFIG"
CONFIG_ENV = "MODELMUX_CONFIG"

# type names: str, path (a str resolved against its file's directory), int, float, bool,
# list (of non-empty strings), models (array of {name, id, location?} tables)
TYPE_WORDS = {
    "str": "a string",
    "path": "a path string",
    "int": "an integer",
    "float": "a number",
    "bool": "a boolean",
    "list": "a list of strings",
    "models": "an array of tables {name, id, location}",
}


# --------------------------------------------------------------------------------------------
# Format checks for single string values
# --------------------------------------------------------------------------------------------


def _pattern_check(
    pattern: str, allowed: str, *, flags: int = 0, empty_ok: bool = True
) -> Callable[[str], None]:
    """A check that `value` matches `pattern` (empty passes when `empty_ok`)."""
    regex = re.compile(pattern, flags)

    def check(value: str) -> None:
        if not value and empty_ok:
            return
        if not value or not regex.match(value):
            raise BadValue(f"got {value!r} (allowed: {allowed})")

    return check


check_location = _pattern_check(
    r"^(global|us|eu|[a-z]+-[a-z]+[0-9]+)$",
    "a Vertex region such as us-east5 or europe-west1, or global, us, eu",
)
check_project = _pattern_check(
    r"^[a-z0-9][a-z0-9.:_-]{0,127}$",
    "a Google Cloud project ID such as my-project-123",
    flags=re.IGNORECASE,
)
check_model_id = _pattern_check(
    r"^[A-Za-z0-9][A-Za-z0-9._@:/-]*$", "a Vertex model ID such as claude-sonnet-4@20250514"
)
check_host = _pattern_check(
    r"^[A-Za-z0-9.:_%\[\]-]+$",
    "an IP address or host name such as 127.0.0.1",
    empty_ok=False,
)


def check_url(value: str) -> None:
    if value and not re.match(r"^https?://[^\s/]+", value):
        raise BadValue("allowed: empty or an http:// or https:// URL")


def check_nonempty(value: str) -> None:
    if not value:
        raise BadValue("must not be empty")


# --------------------------------------------------------------------------------------------
# The rows
# --------------------------------------------------------------------------------------------


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
            return f"{num(self.min)} to {num(self.max)}"
        return TYPE_WORDS[self.type]


def num(x: float) -> str:
    """A number as TOML and messages write it: `30`, not `30.0`."""
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
        check=check_host, short_flags=("--host",)),
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
    Key("vertex", "project", "str", "", "Google Cloud project ID.", check=check_project,
        legacy_env=("VERTEX_PROJECT",)),
    Key("vertex", "location", "str", "",
        "Vertex location: a region such as us-east5 or europe-west1, `global`, or the "
        "multi-regions `us` / `eu`.", check=check_location, legacy_env=("VERTEX_LOCATION",)),
    Key("vertex", "region", "str", "", "Older synonym of location (location wins).",
        check=check_location, legacy_env=("VERTEX_REGION",), synonym_of="location"),
    Key("vertex", "publisher", "str", "anthropic", "Vertex model publisher.",
        check=check_nonempty, legacy_env=("VERTEX_PUBLISHER",)),
    Key("vertex", "model", "str", "",
        "Vertex model ID used when a request names no configured alias.",
        check=check_model_id, legacy_env=("VERTEX_MODEL_ID",)),
    Key("vertex", "base_url", "str", "",
        "Endpoint override (Private Service Connect, a proxy, the emulator).", check=check_url),
    Key("vertex", "anthropic_version", "str", "vertex-2023-10-16",
        "`anthropic_version` sent to Vertex.", check=check_nonempty),
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
BY_DOTTED: dict[str, Key] = {k.dotted: k for k in SCHEMA}
KEYS: Mapping[str, Key] = MappingProxyType(BY_DOTTED)  # dotted key -> schema row
LEGACY_ENV: dict[str, Key] = {name: k for k in SCHEMA for name in k.legacy_env}
