"""The daemon's lifecycle and its settings layers, observed from outside the process."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import MODELMUXD, EmulatorThread, clean_env, emulator_env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NotifySocket:
    """Stands in for systemd's notify socket."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(30)

    def wait_for(self, message: str) -> None:
        while True:
            if message in self.sock.recv(4096).decode():
                return


def start(
    args: list[str], env: dict[str, str], cwd: Path, notify: NotifySocket
) -> subprocess.Popen:
    proc = subprocess.Popen(
        [MODELMUXD, "--log-format", "json", *args],
        env={**env, "NOTIFY_SOCKET": notify.path},
        cwd=str(cwd),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        notify.wait_for("READY=1")
    except TimeoutError:
        proc.kill()
        raise AssertionError(proc.communicate()[0]) from None
    return proc


def stop(proc: subprocess.Popen) -> tuple[int, str]:
    proc.terminate()
    out, _ = proc.communicate(timeout=30)
    return proc.returncode, out


def listening_line(output: str) -> dict:
    import orjson

    for line in output.splitlines():
        if '"listening"' in line:
            return orjson.loads(line)
    raise AssertionError(f"no listening line in:\n{output}")


def toml(port: int, level: str, project: str) -> str:
    return f'[server]\nport = {port}\nlog_level = "{level}"\n[vertex]\nproject = "{project}"\n'


LAYERS = ["system", "user", "dotenv", "env", "flag"]


@pytest.mark.parametrize("top", range(len(LAYERS)))
def test_each_layer_overrides_the_one_below(
    tmp_path: Path, emulator: EmulatorThread, top: int
) -> None:
    """Layers 0..top are set, each with its own port/log level/project; the top one wins."""
    ports = [free_port() for _ in LAYERS]
    levels = ["info", "debug", "info", "debug", "info"]
    env = emulator_env(tmp_path, emulator)
    for key in ("MODELMUX_VERTEX_PROJECT",):
        env.pop(key)
    args: list[str] = []
    system = tmp_path / "system.toml"
    env["MODELMUX_SYSTEM_CONFIG"] = str(system)
    for i, layer in enumerate(LAYERS[: top + 1]):
        project = f"project-{layer}"
        if layer == "system":
            system.write_text(toml(ports[i], levels[i], project))
        elif layer == "user":
            user_dir = tmp_path / ".config" / "modelmux"
            user_dir.mkdir(parents=True)
            (user_dir / "config.toml").write_text(toml(ports[i], levels[i], project))
        elif layer == "dotenv":
            (tmp_path / ".env").write_text(
                f"MODELMUX_SERVER_PORT={ports[i]}\nMODELMUX_SERVER_LOG_LEVEL={levels[i]}\n"
                f'MODELMUX_VERTEX_PROJECT="{project}"\n'
            )
        elif layer == "env":
            env.update(
                MODELMUX_SERVER_PORT=str(ports[i]),
                MODELMUX_SERVER_LOG_LEVEL=levels[i],
                MODELMUX_VERTEX_PROJECT=project,
            )
        else:
            args = ["--port", str(ports[i]), "--log-level", levels[i], "--vertex-project", project]
    proc = start(args, env, tmp_path, NotifySocket(tmp_path / "notify"))
    try:
        assert requests.get(f"http://127.0.0.1:{ports[top]}/health", timeout=5).ok
    finally:
        code, out = stop(proc)
    assert code == 0
    line = listening_line(out)
    assert line["port"] == ports[top]
    assert line["log_level"] == levels[top]
    assert line["vertex_project"] == f"project-{LAYERS[top]}"


def test_legacy_env_names(tmp_path: Path, emulator: EmulatorThread) -> None:
    port = free_port()
    env = emulator_env(tmp_path, emulator)
    env.pop("MODELMUX_VERTEX_PROJECT")
    env.update(PORT=str(port), VERTEX_PROJECT="legacy-project", LOG_LEVEL="debug")
    proc = start([], env, tmp_path, NotifySocket(tmp_path / "notify"))
    _code, out = stop(proc)
    line = listening_line(out)
    assert (line["port"], line["vertex_project"], line["log_level"]) == (
        port,
        "legacy-project",
        "debug",
    )


def test_dotenv_never_overrides_a_set_variable(tmp_path: Path, emulator: EmulatorThread) -> None:
    env = emulator_env(tmp_path, emulator, MODELMUX_VERTEX_PROJECT="from-env")
    (tmp_path / ".env").write_text(
        "MODELMUX_VERTEX_PROJECT=from-dotenv\nMODELMUX_SERVER_LOG_LEVEL=debug\n"
    )
    proc = start(["--port", "0"], env, tmp_path, NotifySocket(tmp_path / "notify"))
    _code, out = stop(proc)
    line = listening_line(out)
    assert line["vertex_project"] == "from-env"
    assert line["log_level"] == "debug"  # .env still fills what the environment leaves unset


def test_log_level_filters_lines(tmp_path: Path, emulator: EmulatorThread) -> None:
    port = free_port()
    env = emulator_env(tmp_path, emulator)
    proc = start(
        ["--port", str(port), "--log-level", "warning"], env, tmp_path, NotifySocket(tmp_path / "n")
    )
    requests.get(f"http://127.0.0.1:{port}/health", timeout=5)
    code, out = stop(proc)
    assert code == 0
    assert '"listening"' not in out and '"request"' not in out


def test_sigterm_drains_in_flight_request(tmp_path: Path, emulator: EmulatorThread) -> None:
    port = free_port()
    env = emulator_env(tmp_path, emulator)
    proc = start(["--port", str(port)], env, tmp_path, NotifySocket(tmp_path / "n"))
    result: dict = {}

    def slow_request() -> None:
        resp = requests.post(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "[mm:delay 1500] slow"}]},
            timeout=30,
        )
        result["status"] = resp.status_code
        result["body"] = resp.json()

    worker = threading.Thread(target=slow_request)
    worker.start()
    time.sleep(0.5)  # the request is now waiting on the emulator
    proc.terminate()
    time.sleep(0.3)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/health", timeout=2)  # no new connections
    worker.join(timeout=20)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert result["status"] == 200
    assert result["body"]["choices"][0]["message"]["content"] == "Echo: slow"


def test_health_answers_as_soon_as_ready(tmp_path: Path, emulator: EmulatorThread) -> None:
    port = free_port()
    proc = start(
        ["--port", str(port)],
        emulator_env(tmp_path, emulator),
        tmp_path,
        NotifySocket(tmp_path / "n"),
    )
    try:
        resp = requests.get(f"http://127.0.0.1:{port}/health", timeout=2)
        assert resp.status_code == 200 and resp.json()["status"] == "ok"
    finally:
        stop(proc)


def test_emulator_mode_serves_without_cloud_settings(tmp_path: Path) -> None:
    port = free_port()
    proc = start(
        ["--emulator", "--port", str(port)],
        clean_env(tmp_path),
        tmp_path,
        NotifySocket(tmp_path / "n"),
    )
    try:
        resp = requests.post(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
            timeout=10,
        )
        assert resp.json()["choices"][0]["message"]["content"] == "Echo: hi"
        assert requests.get(f"http://127.0.0.1:{port}/health").json()["emulated"] is True
    finally:
        code, out = stop(proc)
    assert "EMULATED" in out
    assert code == 0


def test_port_in_use_fails_cleanly(tmp_path: Path, emulator: EmulatorThread) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run(
            [MODELMUXD, "--port", str(port), "--log-format", "json"],
            env=emulator_env(tmp_path, emulator),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert proc.returncode == 69
    assert "cannot listen" in proc.stdout + proc.stderr
