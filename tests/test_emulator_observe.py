"""The `/_emulator/*` observation endpoints: stats, recorded requests, reset."""

from __future__ import annotations

import asyncio

from emulator_support import Emu, emu, make_body

__all__ = ["emu"]


async def _wait_for(emu: Emu, key: str, value: int) -> dict[str, int]:
    for _ in range(200):
        stats = await emu.stats()
        if stats[key] == value:
            return stats
        await asyncio.sleep(0.01)
    return stats


async def test_stats_count_requests_and_streams(emu: Emu):
    assert await emu.stats() == {
        "requests": 0,
        "token_grants": 1,
        "active_streams": 0,
        "client_disconnects": 0,
        "completed_streams": 0,
    }
    await emu.ask("a")
    await emu.ask("b", stream=True)
    await emu.call(make_body("[mm:error 500]", stream=True))
    stats = await emu.stats()
    assert stats["requests"] == 3
    assert stats["completed_streams"] == 1
    assert stats["client_disconnects"] == 0


async def test_client_closing_mid_stream_counts_a_disconnect(emu: Emu):
    resp = await emu.session.post(
        emu.url("streamRawPredict"),
        json=make_body("[mm:slow 40] [mm:long 200]", stream=True),
        headers=emu.auth(),
    )
    assert resp.status == 200
    seen = b""
    while seen.count(b"text_delta") < 3:
        seen += await resp.content.readany()
    assert (await emu.stats())["active_streams"] == 1
    resp.close()  # drops the connection mid-stream
    stats = await _wait_for(emu, "client_disconnects", 1)
    assert stats["client_disconnects"] == 1
    assert stats["active_streams"] == 0
    assert stats["completed_streams"] == 0


async def test_many_concurrent_streams_complete(emu: Emu):
    results = await asyncio.gather(*(emu.ask(f"n{i} [mm:slow 1]", stream=True) for i in range(25)))
    assert [m["content"][0]["text"] for m in results] == [f"Echo: n{i}" for i in range(25)]
    stats = await emu.stats()
    assert stats["completed_streams"] == 25 and stats["active_streams"] == 0


async def test_recorded_requests_redact_authorization_and_reset(emu: Emu):
    body = make_body("remember me", stream=True)
    await emu.call(body)
    async with emu.session.get(f"{emu.base_url}/_emulator/requests") as resp:
        recorded = await resp.json()
    assert len(recorded) == 1
    entry = recorded[0]
    assert entry["method"] == "POST"
    assert entry["path"].endswith(
        "/publishers/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict"
    )
    assert entry["body"] == body
    auth = {k.lower(): v for k, v in entry["headers"].items()}["authorization"]
    assert auth == "Bearer <redacted>"
    assert emu.token not in str(recorded)

    for i in range(55):
        await emu.call(make_body(f"m{i}"))
    async with emu.session.get(f"{emu.base_url}/_emulator/requests") as resp:
        recorded = await resp.json()
    assert len(recorded) == 50
    assert recorded[-1]["body"]["messages"][0]["content"] == "m54"

    async with emu.session.post(f"{emu.base_url}/_emulator/reset") as resp:
        assert resp.status == 200
    async with emu.session.get(f"{emu.base_url}/_emulator/requests") as resp:
        assert await resp.json() == []
    assert (await emu.stats())["requests"] == 0
