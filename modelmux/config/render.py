"""Presentation: `config show` values, TOML literals, the sample file and the docs table."""

from __future__ import annotations

import json
from typing import Any

from modelmux import __version__
from modelmux.config.schema import SCHEMA, SECTIONS, Key, num
from modelmux.settings import ModelAlias, Settings


def effective_items(settings: Settings) -> list[tuple[Key, Any, str]]:
    """(key, value with secrets replaced by "***", origin) for every canonical key."""
    out = []
    for key in SCHEMA:
        if key.synonym_of:
            continue
        value = getattr(getattr(settings, key.section), key.name)
        if key.secret and value:
            value = "***"
        out.append((key, value, settings.origin(key.dotted)))
    return out


def _display(value: Any) -> str:
    if isinstance(value, (bool, int, float)):
        return toml_value(value)
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
        return num(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(type(value))


def _env_names(key: Key, quote: str = "") -> str:
    """The key's environment names, legacy ones marked, e.g. `MODELMUX_SERVER_PORT, PORT (legacy)`."""
    legacy = [f"{quote}{n}{quote} (legacy)" for n in key.legacy_env]
    return ", ".join([f"{quote}{key.env}{quote}", *legacy])


def _allowed_note(key: Key) -> str:
    """`Allowed: ….` for keys with choices or a range, else empty."""
    if key.choices or key.min is not None:
        return f"Allowed: {key.allowed()}."
    return ""


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
            if note := _allowed_note(key):
                lines.append(f"# {note}")
            lines.append(f"# Env: {_env_names(key)}; flag: {', '.join(key.flags)}")
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
        env = _env_names(key, "`")
        flags = ", ".join(f"`{f}`" for f in key.flags)
        meaning = key.help.replace("|", "\\|")
        if note := _allowed_note(key):
            meaning += f" {note}"
        if key.secret:
            meaning += " Secret: shown as `***`."
        rows.append(
            f"| `[{key.section}] {key.name}` | {env} | {flags} | {_doc_default(key)} | {meaning} |"
        )
    return "\n".join(rows) + "\n"


def version_line(prog: str) -> str:
    return f"{prog} {__version__}"
