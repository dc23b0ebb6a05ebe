"""Load, CI-sized: 100 concurrent slow streams through one daemon, zero errors.

`make soak` (bench/soak.py) runs the same shape with 1,000 streams and reports RSS and CPU.
"""

from __future__ import annotations

import asyncio

import pytest

from bench.soak import run_streams

pytestmark = pytest.mark.slow


def test_hundred_concurrent_streams(start_daemon) -> None:
    daemon = start_daemon(MODELMUX_STREAMING_MODE="standard")
    result = asyncio.run(
        run_streams(daemon.base_url, concurrency=100, words=20, slow_ms=100, deadline_s=60)
    )
    assert result.errors == [], result.errors[:5]
    assert result.completed == 100
    assert result.peak_concurrent >= 90  # they really overlapped
    assert result.elapsed_s < 30
