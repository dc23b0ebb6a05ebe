"""TokenProvider: single-flight refresh, background renewal, failure handling, invalidation.

The fake credentials stand in for google-auth only (its real path is covered end to end by the
emulator tests): `refresh` counts calls, records how many run at once, can be held on a gate,
slowed down or made to fail, and sets `.token` / `.expiry` like google-auth does.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from typing import Any

import pytest
from structlog.testing import capture_logs

from modelmux.errors import CredentialsError
from modelmux.settings import AuthSettings
from modelmux.upstream import auth
from modelmux.upstream.auth import TokenProvider


class FakeCredentials:
    def __init__(self, lifetime_s: float = 3600.0, delay_s: float = 0.0) -> None:
        self.lifetime_s = lifetime_s
        self.delay_s = delay_s
        self.fail = False
        self.gate = threading.Event()
        self.gate.set()
        self.calls = 0
        self.running = 0
        self.max_running = 0
        self.token: str | None = None
        self.expiry: dt.datetime | None = None
        self._lock = threading.Lock()

    def refresh(self, request: Any) -> None:
        with self._lock:
            self.calls += 1
            self.running += 1
            self.max_running = max(self.max_running, self.running)
            call = self.calls
        try:
            assert self.gate.wait(10)
            time.sleep(self.delay_s)
            if self.fail:
                raise RuntimeError("token endpoint unavailable")  # like google-auth's RefreshError
            self.token = f"ya29.token-{call}"
            now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
            self.expiry = now + dt.timedelta(seconds=self.lifetime_s)
        finally:
            with self._lock:
                self.running -= 1


def provider(creds: FakeCredentials, **kwargs: Any) -> TokenProvider:
    return TokenProvider(AuthSettings("", ""), loader=lambda _auth: creds, **kwargs)


async def wait_for(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


async def test_thousand_concurrent_callers_one_refresh() -> None:
    creds = FakeCredentials(delay_s=0.1)
    notified: list[int] = []
    tokens = provider(creds, on_refresh=lambda: notified.append(1))
    results = await asyncio.gather(*(tokens.token() for _ in range(1000)))
    assert set(results) == {"ya29.token-1"}
    assert creds.calls == 1 and tokens.refreshes == 1 and notified == [1]
    assert await tokens.token() == "ya29.token-1"  # cached from now on
    assert creds.calls == 1


async def test_cancelled_leader_neither_cancels_nor_duplicates_the_refresh() -> None:
    creds = FakeCredentials()
    creds.gate.clear()
    tokens = provider(creds)
    leader = asyncio.create_task(tokens.token())
    try:
        await wait_for(lambda: creds.running == 1)
        leader.cancel()  # the client that triggered the refresh disconnected
        with pytest.raises(asyncio.CancelledError):
            await leader
        waiters = [asyncio.create_task(tokens.token()) for _ in range(50)]
        await asyncio.sleep(0.05)
        assert not any(w.done() for w in waiters)  # they wait for the refresh still running
        assert creds.calls == 1
    finally:
        creds.gate.set()
    assert set(await asyncio.gather(*waiters)) == {"ya29.token-1"}
    assert creds.calls == 1 and creds.max_running == 1 and tokens.refreshes == 1


async def test_within_margin_cached_token_served_and_one_background_refresh() -> None:
    creds = FakeCredentials(lifetime_s=1.0)  # margin 0.25 s: renewal due after 0.75 s
    tokens = provider(creds)
    assert await tokens.token() == "ya29.token-1"
    await asyncio.sleep(0.8)
    creds.gate.clear()
    try:
        started = time.monotonic()
        results = await asyncio.gather(*(tokens.token() for _ in range(100)))
        assert time.monotonic() - started < 0.1  # nobody waited for the renewal
        assert set(results) == {"ya29.token-1"}
        await wait_for(lambda: creds.running == 1)
        assert creds.calls == 2  # one background refresh for the hundred callers
    finally:
        creds.gate.set()
    await wait_for(lambda: tokens.refreshes == 2)
    assert await tokens.token() == "ya29.token-2"
    assert creds.calls == 2 and creds.max_running == 1


async def test_background_failure_serves_old_token_until_expiry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(auth, "FAILURE_HOLD_S", 0.1)
    creds = FakeCredentials(lifetime_s=1.0)
    tokens = provider(creds)
    assert await tokens.token() == "ya29.token-1"
    expires = time.monotonic() + 1.0
    await asyncio.sleep(0.8)
    creds.fail = True
    with capture_logs() as logs:
        assert await tokens.token() == "ya29.token-1"  # the renewal starts in the background
        await wait_for(lambda: creds.calls == 2 and creds.running == 0)
        await asyncio.sleep(0.01)
        assert await tokens.token() == "ya29.token-1"  # failed renewal: old token still valid
    assert [e["log_level"] for e in logs] == ["warning"]
    assert logs[0]["error"] == "RuntimeError"
    assert "ya29" not in str(logs)  # nothing secret logged
    await asyncio.sleep(max(0.0, expires - time.monotonic()) + 0.05)
    with pytest.raises(CredentialsError, match="RuntimeError"):
        await tokens.token()  # really expired now: the caller waits, and the refresh fails
    assert creds.max_running == 1


async def test_failure_burst_one_attempt_and_remembered_briefly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(auth, "FAILURE_HOLD_S", 0.3)
    creds = FakeCredentials(delay_s=0.2)
    creds.fail = True
    tokens = provider(creds)
    started = time.monotonic()
    results = await asyncio.gather(*(tokens.token() for _ in range(200)), return_exceptions=True)
    assert time.monotonic() - started < 1.0  # one slow failure, not 200 in a row
    assert all(isinstance(r, CredentialsError) for r in results)
    assert len({str(r) for r in results}) == 1
    assert creds.calls == 1
    # Right after the failure a new burst fails at once, without another attempt.
    started = time.monotonic()
    results = await asyncio.gather(*(tokens.token() for _ in range(100)), return_exceptions=True)
    assert time.monotonic() - started < 0.1
    assert all(isinstance(r, CredentialsError) for r in results)
    assert creds.calls == 1
    # After the hold the next caller tries again, and the endpoint has recovered.
    await asyncio.sleep(0.3)
    creds.fail = False
    assert await tokens.token() == "ya29.token-2"
    assert creds.calls == 2 and tokens.refreshes == 1


async def test_invalidate_makes_next_caller_wait_for_new_token() -> None:
    creds = FakeCredentials()
    tokens = provider(creds)
    assert await tokens.token() == "ya29.token-1"
    tokens.invalidate("ya29.something-else")  # not the cached token: no effect
    assert await tokens.token() == "ya29.token-1" and creds.calls == 1
    tokens.invalidate("ya29.token-1")
    assert await tokens.token() == "ya29.token-2"
    tokens.invalidate("ya29.token-1")  # a late 401 for the old token: no second refresh
    assert await tokens.token() == "ya29.token-2"
    assert creds.calls == 2 and tokens.refreshes == 2


async def test_invalidate_during_background_refresh_joins_it() -> None:
    creds = FakeCredentials(lifetime_s=1.0)
    tokens = provider(creds)
    assert await tokens.token() == "ya29.token-1"
    await asyncio.sleep(0.8)
    creds.gate.clear()
    try:
        assert await tokens.token() == "ya29.token-1"  # background renewal now in flight
        await wait_for(lambda: creds.running == 1)
        tokens.invalidate("ya29.token-1")
        waiter = asyncio.create_task(tokens.token())
        await asyncio.sleep(0.05)
        assert not waiter.done()  # the rejected token is not served again
    finally:
        creds.gate.set()
    assert await waiter == "ya29.token-2"
    assert creds.calls == 2 and creds.max_running == 1
