"""The typed, frozen settings object every component receives.

Built once by `modelmux.config.load_settings` (and again on reload); nothing else reads the
environment or config files. Defaults live in the schema table in `config.py`, not here, so
flags, env names, TOML keys, defaults and help text cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ModelAlias:
    name: str  # what clients send as `model` (matched case-insensitively)
    id: str  # the Vertex model ID, e.g. "claude-sonnet-4@20250514"
    location: str = ""  # per-model location override ("" = [vertex] location)


@dataclass(frozen=True, slots=True)
class ServerSettings:
    host: str
    port: int
    log_level: str
    log_format: str
    enable_retries: bool
    max_retry_attempts: int
    max_body_mb: int
    shutdown_timeout_s: float
    event_loop: str  # auto | uvloop | asyncio
    api_keys: tuple[str, ...]
    api_keys_file: str
    # the keys read from api_keys_file by the loader (not a schema key: never shown)
    file_api_keys: tuple[str, ...] = ()

    def client_keys(self) -> tuple[str, ...]:
        """Every accepted client API key: `api_keys` plus those from `api_keys_file`."""
        return tuple(dict.fromkeys((*self.api_keys, *self.file_api_keys)))


@dataclass(frozen=True, slots=True)
class AuthSettings:
    service_account_file: str
    service_account_json: str


@dataclass(frozen=True, slots=True)
class VertexSettings:
    project: str
    location: str
    publisher: str
    model: str
    base_url: str
    anthropic_version: str
    default_max_tokens: int
    request_timeout_s: float
    connect_timeout_s: float
    stream_idle_timeout_s: float
    max_connections: int
    anthropic_beta: tuple[str, ...]  # allow-listed anthropic-beta header values
    reject_unknown_models: bool
    models: tuple[ModelAlias, ...]


@dataclass(frozen=True, slots=True)
class StreamingSettings:
    mode: str  # auto | never | standard | buffered | always
    buffer_size: int
    chunk_timeout_ms: int
    keepalive_s: float
    non_streaming_agents: tuple[str, ...]
    buffered_agents: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ImagesSettings:
    fetch_remote: bool
    allow_private_networks: bool
    max_bytes: int  # per URL
    fetch_timeout_s: float  # per URL, redirects included
    max_per_request: int  # URLs fetched per request (0 = none)
    max_total_bytes: int  # bytes fetched for all the URLs of one request


@dataclass(frozen=True, slots=True)
class TranslationSettings:
    reasoning_content: bool  # expose Claude thinking as message.reasoning_content
    output_config: bool  # send output_config.effort where Vertex accepts it


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    prometheus: bool
    require_api_key: bool  # /metrics also needs a client API key (when keys are configured)


@dataclass(frozen=True, slots=True)
class Settings:
    server: ServerSettings
    auth: AuthSettings
    vertex: VertexSettings
    streaming: StreamingSettings
    images: ImagesSettings
    translation: TranslationSettings
    metrics: MetricsSettings
    emulator: bool = False  # --emulator: serve against the bundled in-process Vertex emulator
    # dotted key ("server.port") -> the layer that set it ("default", "system file /etc/…",
    # "user file …", ".env", "env MODELMUX_SERVER_PORT", "flag --port")
    origins: Mapping[str, str] = field(default_factory=dict)
    config_files: tuple[str, ...] = ()

    def origin(self, key: str) -> str:
        return self.origins.get(key, "default")
