"""Each `[mm:…]` directive does what docs/emulator.md says, over HTTP, streaming and not."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import orjson
import pytest
from emulator_support import Emu, assemble, emu, fetch_token, make_body

from modelmux.emulator import start_emulator
from modelmux.emulator.directives import DirectiveError, split_directives
from modelmux.emulator.replies import FAST_TEXT, json_fragments

__all__ = ["emu"]

TOOLS = [
    {"name": "get_weather", "input_schema": {"type": "object"}},
    {"name": "lookup", "input_schema": {"type": "object"}},
]


def names(events):
    return [name for name, _ in events]


def deltas(events, kind):
    return [
        d["delta"] for n, d in events if n == "content_block_delta" and d["delta"]["type"] == kind
    ]


# -- parsing ------------------------------------------------------------------------------------


def test_split_directives_is_bracket_and_json_aware():
    found, rest = split_directives(
        'before [mm:tool f {"q": "a]b", "n": [1, [2]]}] mid [mm:text x [y] z] after'
    )
    assert found == [("tool", 'f {"q": "a]b", "n": [1, [2]]}'), ("text", "x [y] z")]
    assert rest == "before  mid  after"
    with pytest.raises(DirectiveError):
        split_directives("oops [mm:text never closed")


def test_json_fragments_split_inside_a_string():
    frags = json_fragments({"city": "Paris, France", "days": 3})
    assert frags[0] == ""
    assert orjson.loads("".join(frags)) == {"city": "Paris, France", "days": 3}
    prefixes = ["".join(frags[: i + 1]) for i in range(1, len(frags) - 1)]
    assert any(p.count('"') % 2 == 1 for p in prefixes)  # some cut falls inside a string
    assert json_fragments({}) == [""]


# -- default echo and the stream's shape --------------------------------------------------------


async def test_default_echo_non_streaming(emu: Emu):
    status, headers, msg = await emu.call(make_body("hello [mm:delay 1]  world"))
    assert status == 200
    assert headers["request-id"].startswith("req_vrtx_")
    assert msg["id"].startswith("msg_vrtx_")
    assert msg["type"] == "message" and msg["role"] == "assistant"
    assert msg["model"] == "claude-sonnet-4-5-20250929"
    assert msg["content"] == [{"type": "text", "text": "Echo: hello world"}]
    assert msg["stop_reason"] == "end_turn" and msg["stop_sequence"] is None
    usage = msg["usage"]
    assert usage["input_tokens"] >= 1 and usage["output_tokens"] >= 1
    assert usage["cache_read_input_tokens"] == 0 and usage["cache_creation_input_tokens"] == 0


async def test_echo_uses_text_blocks_of_the_last_user_message(emu: Emu):
    content = [{"type": "text", "text": "first"}, {"type": "text", "text": "second"}]
    msg = await emu.ask(content)
    assert msg["content"][0]["text"] == "Echo: first second"


async def test_stream_has_vertex_event_order(emu: Emu):
    status, headers, events = await emu.call(make_body("one two three four five", stream=True))
    assert status == 200
    assert headers["Content-Type"].startswith("text/event-stream")
    order = names(events)
    assert order[:3] == ["message_start", "ping", "content_block_start"]
    assert order[-3:] == ["vertex_event", "message_delta", "message_stop"]
    assert order.count("message_stop") == 1
    start = events[0][1]["message"]
    assert start["stop_reason"] is None and start["content"] == []
    assert start["id"].startswith("msg_vrtx_")
    assert len(deltas(events, "text_delta")) >= 2
    final = assemble(events)
    assert final["content"] == [{"type": "text", "text": "Echo: one two three four five"}]
    assert final["stop_reason"] == "end_turn"
    vertex_event = dict(events)["vertex_event"]
    assert vertex_event["usage"]["output_tokens"] == final["usage"]["output_tokens"]
    # message_delta usage is cumulative: it equals the non-streaming totals
    _, _, msg = await emu.call(make_body("one two three four five"))
    assert dict(events)["message_delta"]["usage"]["output_tokens"] == msg["usage"]["output_tokens"]
    assert dict(events)["message_delta"]["usage"]["input_tokens"] == msg["usage"]["input_tokens"]


async def test_directives_only_in_last_user_message(emu: Emu):
    body = make_body("[mm:error 500] first")
    body["messages"] += [
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "again"},
    ]
    status, _, msg = await emu.call(body)
    assert status == 200 and msg["content"][0]["text"] == "Echo: again"


# -- content directives -------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
async def test_text(emu: Emu, stream):
    msg = await emu.ask("ignored [mm:text Exactly  this, please.]", stream=stream)
    assert msg["content"] == [{"type": "text", "text": "Exactly  this, please."}]


@pytest.mark.parametrize("stream", [False, True])
async def test_long(emu: Emu, stream):
    msg = await emu.ask("[mm:long 120]", stream=stream)
    text = msg["content"][0]["text"]
    assert len(text.split()) == 120
    assert msg["stop_reason"] == "end_turn"
    again = await emu.ask("[mm:long 120]")
    assert again["content"][0]["text"] == text  # deterministic


async def test_long_streams_in_many_deltas_and_respects_max_tokens(emu: Emu):
    _, _, events = await emu.call(make_body("[mm:long 100]", stream=True))
    assert len(deltas(events, "text_delta")) >= 40
    msg = await emu.ask("[mm:long 100]", max_tokens=30)
    assert len(msg["content"][0]["text"].split()) == 30
    assert msg["stop_reason"] == "max_tokens"
    assert msg["usage"]["output_tokens"] == 30


@pytest.mark.parametrize("stream", [False, True])
async def test_parallel_tools_after_preamble(emu: Emu, stream):
    prompt = (
        '[mm:text Let me check.] [mm:tool get_weather {"city": "Paris, \\"FR\\"", "days": 2}]'
        " [mm:tool lookup {}]"
    )
    msg = await emu.ask(prompt, stream=stream, tools=TOOLS)
    text, first, second = msg["content"]
    assert text == {"type": "text", "text": "Let me check."}
    assert first["type"] == second["type"] == "tool_use"
    assert first["name"] == "get_weather" and second["name"] == "lookup"
    assert first["input"] == {"city": 'Paris, "FR"', "days": 2}
    assert second["input"] == {}
    assert first["id"].startswith("toolu_vrtx_") and first["id"] != second["id"]
    assert msg["stop_reason"] == "tool_use"


async def test_tool_input_json_streams_in_fragments(emu: Emu):
    prompt = (
        '[mm:tool get_weather {"city": "Paris, France", "unit": "celsius"}] [mm:tool lookup {}]'
    )
    _, _, events = await emu.call(make_body(prompt, stream=True, tools=TOOLS))
    by_index: dict[int, list[str]] = {}
    for name, data in events:
        if name == "content_block_delta" and data["delta"]["type"] == "input_json_delta":
            by_index.setdefault(data["index"], []).append(data["delta"]["partial_json"])
    weather, empty = by_index[0], by_index[1]
    assert weather[0] == "" and len(weather) >= 3
    assert any("".join(weather[: i + 1]).count('"') % 2 for i in range(1, len(weather) - 1))
    assert all(frag == "" for frag in empty)
    start = next(d for n, d in events if n == "content_block_start")["content_block"]
    assert start["input"] == {} and start["name"] == "get_weather"


@pytest.mark.parametrize("stream", [False, True])
async def test_forced_tool_choice_uses_json_directive(emu: Emu, stream):
    choice = {"type": "tool", "name": "lookup"}
    msg = await emu.ask(
        'find it [mm:json {"q": "x"}]', stream=stream, tools=TOOLS, tool_choice=choice
    )
    assert [b["type"] for b in msg["content"]] == ["tool_use"]
    assert msg["content"][0]["name"] == "lookup"
    assert msg["content"][0]["input"] == {"q": "x"}
    assert msg["stop_reason"] == "tool_use"
    plain = await emu.ask("find it", tools=TOOLS, tool_choice=choice)
    assert plain["content"][0]["input"] == {}


async def test_disable_parallel_tool_use_keeps_one_call(emu: Emu):
    choice = {"type": "auto", "disable_parallel_tool_use": True}
    msg = await emu.ask(
        "[mm:tool get_weather {}] [mm:tool lookup {}]", tools=TOOLS, tool_choice=choice
    )
    assert [b["name"] for b in msg["content"] if b["type"] == "tool_use"] == ["get_weather"]


async def test_tool_loop_second_turn_echoes_the_result(emu: Emu):
    first = await emu.ask("[mm:tool get_weather {}]", tools=TOOLS)
    call = first["content"][0]
    body = make_body("[mm:tool get_weather {}]", tools=TOOLS)
    body["messages"] += [
        {"role": "assistant", "content": [call]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call["id"], "content": "sunny"}],
        },
    ]
    status, _, msg = await emu.call(body)
    assert status == 200, msg
    assert msg["content"] == [{"type": "text", "text": "Echo: sunny"}]
    assert msg["stop_reason"] == "end_turn"


@pytest.mark.parametrize("stream", [False, True])
async def test_thinking(emu: Emu, stream):
    msg = await emu.ask("[mm:thinking Pondering the weather.] [mm:text Sunny.]", stream=stream)
    thinking, text = msg["content"]
    assert thinking["type"] == "thinking"
    assert thinking["thinking"] == "Pondering the weather."
    assert thinking["signature"]
    assert text == {"type": "text", "text": "Sunny."}


async def test_thinking_stream_deltas(emu: Emu):
    _, _, events = await emu.call(make_body("[mm:thinking a b c d e f]", stream=True))
    assert len(deltas(events, "thinking_delta")) >= 2
    block0 = [(n, d) for n, d in events if d.get("index") == 0]
    assert block0[-2][1]["delta"]["type"] == "signature_delta"  # just before the block's stop
    assert block0[-1][0] == "content_block_stop"
    assert events[2][1]["content_block"] == {"type": "thinking", "thinking": "", "signature": ""}


@pytest.mark.parametrize("stream", [False, True])
async def test_redacted_thinking(emu: Emu, stream):
    msg = await emu.ask("[mm:redacted-thinking] hi", stream=stream)
    assert msg["content"][0]["type"] == "redacted_thinking" and msg["content"][0]["data"]
    assert msg["content"][1]["text"] == "Echo: hi"


@pytest.mark.parametrize(
    "reason",
    [
        "end_turn",
        "max_tokens",
        "tool_use",
        "refusal",
        "pause_turn",
        "model_context_window_exceeded",
    ],
)
@pytest.mark.parametrize("stream", [False, True])
async def test_stop_reason(emu: Emu, reason, stream):
    msg = await emu.ask(f"x [mm:stop {reason}]", stream=stream)
    assert msg["stop_reason"] == reason
    assert msg["stop_sequence"] is None


@pytest.mark.parametrize("stream", [False, True])
async def test_stop_sequence(emu: Emu, stream):
    msg = await emu.ask("x [mm:stop stop_sequence]", stream=stream, stop_sequences=["END"])
    assert msg["stop_reason"] == "stop_sequence" and msg["stop_sequence"] == "END"
    natural = await emu.ask("[mm:text one two END three]", stream=stream, stop_sequences=["END"])
    assert natural["content"] == [{"type": "text", "text": "one two "}]
    assert natural["stop_reason"] == "stop_sequence" and natural["stop_sequence"] == "END"


@pytest.mark.parametrize("stream", [False, True])
async def test_usage_override(emu: Emu, stream):
    msg = await emu.ask(
        "[mm:usage input=1000 output=42 cache_read=300 cache_creation=50]", stream=stream
    )
    usage = msg["usage"]
    assert usage["input_tokens"] == 1000
    assert usage["output_tokens"] == 42
    assert usage["cache_read_input_tokens"] == 300
    assert usage["cache_creation_input_tokens"] == 50


async def test_echo_request(emu: Emu):
    body = make_body("[mm:echo-request]", system="sys", temperature=0.2)
    _, _, msg = await emu.call(body)
    assert orjson.loads(msg["content"][0]["text"]) == body


# -- errors -------------------------------------------------------------------------------------

ANTHROPIC_ERRORS = [
    (400, "invalid_request_error"),
    (401, "authentication_error"),
    (403, "permission_error"),
    (404, "not_found_error"),
    (413, "request_too_large"),
    (429, "rate_limit_error"),
    (500, "api_error"),
    (503, "overloaded_error"),
    (504, "timeout_error"),
    (529, "overloaded_error"),
]


@pytest.mark.parametrize(("status", "kind"), ANTHROPIC_ERRORS)
@pytest.mark.parametrize("stream", [False, True])
async def test_error(emu: Emu, status, kind, stream):
    code, headers, payload = await emu.call(make_body(f"[mm:error {status}]", stream=stream))
    assert code == status
    assert headers["Content-Type"].startswith("application/json")
    assert payload["type"] == "error" and payload["error"]["type"] == kind
    assert payload["error"]["message"]
    assert payload["request_id"] == headers["request-id"]
    assert (headers.get("Retry-After") == "1") is (status == 429)


async def test_retry_after_override(emu: Emu):
    _, headers, _ = await emu.call(make_body("[mm:error 429] [mm:retry-after 7]"))
    assert headers["Retry-After"] == "7"


@pytest.mark.parametrize("stream", [False, True])
async def test_google_errors(emu: Emu, stream):
    code, headers, payload = await emu.call(
        make_body("[mm:google-error 429 RESOURCE_EXHAUSTED]", stream=stream)
    )
    assert code == 429 and headers["Retry-After"] == "1"
    assert payload["error"]["code"] == 429 and payload["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert "Quota exceeded" in payload["error"]["message"]
    code, _, payload = await emu.call(
        make_body("[mm:google-error-array 403 PERMISSION_DENIED]", stream=stream)
    )
    assert code == 403
    assert isinstance(payload, list) and payload[0]["error"]["status"] == "PERMISSION_DENIED"
    code, _, payload = await emu.call(make_body("[mm:google-error 503]"))
    assert payload["error"]["status"] == "UNAVAILABLE"


async def test_fail_once_per_distinct_body(emu: Emu):
    first = make_body("[mm:fail-once 503] a")
    assert (await emu.call(first))[0] == 503
    assert (await emu.call(first))[0] == 200
    assert (await emu.call(first))[0] == 200
    burst = [make_body(f"[mm:fail-once 429] [mm:retry-after 0] n{i}") for i in range(5)]
    statuses = await asyncio.gather(*(emu.call(b) for b in burst))
    assert [s[0] for s in statuses] == [429] * 5
    assert statuses[0][1]["Retry-After"] == "0"
    statuses = await asyncio.gather(*(emu.call(b) for b in burst))
    assert [s[0] for s in statuses] == [200] * 5


async def test_bad_directive_is_a_400(emu: Emu):
    for prompt in (
        "[mm:nonsense]",
        "[mm:tool f {not json}]",
        "[mm:stop sideways]",
        "[mm:error 200]",
    ):
        status, _, payload = await emu.call(make_body(prompt))
        assert status == 400
        assert payload["error"]["message"].startswith("emulator directive error:")


# -- timing and faults --------------------------------------------------------------------------


async def test_delay(emu: Emu):
    started = time.monotonic()
    await emu.ask("[mm:delay 300]")
    assert time.monotonic() - started >= 0.29


async def test_slow_stream(emu: Emu):
    started = time.monotonic()
    msg = await emu.ask("[mm:slow 30] a b c d", stream=True)
    assert msg["content"][0]["text"] == "Echo: a b c d"
    assert time.monotonic() - started >= 0.25  # 10 events, 30 ms between each


@pytest.mark.parametrize("kind", ["overloaded_error", "api_error"])
async def test_midstream_error(emu: Emu, kind):
    status, _, events = await emu.call(
        make_body(f"[mm:midstream-error {kind}] a b c d e f", stream=True)
    )
    assert status == 200
    order = names(events)
    assert order[-1] == "error" and "message_stop" not in order
    assert len(deltas(events, "text_delta")) == 2
    error = events[-1][1]["error"]
    assert error["type"] == kind and error["message"]


async def test_truncate_ends_cleanly_without_message_stop(emu: Emu):
    status, _, events = await emu.call(make_body("[mm:truncate] a b c d e f", stream=True))
    assert status == 200
    order = names(events)
    assert "message_stop" not in order and "message_delta" not in order
    assert order[-1] == "content_block_delta"
    assert (await emu.stats())["completed_streams"] == 1


async def test_stall_keeps_connection_open_until_client_leaves(emu: Emu):
    resp = await emu.session.post(
        emu.url("streamRawPredict"),
        json=make_body("[mm:stall] a b c d e f", stream=True),
        headers=emu.auth(),
    )
    received = b""
    while received.count(b"text_delta") < 2:
        received += await resp.content.readany()
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(resp.content.readany(), 0.3)
    assert (await emu.stats())["active_streams"] == 1
    resp.close()
    for _ in range(100):
        stats = await emu.stats()
        if stats["client_disconnects"]:
            break
        await asyncio.sleep(0.02)
    assert stats["client_disconnects"] == 1
    assert stats["active_streams"] == 0 and stats["completed_streams"] == 0


async def test_stop_releases_a_stalled_stream(tmp_path):
    handle = await start_emulator(key_dir=str(tmp_path))
    async with aiohttp.ClientSession() as session:
        e = Emu(handle, session, await fetch_token(session, handle))
        resp = await session.post(
            e.url("streamRawPredict"),
            json=make_body("[mm:stall] a b c", stream=True),
            headers=e.auth(),
        )
        await resp.content.readany()
        started = time.monotonic()
        await handle.stop()
        assert time.monotonic() - started < 2
        resp.close()


# -- benchmark mode -----------------------------------------------------------------------------


async def test_fast_mode(tmp_path):
    handle = await start_emulator(key_dir=str(tmp_path), fast=True)
    try:
        async with aiohttp.ClientSession() as session:
            e = Emu(handle, session, await fetch_token(session, handle))
            msg = await e.ask("anything at all")
            assert msg["content"] == [{"type": "text", "text": FAST_TEXT}]
            assert msg["model"] == "claude-sonnet-4-5-20250929"
            streamed = await e.ask("anything", stream=True)
            assert streamed["content"] == msg["content"]
            assert (await e.ask("[mm:text scripted]"))["content"][0]["text"] == "scripted"
            status, _, _ = await e.call(make_body("x"), model="not-claude")
            assert status == 404
    finally:
        await handle.stop()
