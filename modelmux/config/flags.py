"""Flags (configargparse): one option per key, with its env var."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import configargparse

from modelmux.config.errors import UsageError
from modelmux.config.schema import CONFIG_ENV, SCHEMA, Key


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


def flag_used(argv: Sequence[str], key: Key) -> str:
    """Which of the key's option strings appeared last on the command line."""
    used = key.flag
    for tok in argv:
        if tok == "--":
            break
        opt = tok.split("=", 1)[0]
        if opt in key.flags:
            used = opt
    return used
