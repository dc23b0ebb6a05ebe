"""The CLI entry points called in-process, with the server, the probe and the emulator faked."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pytest

from modelmux import cli
from modelmux.errors import CredentialsError, UpstreamError
from modelmux.settings import Settings


@pytest.fixture(autouse=True)
def clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith(("MODELMUX_", "VERTEX_", "GOOGLE_")) or name in (
            "PORT",
            "LOG_LEVEL",
            "LLM_PROVIDER",
        ):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home" / ".config"))
    monkeypatch.setenv("MODELMUX_SYSTEM_CONFIG", str(tmp_path / "system.toml"))
    monkeypatch.chdir(tmp_path)


def test_daemon_main_hands_settings_to_server_run(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Settings] = []

    def fake_run(settings: Settings, reload: Any = None) -> int:
        seen.append(settings)
        assert reload is not None and reload().server.log_level == "debug"  # same flags
        return 0

    monkeypatch.setattr("modelmux.server.run", fake_run)
    assert cli.daemon_main(["--emulator", "--port", "0", "--log-level", "debug"]) == 0
    (settings,) = seen
    assert settings.emulator is True and settings.server.port == 0
    assert settings.origins["server.log_level"] == "flag --log-level"


def test_daemon_main_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.daemon_main(["--nope"]) == 64
    assert cli.daemon_main(["--emulator", "--streaming-mode", "sometimes"]) == 78
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("modelmuxd: unrecognized arguments: --nope")
    assert err[1].startswith("modelmuxd: flag --streaming-mode: streaming.mode")


@pytest.mark.parametrize(
    ("outcome", "code", "text"),
    [
        ("global endpoint answered", 0, "ok: global endpoint answered"),
        (CredentialsError("token fetch failed"), 78, "online check failed: token fetch failed"),
        (UpstreamError("vertex said 500"), 69, "online check failed: vertex said 500"),
    ],
)
def test_validate_online_uses_probe(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], outcome: Any, code: int,
    text: str,
) -> None:  # fmt: skip
    async def fake_probe(settings: Settings) -> str:
        assert settings.vertex.project == "p-1"
        if isinstance(outcome, Exception):
            raise outcome
        return str(outcome)

    monkeypatch.setattr("modelmux.upstream.probe", fake_probe)
    monkeypatch.setenv("VERTEX_PROJECT", "p-1")
    monkeypatch.setenv("VERTEX_LOCATION", "global")
    monkeypatch.setenv("VERTEX_MODEL_ID", "claude-sonnet-4@20250514")
    assert cli.main(["config", "validate", "--online"]) == code
    out = capsys.readouterr()
    assert text in (out.out if code == 0 else out.err)


def test_emulator_subcommand_delegates_all_args(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []
    fake = types.ModuleType("modelmux.emulator.cli")
    fake.main = lambda argv: calls.append(list(argv)) or 0  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "modelmux.emulator.cli", fake)
    assert cli.main(["emulator", "--port", "0", "--help"]) == 0
    assert calls == [["--port", "0", "--help"]]
