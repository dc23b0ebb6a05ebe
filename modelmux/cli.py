"""The `modelmuxd` daemon entry point and the `modelmux` companion CLI.

Both are thin: load settings, map failures to exit codes (64 usage, 78 config), hand over.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

from modelmux.config import (
    CONFIG_ENV,
    EX_CONFIG,
    EX_USAGE,
    KEYS,
    ConfigError,
    UsageError,
    build_parser,
    check_adc_file,
    check_ready,
    check_service_account_file,
    check_toml_text,
    coerce,
    default_user_file,
    effective_items,
    jsonable,
    load_settings,
    redacted,
    render_sample,
    toml_value,
    version_line,
)
from modelmux.settings import Settings

EX_OK = 0
EX_UNAVAILABLE = 69  # `config validate --online`: upstream unreachable or failing
EX_SOFTWARE = 70  # a component this build lacks

LOCATION_CHOICES = ("global", "us", "eu", "us-east5", "us-central1", "europe-west1",
                    "europe-west4", "asia-southeast1", "asia-east1")  # fmt: skip
DEFAULT_MODEL = "claude-sonnet-4@20250514"


def _err(prog: str, message: str) -> None:
    print(f"{prog}: {' '.join(str(message).split())}", file=sys.stderr)


# --------------------------------------------------------------------------------------------
# modelmuxd
# --------------------------------------------------------------------------------------------


def daemon_main(argv: Sequence[str] | None = None) -> int:
    """`modelmuxd`: load settings, then `modelmux.server.run(settings)`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    options = argv[: argv.index("--")] if "--" in argv else argv
    if "-h" in options or "--help" in options:
        print(build_parser("modelmuxd").format_help(), end="")
        return EX_OK
    if "--version" in options:
        print(version_line("modelmuxd"))
        return EX_OK
    # A reload (SIGHUP) sees what start-up saw: the same flags, environment and directory.
    environ = dict(os.environ)
    cwd = os.getcwd()

    def load() -> Settings:
        settings = load_settings(argv, environ=environ, cwd=cwd)
        check_ready(settings)
        return settings

    try:
        settings = load()
    except UsageError as e:
        _err("modelmuxd", f"{e} (see modelmuxd --help)")
        return EX_USAGE
    except ConfigError as e:
        _err("modelmuxd", str(e))
        return EX_CONFIG

    from modelmux.server import run  # lazily: the CLI must work without the server stack

    return run(settings, reload=load)


# --------------------------------------------------------------------------------------------
# modelmux
# --------------------------------------------------------------------------------------------


class _ArgParser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise UsageError(f"{message} (see {self.prog} --help)")


def _cli_parser() -> _ArgParser:
    p = _ArgParser(prog="modelmux", description="Companion CLI of the modelmux proxy.",
                   allow_abbrev=False)  # fmt: skip
    p.add_argument("--version", action="store_true", help="print the version and exit")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_ArgParser)
    cfg = sub.add_parser("config", help="create, show, check or edit the configuration")
    p.set_defaults(config_parser=cfg)
    csub = cfg.add_subparsers(dest="action", metavar="ACTION", parser_class=_ArgParser)

    init = csub.add_parser("init", help="write the user config file (interactive wizard)",
                           allow_abbrev=False)  # fmt: skip
    init.add_argument("--non-interactive", action="store_true",
                      help="take every answer from flags, ask nothing")  # fmt: skip
    init.add_argument("--path", help="write here instead of the user config file")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    init.add_argument("--project", help="Google Cloud project ID")
    init.add_argument("--location", help="Vertex location: global, us, eu or a region")
    init.add_argument("--model", help=f"default Vertex model ID (e.g. {DEFAULT_MODEL})")
    init.add_argument("--alias", action="append", default=[], metavar="NAME=ID",
                      help="a model alias clients may name; repeatable")  # fmt: skip
    init.add_argument("--credentials-file", metavar="PATH",
                      help="service-account JSON key (omit for Application Default Credentials)")  # fmt: skip
    init.add_argument("--host", help="listen address (default 127.0.0.1)")
    init.add_argument("--port", help="listen port (default 3000)")
    init.add_argument("--log-level", help="trace, debug, info, warning or error")

    show = csub.add_parser("show", help="print effective values and where each came from",
                           allow_abbrev=False)  # fmt: skip
    show.add_argument("--json", action="store_true", help="print JSON")
    validate = csub.add_parser("validate", help="check the configuration (exit 0 or 78)",
                               allow_abbrev=False)  # fmt: skip
    validate.add_argument("--online", action="store_true",
                          help="also fetch a token and make a minimal upstream call")  # fmt: skip
    edit = csub.add_parser("edit", help="open the user config file in $VISUAL/$EDITOR",
                           allow_abbrev=False)  # fmt: skip
    edit.add_argument("--path", help="edit this file instead of the user config file")
    for sp in (show, validate):
        sp.epilog = "Any modelmuxd flag (e.g. --config FILE, --port N) may follow."
    sub.add_parser("emulator", help="run the bundled Vertex AI emulator (see emulator --help)",
                   add_help=False)  # fmt: skip
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """`modelmux`: config init|show|validate|edit, emulator."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["emulator"]:
        return _emulator(argv[1:])
    parser = _cli_parser()
    try:
        try:
            args, rest = parser.parse_known_args(argv)
        except SystemExit as e:  # --help
            return int(e.code or 0)
        if args.version:
            print(version_line("modelmux"))
            return EX_OK
        if args.command != "config" or not args.action:
            if rest:
                raise UsageError(f"unrecognized arguments: {' '.join(rest)}")
            shown = args.config_parser if args.command == "config" else parser
            shown.print_help(sys.stderr)
            return EX_USAGE
        if args.action in ("init", "edit") and rest:
            raise UsageError(
                f"unrecognized arguments: {' '.join(rest)} (see modelmux config {args.action} --help)"
            )
        handler: Callable[..., int] = {"init": _config_init, "show": _config_show,
                                       "validate": _config_validate, "edit": _config_edit}[args.action]  # fmt: skip
        return handler(args, rest)
    except BrokenPipeError:  # `modelmux config show | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # quiet exit flush
        return EX_OK
    except UsageError as e:
        _err("modelmux", str(e))
        return EX_USAGE
    except ConfigError as e:
        _err("modelmux", str(e))
        return EX_CONFIG


def _emulator(argv: list[str]) -> int:
    try:
        from modelmux.emulator.cli import main as emulator_main
    except ImportError as e:
        _err("modelmux", f"the emulator is not available in this build ({e})")
        return EX_SOFTWARE
    return int(emulator_main(argv) or 0)


# --- config show / validate ------------------------------------------------------------------


def _config_show(args: argparse.Namespace, rest: list[str]) -> int:
    settings = load_settings(rest)
    if args.json:
        out = {
            "config_files": list(settings.config_files),
            "settings": {
                key.dotted: {"value": jsonable(value), "origin": origin}
                for key, value, origin in effective_items(settings)
            },
        }
        print(json.dumps(out, indent=2))
        return EX_OK
    rows = redacted(settings)
    kw = max(len(k) for k, _, _ in rows)
    vw = min(40, max(len(v) for _, v, _ in rows))
    files = ", ".join(settings.config_files) or "none"
    print(f"# config files read: {files}")
    for key, value, origin in rows:
        print(f"{key:<{kw}}  {value:<{vw}}  {origin}")
    return EX_OK


def _config_validate(args: argparse.Namespace, rest: list[str]) -> int:
    settings = load_settings(rest)
    check_ready(settings)
    check_adc_file(settings, os.environ)
    if not args.online:
        print("ok")
        return EX_OK
    try:
        from modelmux.errors import ModelmuxError
        from modelmux.upstream import probe
    except ImportError as e:
        _err("modelmux", f"--online is not available in this build ({e})")
        return EX_SOFTWARE
    try:
        summary = asyncio.run(probe(settings))
    except ModelmuxError as e:
        _err("modelmux", f"online check failed: {e.message}")
        return (
            EX_CONFIG
            if e.status < 500 or e.code == "upstream_credentials_failed"
            else EX_UNAVAILABLE
        )
    print(f"ok: {summary}")
    return EX_OK


# --- config edit -----------------------------------------------------------------------------


def _write_private(path: str, text: str) -> None:
    """Write `text` to `path` atomically with mode 0600, creating the directory (0700)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".config.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _target_path(explicit: str | None) -> str:
    path = explicit or os.environ.get(CONFIG_ENV) or default_user_file(os.environ)
    return os.path.abspath(os.path.expanduser(path))


def _editor_command() -> list[str]:
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
    if editor:
        return shlex.split(editor)
    return ["editor" if shutil.which("editor") else "vi"]


def _config_edit(args: argparse.Namespace, rest: list[str]) -> int:
    path = _target_path(args.path)
    if not os.path.exists(path):
        _write_private(path, render_sample())
        print(f"created {path} from the sample")
    interactive = sys.stdin.isatty()
    while True:
        try:
            status = subprocess.call([*_editor_command(), path])
        except OSError as e:
            _err("modelmux", f"cannot run the editor ({e.strerror or e}); set $VISUAL or $EDITOR")
            return EX_CONFIG
        if status != 0:
            _err("modelmux", f"the editor exited with status {status}")
        try:
            load_settings(["--config", path])
        except (ConfigError, UsageError) as e:
            _err("modelmux", str(e))
            if interactive and _confirm(sys.stdin, sys.stdout, "Edit again?", True):
                continue
            return EX_CONFIG
        print(f"{path}: ok")
        return EX_OK


# --- config init -----------------------------------------------------------------------------


class _Abort(Exception):
    pass


def _readline(stdin: TextIO) -> str:
    line = stdin.readline()
    if not line:
        raise _Abort("input ended before the wizard finished")
    return line.strip()


def _confirm(stdin: TextIO, stdout: TextIO, question: str, default: bool) -> bool:
    hint = "[Y/n]" if default else "[y/N]"
    while True:
        stdout.write(f"{question} {hint} ")
        stdout.flush()
        answer = _readline(stdin).lower()
        if not answer:
            return default
        if answer in ("y", "yes"):
            return True
        if answer in ("n", "no"):
            return False
        stdout.write("  please answer y or n\n")


def _ask(stdin: TextIO, stdout: TextIO, question: str, default: str,
         check: Callable[[str], Any]) -> Any:  # fmt: skip
    """Ask until `check(answer)` passes; `check` raises _Bad (or ValueError) with the reason."""
    while True:
        suffix = f" [{default}]" if default else ""
        stdout.write(f"{question}{suffix}: ")
        stdout.flush()
        answer = _readline(stdin) or default
        try:
            return check(answer)
        except ValueError as e:
            stdout.write(f"  invalid: {e}; please try again\n")


def _check_key(dotted: str, required: bool = False) -> Callable[[str], Any]:
    key = KEYS[dotted]

    def check(answer: str) -> Any:
        if required and not answer.strip():
            raise ValueError("an answer is required")
        return coerce(key, answer, text=True)

    return check


def _check_aliases(answer: str) -> list[dict[str, str]]:
    items = [a.strip() for a in answer.split(",") if a.strip()] if answer.strip() != "-" else []
    return [_parse_alias(a) for a in items]


def _parse_alias(text: str) -> dict[str, str]:
    name, sep, model_id = text.partition("=")
    if not sep or not name.strip() or not model_id.strip():
        raise ValueError(f"{text!r} is not NAME=ID (e.g. claude-sonnet=claude-sonnet-4@20250514)")
    item = {"name": name.strip(), "id": model_id.strip()}
    coerce(KEYS["vertex.models"], [item], text=False)
    return item


def _check_credentials(answer: str) -> str:
    if not answer.strip() or answer.strip().lower() == "adc":
        return ""
    path = os.path.abspath(os.path.expanduser(answer.strip()))
    check_service_account_file(path)
    return path


def _render_init(answers: Mapping[str, Any]) -> str:
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"# Written by `modelmux config init` on {stamp}.",
        "# See `modelmux config show` for every effective value and its origin.",
        "",
        "[server]",
        f"host = {toml_value(answers['host'])}",
        f"port = {answers['port']}",
        f"log_level = {toml_value(answers['log_level'])}",
        "",
        "[auth]",
    ]
    if answers["credentials"]:
        lines.append(f"service_account_file = {toml_value(answers['credentials'])}")
    else:
        lines.append(
            "# No key file: Application Default Credentials "
            "(GOOGLE_APPLICATION_CREDENTIALS, gcloud, metadata server)."
        )
    lines += [
        "",
        "[vertex]",
        f"project = {toml_value(answers['project'])}",
        f"location = {toml_value(answers['location'])}",
        f"model = {toml_value(answers['model'])}",
    ]
    for alias in answers["aliases"]:
        lines += ["", "[[vertex.models]]", f"name = {toml_value(alias['name'])}",
                  f"id = {toml_value(alias['id'])}"]  # fmt: skip
    return "\n".join(lines) + "\n"


def _current_defaults() -> dict[str, Any]:
    """Pre-fill the wizard from today's effective settings, when they load."""
    try:
        s = load_settings([])
    except (ConfigError, UsageError):
        return {}
    return {
        "project": s.vertex.project,
        "location": s.vertex.location,
        "model": s.vertex.model,
        "aliases": ", ".join(f"{m.name}={m.id}" for m in s.vertex.models),
        "credentials": s.auth.service_account_file,
        "host": s.server.host,
        "port": str(s.server.port),
        "log_level": s.server.log_level,
    }


def _wizard(stdin: TextIO, stdout: TextIO, path: str) -> dict[str, Any]:
    d = _current_defaults()
    out: dict[str, Any] = {}
    stdout.write(f"modelmux setup: writes {path}. Press Enter to accept [defaults].\n\n")
    out["project"] = _ask(stdin, stdout, "Google Cloud project ID", d.get("project", ""),
                          _check_key("vertex.project", required=True))  # fmt: skip
    stdout.write(
        "Vertex location: global (recommended, any region), the multi-regions us / eu,\n"
        f"  or a region such as {', '.join(LOCATION_CHOICES[3:])}\n"
    )
    out["location"] = _ask(stdin, stdout, "Location", d.get("location") or "global",
                           _check_key("vertex.location", required=True))  # fmt: skip
    out["model"] = _ask(stdin, stdout, "Default Vertex model ID", d.get("model") or DEFAULT_MODEL,
                        _check_key("vertex.model", required=True))  # fmt: skip
    stdout.write("Model aliases clients may send as `model`, as NAME=ID, comma-separated\n")
    out["aliases"] = _ask(stdin, stdout, "Aliases (empty for none, - to clear)",
                          d.get("aliases", ""), _check_aliases)  # fmt: skip
    stdout.write("Credentials: a service-account JSON key file, or empty for Application\n"
                 "  Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud, metadata server)\n")  # fmt: skip
    out["credentials"] = _ask(stdin, stdout, "Service-account key file",
                              d.get("credentials", ""), _check_credentials)  # fmt: skip
    out["host"] = _ask(stdin, stdout, "Listen address", d.get("host", "127.0.0.1"),
                       _check_key("server.host"))  # fmt: skip
    out["port"] = _ask(stdin, stdout, "Listen port", d.get("port", "3000"),
                       _check_key("server.port"))  # fmt: skip
    out["log_level"] = _ask(stdin, stdout, "Log level (trace, debug, info, warning, error)",
                            d.get("log_level", "info"), _check_key("server.log_level"))  # fmt: skip
    return out


def _from_flags(args: argparse.Namespace) -> dict[str, Any]:
    missing = [f"--{n}" for n in ("project", "location") if not getattr(args, n)]
    if not args.model and not args.alias:
        missing.append("--model")
    if missing:
        raise UsageError(f"--non-interactive needs {', '.join(missing)}")
    checks: list[tuple[str, str, str | None, Callable[[str], Any]]] = [
        ("project", "--project", args.project, _check_key("vertex.project")),
        ("location", "--location", args.location, _check_key("vertex.location")),
        ("model", "--model", args.model or "", _check_key("vertex.model")),
        ("credentials", "--credentials-file", args.credentials_file or "", _check_credentials),
        ("host", "--host", args.host or "127.0.0.1", _check_key("server.host")),
        ("port", "--port", args.port or "3000", _check_key("server.port")),
        ("log_level", "--log-level", args.log_level or "info", _check_key("server.log_level")),
    ]
    out: dict[str, Any] = {}
    for name, flag, value, check in checks:
        try:
            out[name] = check(value or "")
        except ValueError as e:
            raise UsageError(f"{flag}: {e}") from None
    try:
        out["aliases"] = [_parse_alias(a) for a in args.alias]
    except ValueError as e:
        raise UsageError(f"--alias: {e}") from None
    return out


def _config_init(args: argparse.Namespace, rest: list[str]) -> int:
    path = _target_path(args.path)
    exists = os.path.exists(path)
    stdin, stdout = sys.stdin, sys.stdout
    if args.non_interactive:
        answers = _from_flags(args)
        if exists and not args.force:
            raise UsageError(f"{path} exists; pass --force to overwrite it")
    else:
        try:
            answers = _wizard(stdin, stdout, path)
        except _Abort as e:
            _err("modelmux", f"{e}; nothing written")
            return EX_USAGE
    text = _render_init(answers)
    check_toml_text(text, f"generated config for {path}", path)  # belt and braces
    if not args.non_interactive:
        stdout.write(f"\n--- {path} ---\n{text}---\n")
        try:
            if exists and not args.force:
                ok = _confirm(stdin, stdout, f"{path} exists. Overwrite it?", False)
            else:
                ok = _confirm(stdin, stdout, f"Write {path}?", True)
        except _Abort as e:
            _err("modelmux", f"{e}; nothing written")
            return EX_USAGE
        if not ok:
            print("nothing written")
            return EX_OK
    _write_private(path, text)
    print(f"wrote {path} (mode 0600); check it with: modelmux config validate")
    return EX_OK
