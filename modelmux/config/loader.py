"""The layered loader that builds the frozen `Settings` once (and again on reload).

Layers, highest wins: flags > environment (modelmux names, then legacy names) > `.env` in the
working directory > user file > system file > defaults. `--config FILE` replaces both file
layers. Files merge key by key. Every value remembers the layer that set it (its origin).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from modelmux.config.checks import check_credentials
from modelmux.config.dotenv import read_dotenv
from modelmux.config.errors import ConfigError, UsageError, reported_as
from modelmux.config.flags import build_parser, flag_used
from modelmux.config.schema import (
    BY_DOTTED,
    CONFIG_ENV,
    LEGACY_ENV,
    SCHEMA,
    SECTIONS,
    SYSTEM_FILE,
    SYSTEM_FILE_ENV,
    Key,
)
from modelmux.config.values import coerce, from_text, tname, typed, validate
from modelmux.settings import (
    AuthSettings,
    ImagesSettings,
    MetricsSettings,
    ServerSettings,
    Settings,
    StreamingSettings,
    TranslationSettings,
    VertexSettings,
)

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


def _resolved(key: Key, value: Any, base_dir: str) -> Any:
    """A path key's value made absolute against `base_dir`; any other value unchanged."""
    return _resolve_path(value, base_dir) if key.type == "path" else value


def _layer_value(key: Key, raw: Any, where: str, base_dir: str, *, text: bool) -> Any:
    """One file or environment value, ready for its layer; a bad one is a ConfigError
    that starts with `where`."""
    with reported_as(where):
        value = coerce(key, raw, text=text)
    return _resolved(key, value, base_dir)


def _parse_toml(text: str, label: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        # tomllib's message ends with "(at line N, column M)"; keep it on one line.
        raise ConfigError(f"{label}: invalid TOML: {' '.join(str(e).split())}") from None


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
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{label}: invalid TOML: not UTF-8 text") from None
    return _parse_toml(text, label)


def _file_layer(data: Mapping[str, Any], label: str, path: str) -> _Values:
    values: _Values = {}
    base_dir = os.path.dirname(os.path.abspath(path))
    for section, table in data.items():
        if section not in SECTIONS:
            raise ConfigError(
                f"{label}: unknown section [{section}] (allowed: {', '.join(SECTIONS)})"
            )
        if not isinstance(table, dict):
            raise ConfigError(f"{label}: {section} must be a table [{section}], got {tname(table)}")
        names = [k.name for k in SCHEMA if k.section == section]
        for name, raw in table.items():
            key = BY_DOTTED.get(f"{section}.{name}")
            if key is None:
                raise ConfigError(
                    f"{label}: unknown key {name!r} in [{section}] (allowed: {', '.join(names)})"
                )
            where = f"{label}: [{section}] {name}"
            values[key.dotted] = (_layer_value(key, raw, where, base_dir, text=False), label)
    return _fold_synonyms(values)


def check_toml_text(text: str, label: str, path: str) -> None:
    """Raise ConfigError unless `text` is a valid config file (used before writing one)."""
    _file_layer(_parse_toml(text, label), label, path)


def _fold_synonyms(values: _Values) -> _Values:
    """Within one layer, a synonym (region) sets its canonical key unless that is set too."""
    out: _Values = {}
    for dotted, item in values.items():
        key = BY_DOTTED[dotted]
        if key.synonym_of:
            if key.target not in values:
                out.setdefault(key.target, item)
        else:
            out[dotted] = item
    return out


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
    dotenv = read_dotenv(dotenv_path, dotenv_label)

    flag_values: _Values = {}
    env_values: _Values = {}
    dotenv_values: _Values = {}

    def env_origin(name: str, legacy: bool = False) -> str:
        if name in environ:
            return f"env {name}" + (" (legacy)" if legacy else "")
        return dotenv_label

    def env_layer(name: str) -> _Values:
        """The real environment's layer, or the `.env` one for names only `.env` sets."""
        return env_values if name in environ else dotenv_values

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

    for key in SCHEMA:
        if not hasattr(ns, key.dest):
            continue
        raw = getattr(ns, key.dest)
        if key.env in env_used:
            origin = env_origin(key.env)
            value = _layer_value(key, raw, f"{origin}: {key.dotted}", cwd, text=True)
            env_layer(key.env)[key.dotted] = (value, origin)
        else:
            flag = flag_used(argv, key)
            with reported_as(flag, UsageError):
                value = typed(key, from_text(key, raw))
            with reported_as(f"flag {flag}: {key.dotted}"):
                value = validate(key, value)
            flag_values[key.dotted] = (_resolved(key, value, cwd), f"flag {flag}")

    # legacy names sit below MODELMUX_* in the same environment layer
    for name, key in LEGACY_ENV.items():
        if name not in merged_env:
            continue
        target = env_layer(name)
        if key.dotted in target:
            continue
        origin = env_origin(name, legacy=True)
        value = _layer_value(key, merged_env[name], f"{origin}: {key.dotted}", cwd, text=True)
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
        k.dotted: (typed(k, k.default), "default") for k in SCHEMA if not k.synonym_of
    }
    for layer in (*file_layers, _fold_synonyms(dotenv_values), _fold_synonyms(env_values),
                  _fold_synonyms(flag_values)):  # fmt: skip
        effective.update(layer)

    file_keys = check_credentials(effective)
    return _build(effective, emulator=hasattr(ns, "emulator"), config_files=read_files,
                  file_api_keys=file_keys)  # fmt: skip


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
