"""The settings schema and the layered loader that builds the frozen `Settings` once.

One table (`SCHEMA`) lists every key; TOML names, `MODELMUX_<SECTION>_<KEY>` environment names,
`--<section>-<key>` flags, defaults, validation, `--help` text, the commented sample config and
the documentation table are all derived from it, so they cannot drift apart.

Layers, highest wins: flags > environment (modelmux names, then legacy names) > `.env` in the
working directory > user file > system file > defaults. `--config FILE` replaces both file
layers. Files merge key by key. Every value remembers the layer that set it.

Nothing here touches the network; the only I/O is reading the config files, `.env` and the
service-account key file being checked.

Modules: `schema` (the Key rows), `values` (one value: convert, type-check, validate),
`dotenv`, `flags` (the configargparse parser), `loader` (layers, merge, origins,
`load_settings`), `checks` (credential files, API key file, readiness), `render` (`config show`,
the sample config, the docs table), `errors` (exit codes and exceptions).
"""

from modelmux.config.checks import (
    check_adc_file,
    check_ready,
    check_service_account_file,
    parse_api_keys,
    read_api_keys_file,
)
from modelmux.config.dotenv import parse_dotenv
from modelmux.config.errors import EX_CONFIG, EX_USAGE, ConfigError, UsageError
from modelmux.config.flags import build_parser
from modelmux.config.loader import check_toml_text, default_user_file, load_settings
from modelmux.config.render import (
    effective_items,
    jsonable,
    redacted,
    render_docs_table,
    render_sample,
    toml_value,
    version_line,
)
from modelmux.config.schema import (
    BUFFERED_AGENTS,
    CONFIG_ENV,
    KEYS,
    NON_STREAMING_AGENTS,
    SCHEMA,
    SECTIONS,
    SYSTEM_FILE,
    SYSTEM_FILE_ENV,
    Key,
)
from modelmux.config.values import coerce

__all__ = [
    "BUFFERED_AGENTS",
    "CONFIG_ENV",
    "EX_CONFIG",
    "EX_USAGE",
    "KEYS",
    "NON_STREAMING_AGENTS",
    "SCHEMA",
    "SECTIONS",
    "SYSTEM_FILE",
    "SYSTEM_FILE_ENV",
    "ConfigError",
    "Key",
    "UsageError",
    "build_parser",
    "check_adc_file",
    "check_ready",
    "check_service_account_file",
    "check_toml_text",
    "coerce",
    "default_user_file",
    "effective_items",
    "jsonable",
    "load_settings",
    "parse_api_keys",
    "parse_dotenv",
    "read_api_keys_file",
    "redacted",
    "render_docs_table",
    "render_sample",
    "toml_value",
    "version_line",
]
