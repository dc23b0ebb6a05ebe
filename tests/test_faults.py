"""Fault matrix: the real daemon against an emulator scripted to misbehave.

Every fault must reach the client as a documented, bounded result: an OpenAI error with a 5xx
status the client can act on (502/503/504 — never 500, never 401), or, once a stream's 200 is
out, one final `data: {"error": …}` frame — never a hang and never a clean `[DONE]`. Then a
thousand faulty requests must leave no file descriptors, tasks or memory behind.

The module runs its own emulator (not the session one) because token faults are global.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import requests

from modelmux.upstream.auth import FAILURE_HOLD_S
from tests.conftest import Daemon, EmulatorThread, emulator_env, wait_until

UA = {"User-Agent": "OpenAI/Python 1.0 fault-matrix"}
PROBE_DIR = Path(__file__).parent / "support_probe"
# Small timeouts so stalls are cut quickly; retries stay on (the production default).
DAEMON_ENV = {
    "MODELMUX_VERTEX_STREAM_IDLE_TIMEOUT_S": "1",
    "MODELMUX_VERTEX_REQUEST_TIMEOUT_S": "1",
    "MODELMUX_STREAMING_MODE": "standard",
    "MODELMUX_STREAMING_KEEPALIVE_S": "0.3",
}


@pytest.fixture(scope="module")
def fault_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorThread]:
    emu = EmulatorThread(tmp_path_factory.mktemp("fault-emulator"))
    yield emu
    emu.close()


def set_faults(emu: EmulatorThread, **change: Any) -> dict[str, Any]:
    resp = requests.post(f"{emu.base_url}/_emulator/faults", json=change, timeout=5)
    assert resp.status_code == 200, resp.text
    return resp.json()


@pytest.fixture
def faulty(
    tmp_path: Path, fault_emulator: EmulatorThread
) -> Iterator[tuple[Daemon, EmulatorThread]]:
    """A fresh daemon (no cached token) against the fault emulator; faults cleared after."""
    env = emulator_env(tmp_path, fault_emulator, **DAEMON_ENV)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROBE_DIR), env.get("PYTHONPATH")]))
    env["MODELMUX_TEST_PROBE_DIR"] = str(tmp_path)
    daemon = Daemon([], env, cwd=tmp_path)
    try:
        yield daemon, fault_emulator
    finally:
        daemon.stop()
        fault_emulator.reset()


def chat(
    daemon: Daemon, prompt: str, *, stream: bool = False, timeout: float = 30
) -> tuple[int, Any, float]:
    """POST a chat completion; returns (status, JSON body or list of SSE data lines, seconds)."""
    started = time.monotonic()
    resp = requests.post(
        f"{daemon.base_url}/v1/chat/completions",
        json={
            "model": "m",
            "messages": [{"role": "user", "content": prompt}],
            "stream": stream,
        },
        headers=UA,
        stream=stream,
        timeout=timeout,
    )
    if stream and resp.status_code == 200:
        assert resp.headers["content-type"].startswith("text/event-stream")
        data = [
            line[len("data: ") :]
            for line in resp.iter_lines(decode_unicode=True)
            if line.startswith("data: ")
        ]
        return 200, data, time.monotonic() - started
    return resp.status_code, resp.json(), time.monotonic() - started


def assert_openai_error(body: Any) -> dict[str, Any]:
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert isinstance(error["message"], str) and error["message"]
    return error


def assert_error_frame(frames: list[str]) -> dict[str, Any]:
    """A broken 200 stream: some frames, then exactly one error frame last, and no [DONE]."""
    assert "[DONE]" not in frames, frames[-3:]
    assert frames, "the stream sent nothing at all"
    error = assert_openai_error(orjson.loads(frames[-1]))
    assert all('"error"' not in f[:10] for f in frames[:-1])
    return error


# --- the matrix ---------------------------------------------------------------------------
# (directive, streaming?) → expected status (200 = the stream ends with an error frame),
# expected OpenAI error code, upper bound on the elapsed seconds.
MATRIX = [
    ("[mm:reset-before-headers]", False, 502, "upstream_error", 8),
    ("[mm:reset-before-headers]", True, 502, "upstream_error", 8),
    ("[mm:reset-midstream] [mm:long 30]", False, 502, "upstream_error", 5),
    ("[mm:reset-midstream] [mm:long 30]", True, 200, "upstream_error", 5),
    ("[mm:stall] [mm:long 30]", False, 504, "upstream_timeout", 10),
    ("[mm:stall] [mm:long 30]", True, 200, "upstream_timeout", 5),
    ("[mm:malformed-sse] [mm:long 30]", False, 502, "upstream_error", 5),
    ("[mm:malformed-sse] [mm:long 30]", True, 200, "upstream_error", 5),
    ("[mm:malformed-json] [mm:long 30]", False, 502, "upstream_error", 5),
    ("[mm:malformed-json] [mm:long 30]", True, 200, "upstream_error", 5),
    ("[mm:truncate] [mm:long 30]", True, 200, "upstream_error", 5),
    ("[mm:midstream-error overloaded_error] [mm:long 30]", True, 200, None, 5),
    ("[mm:error 500]", False, 502, None, 8),
    ("[mm:google-error 503]", True, 503, None, 8),
]


@pytest.mark.parametrize(
    ("prompt", "stream", "status", "code", "bound"),
    MATRIX,
    ids=[f"{p.split(']')[0][4:]}-{'stream' if s else 'json'}" for p, s, *_ in MATRIX],
)
def test_fault_matrix(
    faulty: tuple[Daemon, EmulatorThread],
    prompt: str,
    stream: bool,
    status: int,
    code: str | None,
    bound: float,
) -> None:
    daemon, _emu = faulty
    got, body, elapsed = chat(daemon, prompt, stream=stream)
    assert got == status, body
    assert elapsed < bound, f"took {elapsed:.1f}s"
    if status == 200:
        error = assert_error_frame(body)
        assert len(body) >= 2  # content (the role chunk at least) came before the failure
    else:
        error = assert_openai_error(body)
    assert error["type"] == "server_error"
    if code is not None:
        assert error["code"] == code, error
    # the daemon is fine afterwards
    ok, answer, _ = chat(daemon, "still there?")
    assert ok == 200 and answer["choices"][0]["message"]["content"] == "Echo: still there?"


def test_token_endpoint_failing_then_recovering(faulty: tuple[Daemon, EmulatorThread]) -> None:
    daemon, emu = faulty
    set_faults(emu, token_fail=100)  # more than google-auth's own retries
    for stream in (False, True):
        status, body, elapsed = chat(daemon, "hello", stream=stream)
        assert status == 503, body
        error = assert_openai_error(body)
        assert error["code"] == "upstream_credentials_failed"
        assert "credentials" in error["message"] or "access token" in error["message"]
        assert elapsed < 15
    assert emu.stats()["requests"] == 0  # nothing reached Vertex without a token
    set_faults(emu, token_fail=0)
    # a failed refresh is remembered for FAILURE_HOLD_S so a burst fails fast; then it recovers
    time.sleep(FAILURE_HOLD_S)
    status, body, elapsed = chat(daemon, "hello again")
    assert status == 200 and body["choices"][0]["message"]["content"] == "Echo: hello again"
    assert elapsed < 5


def test_token_endpoint_failing_briefly_is_absorbed(faulty: tuple[Daemon, EmulatorThread]) -> None:
    daemon, emu = faulty
    set_faults(emu, token_fail=1)  # google-auth retries a 500 from the token endpoint itself
    status, body, elapsed = chat(daemon, "hello")
    assert status == 200, body
    assert elapsed < 10


def test_slow_token_endpoint_single_flight(faulty: tuple[Daemon, EmulatorThread]) -> None:
    daemon, emu = faulty
    set_faults(emu, token_delay_ms=1500)
    grants = emu.stats()["token_grants"]
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        results = list(pool.map(lambda i: chat(daemon, f"slow token {i}"), range(20)))
    elapsed = time.monotonic() - started
    assert [r[0] for r in results] == [200] * 20
    assert 1.4 < elapsed < 10
    assert emu.stats()["token_grants"] == grants + 1  # one refresh for twenty waiting requests


def test_revoked_token_refreshed_once(faulty: tuple[Daemon, EmulatorThread]) -> None:
    daemon, emu = faulty
    assert chat(daemon, "first")[0] == 200
    refreshes = health(daemon)["metrics"]["token_refreshes"]
    grants = emu.stats()["token_grants"]
    assert set_faults(emu, revoke_tokens=True)["token_revocations"] >= 1
    for stream in (False, True):
        status, body, elapsed = chat(daemon, f"after revocation {stream}", stream=stream)
        assert status == 200, body
        if stream:
            assert body[-1] == "[DONE]"
        assert elapsed < 5
        if not stream:
            assert emu.stats()["token_grants"] == grants + 1
            assert health(daemon)["metrics"]["token_refreshes"] == refreshes + 1
    assert emu.stats()["token_grants"] == grants + 1  # the second call used the new token


def health(daemon: Daemon) -> dict[str, Any]:
    return requests.get(f"{daemon.base_url}/health", timeout=5).json()


# --- no leaks after a thousand faults -----------------------------------------------------

LEAK_FAULTS = [
    ("[mm:reset-before-headers]", False),
    ("[mm:reset-before-headers]", True),
    ("[mm:reset-midstream] [mm:long 20]", False),
    ("[mm:reset-midstream] [mm:long 20]", True),
    ("[mm:stall] [mm:long 20]", True),
    ("[mm:malformed-sse] [mm:long 20]", True),
    ("[mm:malformed-json] [mm:long 20]", False),
    ("[mm:malformed-json] [mm:long 20]", True),
    ("[mm:truncate] [mm:long 20]", True),
    ("[mm:midstream-error] [mm:long 20]", True),
    ("[mm:error 400]", False),
    ("[mm:google-error 404]", True),
    ("[mm:long 20]", True),  # and some that succeed, for contrast
]


def _fd_kinds(pid: int, daemon_port: int) -> dict[str, int]:
    """The daemon's open fds: non-sockets, client-side sockets, upstream sockets."""
    inodes: dict[str, tuple[int, int]] = {}
    for table in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{table}") as fh:
                next(fh)
                for row in fh:
                    cols = row.split()
                    local_port = int(cols[1].rsplit(":", 1)[1], 16)
                    remote_port = int(cols[2].rsplit(":", 1)[1], 16)
                    inodes[cols[9]] = (local_port, remote_port)
        except FileNotFoundError:
            continue
    kinds = {"other": 0, "client": 0, "upstream": 0, "total": 0}
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{name}")
        except FileNotFoundError:
            continue
        kinds["total"] += 1
        if target.startswith("socket:["):
            local, _remote = inodes.get(target[8:-1], (0, 0))
            kinds["client" if local == daemon_port else "upstream"] += 1
        else:
            kinds["other"] += 1
    return kinds


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _tasks(daemon: Daemon, probe_dir: Path) -> int:
    """Ask the daemon (via the SIGUSR2 probe in tests/support_probe) how many tasks it has."""
    out = probe_dir / f"tasks-{daemon.proc.pid}.txt"
    out.unlink(missing_ok=True)
    daemon.signal(__import__("signal").SIGUSR2)
    assert wait_until(out.exists, timeout=5), "the task probe did not answer"
    return int(out.read_text())


async def _fire(base_url: str, total: int, concurrency: int) -> dict[str, int]:
    outcomes: dict[str, int] = {}
    semaphore = asyncio.Semaphore(concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    cases = itertools.islice(itertools.cycle(LEAK_FAULTS), total)

    async def one(session: aiohttp.ClientSession, n: int, prompt: str, stream: bool) -> None:
        body = {"model": "m", "messages": [{"role": "user", "content": f"{prompt} #{n}"}]}
        if stream:
            body["stream"] = True
        async with (
            semaphore,
            session.post(f"{base_url}/v1/chat/completions", json=body, headers=UA) as resp,
        ):
            raw = await resp.read()
        if resp.status != 200:
            kind = f"http {resp.status}"
            assert resp.status in (400, 404, 502, 503, 504), (resp.status, raw[:300])
            assert_openai_error(orjson.loads(raw))
        elif not stream:
            kind = "json ok"
        else:
            frames = [line[6:] for line in raw.decode().split("\n") if line.startswith("data: ")]
            if frames[-1] == "[DONE]":
                kind = "stream ok"
                assert prompt == "[mm:long 20]", prompt  # a scripted fault never ends cleanly
            else:
                assert_error_frame(frames)
                kind = "stream error frame"
        outcomes[kind] = outcomes.get(kind, 0) + 1

    # One connection per request (force_close) so client keep-alive does not hold fds open.
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=True)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(one(session, n, p, s) for n, (p, s) in enumerate(cases)))
    return outcomes


@pytest.mark.slow
def test_thousand_faults_leave_nothing_behind(
    faulty: tuple[Daemon, EmulatorThread], tmp_path: Path
) -> None:
    daemon, _emu = faulty
    pid, port = daemon.proc.pid, daemon.port
    # Warm up: the same mix once, so lazily created things (token, pools, caches) exist.
    asyncio.run(_fire(daemon.base_url, 100, 50))
    time.sleep(0.5)
    fds0, rss0, tasks0 = _fd_kinds(pid, port), _rss_kb(pid), _tasks(daemon, tmp_path)

    started = time.monotonic()
    outcomes = asyncio.run(_fire(daemon.base_url, 1000, 50))
    elapsed = time.monotonic() - started
    assert sum(outcomes.values()) == 1000
    assert outcomes["stream error frame"] > 400, outcomes

    def settled() -> bool:
        return _fd_kinds(pid, port)["client"] <= fds0["client"] and (
            _tasks(daemon, tmp_path) <= tasks0
        )

    assert wait_until(settled, timeout=10, interval=0.2), (_fd_kinds(pid, port), fds0)
    fds1, rss1, tasks1 = _fd_kinds(pid, port), _rss_kb(pid), _tasks(daemon, tmp_path)
    print(
        f"\n1000 faulty requests in {elapsed:.1f}s: {outcomes}\n"
        f"fds {fds0} -> {fds1}; tasks {tasks0} -> {tasks1}; RSS {rss0} -> {rss1} kB"
    )
    assert fds1["other"] == fds0["other"]  # files, pipes, epoll, eventfd
    assert fds1["client"] == fds0["client"]  # the listening socket only
    assert fds1["upstream"] <= max(fds0["upstream"], 50)  # idle pooled connections, bounded
    assert tasks1 == tasks0
    assert rss1 - rss0 < 20 * 1024, f"RSS grew by {rss1 - rss0} kB"
    assert health(daemon)["status"] == "ok"
