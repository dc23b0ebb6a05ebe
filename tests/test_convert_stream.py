"""Anthropic SSE → OpenAI SSE: golden transcripts, openai-python accumulation, properties.

Golden cases live in tests/data/convert/streams/<name>.{request.json,upstream.sse,expected.sse};
`MODELMUX_REGEN_GOLDEN=1` rewrites the .expected.sse files (review them before committing).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletionChunk

from modelmux.convert import ConvertOptions, StreamTranslator, to_anthropic, to_openai
from modelmux.errors import Overloaded
from modelmux.sse import SSEDecoder

DATA = Path(__file__).parent / "data" / "convert" / "streams"
REGEN = os.environ.get("MODELMUX_REGEN_GOLDEN") == "1"
CASES = sorted(DATA.glob("*.request.json"))
CID, CREATED = "chatcmpl-golden0000000000000000", 1700000000
MODEL_ID = "claude-sonnet-4-5@20250929"


def _decode(raw: bytes, step: int) -> list[dict]:
    dec = SSEDecoder()
    events = []
    for i in range(0, len(raw), step):
        events.extend(dec.feed(raw[i : i + step]))
    events.extend(dec.flush())
    out = []
    for name, data in events:
        ev = orjson.loads(data)
        assert ev["type"] == name
        out.append(ev)
    return out


def _frames(blob: bytes) -> list[bytes]:
    assert blob.endswith(b"\n\n")
    frames = blob[:-2].split(b"\n\n")
    for f in frames:
        assert f.startswith(b"data: ")
        assert b"\nevent:" not in f and not f.startswith(b"event:")
    return [f[6:] for f in frames]


def accumulate(blob: bytes) -> tuple[dict | None, dict | None, dict | None]:
    """Feed the frames to openai-python's own stream state; returns (completion, usage, error)."""
    state = ChatCompletionStreamState()
    usage = error = None
    frames = _frames(blob)
    for i, payload in enumerate(frames):
        if payload == b"[DONE]":
            assert i == len(frames) - 1
            break
        obj = orjson.loads(payload)
        if "error" in obj:
            assert i == len(frames) - 1, "the error frame must be the last one"
            error = obj["error"]
            break
        chunk = ChatCompletionChunk.model_validate(obj)
        if not chunk.choices:
            usage = obj["usage"]
            continue
        state.handle_chunk(chunk)
    try:
        final = state.current_completion_snapshot.model_dump()
    except AssertionError:
        final = None
    return final, usage, error


@pytest.mark.parametrize("path", CASES, ids=[p.name.removesuffix(".request.json") for p in CASES])
@pytest.mark.parametrize("step", [1, 7, 4096])
def test_golden_stream(path: Path, step: int) -> None:
    name = path.name.removesuffix(".request.json")
    meta = orjson.loads(path.read_bytes())
    options = ConvertOptions(**meta.get("options", {}))
    req = to_anthropic(meta["request"], model_id=meta.get("model_id", MODEL_ID), options=options)
    tr = StreamTranslator(req, completion_id=CID, created=CREATED)
    out: list[bytes] = []
    for ev in _decode((DATA / f"{name}.upstream.sse").read_bytes(), step):
        out.extend(tr.feed(ev))
    out.extend(tr.finish())
    assert tr.done
    got = b"".join(out)
    expected_path = DATA / f"{name}.expected.sse"
    if REGEN and step == 4096:
        expected_path.write_bytes(got)
    assert got == expected_path.read_bytes()
    final, _usage, error = accumulate(got)
    if error is None:
        assert final is not None
        assert final["choices"][0]["finish_reason"] == tr.finish_reason


def test_golden_folder_is_populated() -> None:
    assert len(CASES) >= 20


# --------------------------------------------------------------------------------------------
# unit behaviour


def _req(**kw):
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": True, **kw}
    return to_anthropic(body, model_id=MODEL_ID, options=ConvertOptions())


START = {"type": "message_start", "message": {"usage": {"input_tokens": 3, "output_tokens": 1}}}


def test_one_id_created_model_for_the_whole_stream() -> None:
    tr = StreamTranslator(_req(stream_options={"include_usage": True}))
    frames = tr.feed(START)
    frames += tr.feed(
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    )
    frames += tr.feed(
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "a"}}
    )
    frames += tr.feed(
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": 2},
        }
    )
    frames += tr.feed({"type": "message_stop"})
    objs = [orjson.loads(f[6:]) for f in frames[:-1]]
    assert {(o["id"], o["created"], o["model"]) for o in objs} == {
        (tr.completion_id, tr.created, "m")
    }
    assert tr.completion_id.startswith("chatcmpl-")
    assert frames[-1] == b"data: [DONE]\n\n"
    assert tr.usage == objs[-1]["usage"]
    assert tr.finish_reason == "stop"
    assert tr.feed({"type": "message_stop"}) == [] and tr.finish() == []


def test_fail_emits_one_error_frame_and_ends() -> None:
    tr = StreamTranslator(_req())
    tr.feed(START)
    (frame,) = tr.fail(Overloaded("busy"))
    assert orjson.loads(frame[6:]) == {
        "error": {"message": "busy", "type": "server_error", "param": None, "code": "overloaded"}
    }
    assert tr.done and tr.fail(Overloaded("again")) == [] and tr.feed(START) == []


def test_role_emitted_even_without_message_start() -> None:
    tr = StreamTranslator(_req())
    frames = tr.feed(
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": "hi"}}
    )
    assert b'"role":"assistant"' in frames[0] and b'"content":"hi"' in frames[1]


def test_text_delta_path_is_fast() -> None:
    tr = StreamTranslator(_req(stream_options={"include_usage": True}))
    tr.feed(START)
    tr.feed(
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    )
    ev = {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "text_delta", "text": "hello world"},
    }
    n = 20000
    t0 = time.perf_counter()
    for _ in range(n):
        tr.feed(ev)
    per_event_us = (time.perf_counter() - t0) / n * 1e6
    assert per_event_us < 20, per_event_us  # typically ~1 µs; generous for slow CI


# --------------------------------------------------------------------------------------------
# property: streaming a message == converting it whole

safe_text = st.text(min_size=1, max_size=12)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.text(max_size=6)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
tool_inputs = st.dictionaries(st.text(max_size=5), json_values, max_size=3)
blocks = st.lists(
    st.one_of(
        safe_text.map(lambda t: {"type": "text", "text": t}),
        st.builds(
            lambda i, n, inp: {"type": "tool_use", "id": f"toolu_{i}", "name": n, "input": inp},
            st.integers(0, 10**6),
            st.sampled_from(["get_weather", "lookup"]),
            tool_inputs,
        ),
        safe_text.map(lambda t: {"type": "thinking", "thinking": t, "signature": "sig"}),
    ),
    max_size=5,
).map(
    lambda bs: [
        {**b, "id": f"{b['id']}_{k}"} if b["type"] == "tool_use" else b for k, b in enumerate(bs)
    ]
)
usage_st = st.fixed_dictionaries(
    {
        "input_tokens": st.integers(0, 10**6),
        "output_tokens": st.integers(0, 10**5),
        "cache_creation_input_tokens": st.one_of(st.none(), st.integers(0, 10**5)),
        "cache_read_input_tokens": st.one_of(st.none(), st.integers(0, 10**5)),
    }
)
messages = st.fixed_dictionaries(
    {
        "content": blocks,
        "stop_reason": st.sampled_from(
            [
                "end_turn",
                "stop_sequence",
                "max_tokens",
                "tool_use",
                "refusal",
                "pause_turn",
                "model_context_window_exceeded",
                "odd",
            ]
        ),
        "usage": usage_st,
    }
)


def _split(draw, s: str) -> list[str]:
    cuts = sorted(draw(st.lists(st.integers(0, len(s)), max_size=4)))
    parts, prev = [], 0
    for c in [*cuts, len(s)]:
        parts.append(s[prev:c])
        prev = c
    return parts


@st.composite
def event_sequences(draw, message: dict) -> list[dict]:
    noise = st.sampled_from([{"type": "ping"}, {"type": "vertex_event", "usage": {"tiers": {}}}])
    u = message["usage"]
    evs: list[dict] = [
        {
            "type": "message_start",
            "message": {"content": [], "stop_reason": None, "usage": {**u, "output_tokens": 1}},
        }
    ]
    for i, b in enumerate(message["content"]):
        if draw(st.booleans()):
            evs.append(draw(noise))
        if b["type"] == "text":
            evs.append(
                {
                    "type": "content_block_start",
                    "index": i,
                    "content_block": {"type": "text", "text": ""},
                }
            )
            evs += [
                {
                    "type": "content_block_delta",
                    "index": i,
                    "delta": {"type": "text_delta", "text": p},
                }
                for p in _split(draw, b["text"])
                if p
            ]
        elif b["type"] == "tool_use":
            evs.append(
                {
                    "type": "content_block_start",
                    "index": i,
                    "content_block": {
                        "type": "tool_use",
                        "id": b["id"],
                        "name": b["name"],
                        "input": {},
                    },
                }
            )
            args = orjson.dumps(b["input"]).decode()
            # an argument-less tool may come with no non-empty fragment at all
            no_frag = args == "{}" and draw(st.booleans())
            parts = [""] if no_frag else ["", *_split(draw, args)]
            evs += [
                {
                    "type": "content_block_delta",
                    "index": i,
                    "delta": {"type": "input_json_delta", "partial_json": p},
                }
                for p in parts
            ]
        else:
            evs.append(
                {
                    "type": "content_block_start",
                    "index": i,
                    "content_block": {"type": "thinking", "thinking": "", "signature": ""},
                }
            )
            evs += [
                {
                    "type": "content_block_delta",
                    "index": i,
                    "delta": {"type": "thinking_delta", "thinking": p},
                }
                for p in _split(draw, b["thinking"])
                if p
            ]
            evs.append(
                {
                    "type": "content_block_delta",
                    "index": i,
                    "delta": {"type": "signature_delta", "signature": "sig"},
                }
            )
        evs.append({"type": "content_block_stop", "index": i})
    evs.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": message["stop_reason"]},
            "usage": {"output_tokens": u["output_tokens"]},
        }
    )
    if draw(st.booleans()):
        evs.append(draw(noise))
    evs.append({"type": "message_stop"})
    return evs


REQ_VARIANTS = {
    "plain": {},
    "usage": {"stream_options": {"include_usage": True}},
    "json_schema": {
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "r", "schema": {"type": "object", "properties": {}}},
        }
    },
    "json_wrapped": {
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "r", "schema": {"type": "object", "properties": {}}},
        }
    },
}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    message=messages,
    variant=st.sampled_from(sorted(REQ_VARIANTS)),
    reasoning=st.booleans(),
)
def test_property_stream_equals_whole_message(
    data, message: dict, variant: str, reasoning: bool
) -> None:
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "x"}],
        "stream": True,
        **REQ_VARIANTS[variant],
    }
    if variant == "json_wrapped":
        body["response_format"]["json_schema"]["schema"] = {"type": "array"}
    req = to_anthropic(body, model_id=MODEL_ID, options=ConvertOptions(reasoning_content=reasoning))
    if req.json_mode is not None and req.json_mode.tool_name:
        # rename one generated tool call (if any) into the JSON-mode tool
        for b in message["content"]:
            if b["type"] == "tool_use":
                b["name"] = req.json_mode.tool_name
                if variant == "json_wrapped":
                    b["input"] = {"value": b["input"]}
                break
    events = data.draw(event_sequences(message))
    tr = StreamTranslator(req, completion_id="chatcmpl-p", created=1)
    blob = b"".join(f for ev in events for f in tr.feed(ev))
    whole = to_openai(message, req, completion_id="chatcmpl-p", created=1)
    final, usage, error = accumulate(blob)
    assert error is None and final is not None
    got, want = final["choices"][0], whole["choices"][0]
    assert got["finish_reason"] == want["finish_reason"] == tr.finish_reason
    gm, wm = got["message"], want["message"]
    assert (gm["content"] or None) == (wm["content"] or None)
    assert (gm.get("reasoning_content") or None) == wm.get("reasoning_content")
    g_calls = [
        (c["id"], c["type"], c["function"]["name"], orjson.loads(c["function"]["arguments"]))
        for c in gm["tool_calls"] or []
    ]
    w_calls = [
        (c["id"], c["type"], c["function"]["name"], orjson.loads(c["function"]["arguments"]))
        for c in wm.get("tool_calls", [])
    ]
    assert g_calls == w_calls
    assert final["id"] == whole["id"] and final["model"] == whole["model"] == "m"
    if req.include_usage:
        assert usage == whole["usage"]
    else:
        assert usage is None
    assert tr.usage == whole["usage"]
