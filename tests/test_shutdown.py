"""Graceful shutdown: SIGTERM while 50 streams are running.

Every stream finishes completely (its full text, then `[DONE]`) within `shutdown_timeout_s`, the
listening socket is closed at once (new connections are refused), and the process exits 0.
"""

from __future__ import annotations

import concurrent.futures
import signal
import socket
import time

import orjson
import requests

from tests.conftest import wait_until

STREAMS = 50
WORDS = 20
SLOW_MS = 150  # ~20 events x 150 ms ≈ 3 s per stream: still running when SIGTERM arrives


def _stream(base_url: str, n: int) -> tuple[str, list[str]]:
    resp = requests.post(
        f"{base_url}/v1/chat/completions",
        json={
            "model": "m",
            "stream": True,
            "messages": [
                {"role": "user", "content": f"[mm:slow {SLOW_MS}] [mm:long {WORDS}] #{n}"}
            ],
        },
        headers={"User-Agent": "OpenAI/Python 1.0 shutdown-test"},
        stream=True,
        timeout=60,
    )
    assert resp.status_code == 200, resp.text
    frames = [
        line[6:] for line in resp.iter_lines(decode_unicode=True) if line.startswith("data: ")
    ]
    text = "".join(
        (chunk["choices"][0]["delta"].get("content") or "")
        for chunk in (orjson.loads(f) for f in frames if f != "[DONE]")
        if chunk.get("choices")
    )
    return text, frames


def test_sigterm_drains_active_streams(start_daemon) -> None:
    daemon = start_daemon(
        MODELMUX_SERVER_SHUTDOWN_TIMEOUT_S="15", MODELMUX_STREAMING_MODE="standard"
    )
    with concurrent.futures.ThreadPoolExecutor(STREAMS) as pool:
        futures = [pool.submit(_stream, daemon.base_url, n) for n in range(STREAMS)]

        def all_active() -> bool:
            health = requests.get(f"{daemon.base_url}/health", timeout=5).json()
            return health["metrics"]["active_streams"] >= STREAMS

        assert wait_until(all_active, timeout=20), "the streams did not all start"
        signalled = time.monotonic()
        daemon.signal(signal.SIGTERM)

        # The listener closes at once: new connections are refused while the streams drain.
        def refused() -> bool:
            try:
                socket.create_connection(("127.0.0.1", daemon.port), timeout=1).close()
            except ConnectionRefusedError:
                return True
            return False

        assert wait_until(refused, timeout=2, interval=0.05), "still accepting after SIGTERM"
        assert any(not f.done() for f in futures), "streams ended before the check"

        results = [f.result(timeout=30) for f in futures]
        drained = time.monotonic() - signalled
    assert drained < 15
    expected = " ".join(results[0][0].split())  # every stream gets the same deterministic text
    assert len(expected.split()) == WORDS
    for text, frames in results:
        assert frames[-1] == "[DONE]", frames[-2:]
        assert not any(f.startswith('{"error"') for f in frames)
        assert " ".join(text.split()) == expected
    assert daemon.wait(timeout=20) == 0
    assert any(e.get("event") == "stopped" for e in daemon.events())


def test_streams_outliving_the_drain_are_told_why(start_daemon) -> None:
    """A stream still running when shutdown_timeout_s runs out ends with an error frame."""
    daemon = start_daemon(MODELMUX_SERVER_SHUTDOWN_TIMEOUT_S="1")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(_stream_frames, daemon.base_url, "[mm:slow 200] [mm:long 200]")
        assert wait_until(
            lambda: (
                requests.get(f"{daemon.base_url}/health", timeout=5).json()["metrics"][
                    "active_streams"
                ]
                == 1
            )
        )
        started = time.monotonic()
        daemon.signal(signal.SIGTERM)
        frames = future.result(timeout=30)
        elapsed = time.monotonic() - started
    assert daemon.wait(timeout=30) == 0
    assert elapsed < 4, elapsed  # the 1 s drain, then the goodbye frame; not a 40 s stream
    assert frames[-1] != "[DONE]"
    error = orjson.loads(frames[-1])["error"]
    assert error["code"] == "server_shutting_down"


def _stream_frames(base_url: str, prompt: str) -> list[str]:
    resp = requests.post(
        f"{base_url}/v1/chat/completions",
        json={"model": "m", "stream": True, "messages": [{"role": "user", "content": prompt}]},
        headers={"User-Agent": "OpenAI/Python 1.0"},
        stream=True,
        timeout=60,
    )
    return [line[6:] for line in resp.iter_lines(decode_unicode=True) if line.startswith("data: ")]
