"""Shared fixtures: a clean environment, the Vertex emulator on a loopback port (in a thread, so
sync and async tests alike can use it), and the real daemon started as a subprocess."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests

BIN = Path(sys.executable).parent
MODELMUXD = str(BIN / "modelmuxd")
MODELMUX = str(BIN / "modelmux")

_LEAKY = ("MODELMUX_", "VERTEX_", "GOOGLE_", "GCE_")
_LEAKY_NAMES = {"PORT", "LOG_LEVEL", "LLM_PROVIDER", "NOTIFY_SOCKET"}


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The test process's environment without anything that configures modelmux."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(_LEAKY) and k not in _LEAKY_NAMES
    }
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        MODELMUX_SYSTEM_CONFIG=str(home / "no-system-config.toml"),
        PYTHONUNBUFFERED="1",
        NO_GCE_CHECK="True",  # never probe a metadata server from tests
    )
    env.update(extra)
    return env


class EmulatorThread:
    """The bundled emulator on its own event loop in a background thread."""

    def __init__(self, key_dir: Path, token_ttl_s: float = 3600) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        from modelmux.emulator import start_emulator

        self.handle: Any = asyncio.run_coroutine_threadsafe(
            start_emulator(port=0, key_dir=str(key_dir), token_ttl_s=token_ttl_s), self._loop
        ).result(timeout=30)
        self.base_url: str = self.handle.base_url
        self.credentials_file: str = self.handle.credentials_file

    def stats(self) -> dict[str, Any]:
        return requests.get(f"{self.base_url}/_emulator/stats", timeout=5).json()

    def requests(self) -> list[dict[str, Any]]:
        return requests.get(f"{self.base_url}/_emulator/requests", timeout=5).json()

    def reset(self) -> None:
        requests.post(f"{self.base_url}/_emulator/reset", timeout=5)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.handle.stop(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)


class Daemon:
    """`modelmuxd` as a subprocess; ready once it logs its `listening` line."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [MODELMUXD, "--port", "0", "--log-format", "json", *args],
            env=env,
            cwd=str(cwd),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._listening = threading.Event()
        self.port = 0
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._listening.wait(timeout=30):
            self.stop()
            raise RuntimeError("daemon did not start:\n" + "\n".join(self.lines))
        self.base_url = f"http://127.0.0.1:{self.port}"

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if not self._listening.is_set() and '"listening"' in line:
                self.port = orjson.loads(line)["port"]
                self._listening.set()
        self._listening.set()  # the process ended: stop waiting

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        out = []
        for line in list(self.lines):
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if name is None or record.get("event") == name:
                out.append(record)
        return out

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 30) -> int:
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return code

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.wait()


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorThread]:
    emu = EmulatorThread(tmp_path_factory.mktemp("emulator-keys"))
    yield emu
    emu.close()


def emulator_env(home: Path, emu: EmulatorThread, **extra: str) -> dict[str, str]:
    settings = {
        "MODELMUX_VERTEX_BASE_URL": emu.base_url,
        "MODELMUX_AUTH_SERVICE_ACCOUNT_FILE": emu.credentials_file,
        "MODELMUX_VERTEX_PROJECT": "test-project",
        "MODELMUX_VERTEX_LOCATION": "us-east5",
        "MODELMUX_VERTEX_MODEL": "claude-sonnet-4-5@20250929",
    }
    return clean_env(home, **{**settings, **extra})


@pytest.fixture
def start_daemon(tmp_path: Path, emulator: EmulatorThread) -> Iterator[Any]:
    """Factory: start a daemon against the shared emulator with extra env/args."""
    started: list[Daemon] = []

    def start(*args: str, env: dict[str, str] | None = None, **extra_env: str) -> Daemon:
        daemon = Daemon(
            list(args), env or emulator_env(tmp_path, emulator, **extra_env), cwd=tmp_path
        )
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.stop()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, emulator: EmulatorThread) -> Iterator[Daemon]:
    """One daemon shared by a test module, against the shared emulator, streaming mode auto."""
    home = tmp_path_factory.mktemp("daemon-home")
    aliases = orjson.dumps(
        [
            {"name": "claude-sonnet", "id": "claude-sonnet-4-5@20250929"},
            {"name": "claude-haiku", "id": "claude-haiku-4-5@20251001", "location": "global"},
        ]
    ).decode()
    proc = Daemon([], emulator_env(home, emulator, MODELMUX_VERTEX_MODELS=aliases), cwd=home)
    yield proc
    proc.stop()


def wait_until(predicate: Any, timeout: float = 10.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
