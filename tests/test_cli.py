"""The real `modelmux` and `modelmuxd` console scripts, run as subprocesses in a clean world."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from modelmux import __version__

BIN = Path(sys.executable).parent
MODELMUX = str(BIN / "modelmux")
MODELMUXD = str(BIN / "modelmuxd")
SECRET = "sk-cli-secret-value-456"
_LEAKY_PREFIXES = ("MODELMUX_", "VERTEX_", "GOOGLE_")
_LEAKY_NAMES = {"PORT", "LOG_LEVEL", "LLM_PROVIDER", "VISUAL", "EDITOR", "XDG_CONFIG_HOME"}


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(_LEAKY_PREFIXES) and k not in _LEAKY_NAMES
    }
    env.update(
        HOME=str(tmp_path / "home"),
        XDG_CONFIG_HOME=str(tmp_path / "home" / ".config"),
        MODELMUX_SYSTEM_CONFIG=str(tmp_path / "system.toml"),
    )
    env.update(extra)
    return env


def user_file(tmp_path: Path) -> Path:
    return tmp_path / "home" / ".config" / "modelmux" / "config.toml"


def write_user(tmp_path: Path, text: str) -> Path:
    path = user_file(tmp_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def run(
    tmp_path: Path, *args: str, stdin: str = "", **extra: str
) -> subprocess.CompletedProcess[str]:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return subprocess.run(
        list(args),
        input=stdin,
        capture_output=True,
        text=True,
        env=clean_env(tmp_path, **extra),
        cwd=str(work),
        timeout=60,
    )


def service_account(path: Path) -> Path:
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "p",
                "private_key": "-----BEGIN PRIVATE KEY-----\nKEYBYTES\n-----END PRIVATE KEY-----\n",
                "client_email": "sa@p.iam.gserviceaccount.com",
                "token_uri": "https://oauth2.googleapis.com/token",
            }
        )
    )
    return path


READY = {
    "VERTEX_PROJECT": "my-proj",
    "VERTEX_LOCATION": "us-east5",
    "VERTEX_MODEL_ID": "claude-sonnet-4@20250514",
}


def one_line_error(result: subprocess.CompletedProcess[str], prog: str) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"{prog}: ")
    return lines[0]


# --- config show ---------------------------------------------------------------------------------


def test_config_show_names_origins_and_hides_secrets(tmp_path: Path) -> None:
    path = write_user(tmp_path, "[server]\nport = 4100\n")
    (tmp_path / "system.toml").write_text("[vertex]\nproject = 'sys-proj'\n")
    r = run(tmp_path, MODELMUX, "config", "show", "--log-level", "debug",
            MODELMUX_SERVER_API_KEYS=SECRET, VERTEX_REGION="europe-west1")  # fmt: skip
    assert r.returncode == 0, r.stderr
    lines = {line.split()[0]: line for line in r.stdout.splitlines() if not line.startswith("#")}
    assert lines["server.port"].endswith(f"user file {path}")
    assert lines["vertex.project"].endswith(f"system file {tmp_path / 'system.toml'}")
    assert lines["server.log_level"].endswith("flag --log-level")
    assert lines["vertex.location"].endswith("env VERTEX_REGION (legacy)")
    assert "***" in lines["server.api_keys"]
    assert lines["server.host"].endswith("default")
    assert SECRET not in r.stdout + r.stderr

    r = run(tmp_path, MODELMUX, "config", "show", "--json", MODELMUX_SERVER_API_KEYS=SECRET)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["settings"]["server.port"] == {"value": 4100, "origin": f"user file {path}"}
    assert data["settings"]["server.api_keys"]["value"] == "***"
    assert data["config_files"] == [str(tmp_path / "system.toml"), str(path)]
    assert SECRET not in r.stdout


# --- config validate -----------------------------------------------------------------------------


def test_config_validate_exit_codes(tmp_path: Path) -> None:
    r = run(tmp_path, MODELMUX, "config", "validate", **READY)
    assert (r.returncode, r.stdout.strip()) == (0, "ok"), r.stderr

    r = run(tmp_path, MODELMUX, "config", "validate")
    assert r.returncode == 78
    assert "vertex.project is not set" in one_line_error(r, "modelmux")

    write_user(tmp_path, "[server]\nport = 99999\n")
    r = run(tmp_path, MODELMUX, "config", "validate", **READY)
    assert r.returncode == 78
    line = one_line_error(r, "modelmux")
    assert str(user_file(tmp_path)) in line and "allowed: 0 to 65535" in line

    r = run(tmp_path, MODELMUX, "config", "validate", "--no-such-flag", **READY)
    assert r.returncode == 64


# --- config init ---------------------------------------------------------------------------------


def test_config_init_non_interactive_writes_a_private_file_that_loads(tmp_path: Path) -> None:
    sa = service_account(tmp_path / "sa.json")
    args = [MODELMUX, "config", "init", "--non-interactive", "--project", "my-proj",
            "--location", "global", "--model", "claude-sonnet-4@20250514",
            "--alias", "sonnet=claude-sonnet-4@20250514", "--credentials-file", str(sa),
            "--port", "4200", "--log-level", "debug"]  # fmt: skip
    r = run(tmp_path, *args)
    assert r.returncode == 0, r.stderr
    path = user_file(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    r = run(tmp_path, MODELMUX, "config", "show", "--json")
    data = json.loads(r.stdout)["settings"]
    assert data["server.port"] == {"value": 4200, "origin": f"user file {path}"}
    assert data["vertex.project"]["value"] == "my-proj"
    assert data["vertex.models"]["value"] == [
        {"name": "sonnet", "id": "claude-sonnet-4@20250514", "location": ""}
    ]
    assert data["auth.service_account_file"]["value"] == str(sa)
    assert run(tmp_path, MODELMUX, "config", "validate").returncode == 0

    r = run(tmp_path, *args)  # exists: refuses without --force
    assert r.returncode == 64 and "--force" in r.stderr
    r = run(tmp_path, *args, "--port", "4300", "--force")
    assert r.returncode == 0, r.stderr
    assert "port = 4300" in path.read_text()

    r = run(tmp_path, *args, "--force", "--port", "99999")
    assert r.returncode == 64 and "--port" in r.stderr
    r = run(tmp_path, MODELMUX, "config", "init", "--non-interactive", "--project", "p-1")
    assert r.returncode == 64 and "--location" in r.stderr


def test_config_init_wizard_reasks_bad_answers(tmp_path: Path) -> None:
    sa = service_account(tmp_path / "sa.json")
    answers = [
        "bad project!",  # rejected
        "wizard-proj",
        "on the moon",  # rejected
        "europe-west1",
        "",  # default model
        "sonnet=claude-sonnet-4@20250514, haiku",  # rejected: not NAME=ID
        "sonnet=claude-sonnet-4@20250514",
        str(tmp_path / "missing.json"),  # rejected: unreadable
        str(sa),
        "",  # default host
        "99999",  # rejected
        "4400",
        "loud",  # rejected
        "debug",
        "y",  # write
    ]
    r = run(tmp_path, MODELMUX, "config", "init", stdin="\n".join(answers) + "\n")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("invalid:") == 6, r.stdout
    assert "allowed: 0 to 65535" in r.stdout
    path = user_file(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert 'project = "wizard-proj"' in text and "port = 4400" in text
    assert f"--- {path} ---" in r.stdout  # the TOML was shown before writing
    r = run(tmp_path, MODELMUX, "config", "validate")
    assert r.returncode == 0, r.stderr

    # the file exists now: declining the overwrite leaves it alone
    answers = ["other-proj", "", "", "", "", "", "", "", "n"]
    r = run(tmp_path, MODELMUX, "config", "init", stdin="\n".join(answers) + "\n")
    assert r.returncode == 0 and "Overwrite" in r.stdout
    assert path.read_text() == text
    # input that ends early writes nothing
    r = run(tmp_path, MODELMUX, "config", "init", "--path", str(tmp_path / "x.toml"), stdin="p\n")
    assert r.returncode == 64 and not (tmp_path / "x.toml").exists()


# --- config edit ---------------------------------------------------------------------------------


def _editor(tmp_path: Path, name: str, body: str) -> str:
    script = tmp_path / name
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


def test_config_edit_creates_from_sample_and_validates(tmp_path: Path) -> None:
    good = _editor(tmp_path, "good-editor", "sed -i 's/^#port = 3000/port = 4500/' \"$1\"")
    r = run(tmp_path, MODELMUX, "config", "edit", EDITOR=good)
    assert r.returncode == 0, r.stderr
    path = user_file(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "#host = " in path.read_text()  # started from the commented sample
    assert "port = 4500" in path.read_text()

    bad = _editor(tmp_path, "bad-editor", 'echo "[server]\\nbogus = 1" > "$1"')
    r = run(tmp_path, MODELMUX, "config", "edit", VISUAL=bad, EDITOR=good)
    assert r.returncode == 78
    assert "'bogus'" in one_line_error(r, "modelmux")


# --- modelmuxd -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setup", "args", "expected"),
    [
        ({"user": "[server\n"}, [], "invalid TOML"),
        ({"user": "[server]\nprot = 1\n"}, [], "unknown key 'prot'"),
        ({}, ["--port", "99999"], "allowed: 0 to 65535"),
        ({"env": {"MODELMUX_AUTH_SERVICE_ACCOUNT_FILE": "/nonexistent/key.json"}}, [],
         "cannot read /nonexistent/key.json"),
        ({"env": {"MODELMUX_SERVER_API_KEYS": "[" + SECRET}}, [], "server.api_keys"),
        ({"no_ready": True}, [], "vertex.project is not set"),
    ],
    ids=["bad-toml", "unknown-key", "port-range", "unreadable-key", "secret-not-echoed", "no-project"],
)  # fmt: skip
def test_daemon_invalid_settings_exit_78(
    tmp_path: Path, setup: dict[str, Any], args: list[str], expected: str
) -> None:
    if "user" in setup:
        write_user(tmp_path, str(setup["user"]))
    env = {} if setup.get("no_ready") else dict(READY)
    env.update(setup.get("env", {}))
    r = run(tmp_path, MODELMUXD, *args, **env)
    assert r.returncode == 78, r.stderr
    line = one_line_error(r, "modelmuxd")
    assert expected in line
    assert SECRET not in r.stderr


@pytest.mark.parametrize("args", [["--bogus"], ["--port", "abc"], ["--port"]])
def test_daemon_bad_flag_exits_64(tmp_path: Path, args: list[str]) -> None:
    r = run(tmp_path, MODELMUXD, *args, **READY)
    assert r.returncode == 64
    one_line_error(r, "modelmuxd")


def test_versions_and_help(tmp_path: Path) -> None:
    write_user(tmp_path, "[broken\n")  # --version and --help work even with a broken config
    r = run(tmp_path, MODELMUXD, "--version")
    assert (r.returncode, r.stdout.strip()) == (0, f"modelmuxd {__version__}")
    r = run(tmp_path, MODELMUX, "--version")
    assert (r.returncode, r.stdout.strip()) == (0, f"modelmux {__version__}")
    r = run(tmp_path, MODELMUXD, "--help")
    assert r.returncode == 0
    assert "--vertex-project" in r.stdout and "MODELMUX_VERTEX_PROJECT" in r.stdout
    r = run(tmp_path, MODELMUX)
    assert r.returncode == 64
