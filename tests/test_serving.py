"""End to end: the official openai SDK → the real daemon → the bundled Vertex emulator."""

from __future__ import annotations

import base64
import concurrent.futures
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import openai
import pytest
import requests

from tests.conftest import Daemon, EmulatorThread, emulator_env, wait_until

PNG_1PX = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def client(daemon: Daemon, **kwargs: object) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{daemon.base_url}/v1", api_key="unused", max_retries=0, **kwargs
    )


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


# --- plain and streamed chat -------------------------------------------------------------


def test_plain_chat(daemon: Daemon) -> None:
    completion = client(daemon).chat.completions.create(model="gpt-4o", messages=user("hello"))
    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-")
    assert completion.model == "gpt-4o"  # the client's name, not the Vertex ID
    assert abs(completion.created - time.time()) < 60
    choice = completion.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == "Echo: hello"
    assert choice.finish_reason == "stop"
    assert completion.usage is not None
    usage = completion.usage
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens > 0


def test_streamed_chat_with_usage(daemon: Daemon) -> None:
    stream = client(daemon).chat.completions.create(
        model="claude-sonnet",
        messages=user("[mm:long 40] go"),
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert len({c.id for c in chunks}) == 1
    assert {c.model for c in chunks} == {"claude-sonnet"}
    content_chunks = [c for c in chunks if c.choices]
    assert content_chunks[0].choices[0].delta.role == "assistant"
    assert all(c.choices[0].delta.role is None for c in content_chunks[1:])
    text = "".join(c.choices[0].delta.content or "" for c in content_chunks)
    assert len(text.split()) == 40
    assert len(content_chunks) > 5  # really streamed in pieces
    assert content_chunks[-1].choices[0].finish_reason == "stop"
    usage_chunk = chunks[-1]
    assert usage_chunk.choices == [] and usage_chunk.usage is not None
    assert usage_chunk.usage.completion_tokens > 0
    assert all(c.usage is None for c in chunks[:-1])


def test_stream_helper_accumulates(daemon: Daemon) -> None:
    with client(daemon).chat.completions.stream(
        model="claude-sonnet", messages=user("[mm:text Hello there, friend.]")
    ) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == "Hello there, friend."


def test_without_include_usage_no_usage_chunk(daemon: Daemon) -> None:
    chunks = list(
        client(daemon).chat.completions.create(model="x", messages=user("hi"), stream=True)
    )
    assert all(c.choices for c in chunks)
    assert all(c.usage is None for c in chunks)


# --- tools --------------------------------------------------------------------------------


def test_tool_call_non_streaming(daemon: Daemon) -> None:
    completion = client(daemon).chat.completions.create(
        model="claude-sonnet",
        messages=user('[mm:tool get_weather {"city": "Paris \\"Ville\\" Lumière"}]'),
        tools=[WEATHER_TOOL],
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls
    assert call.type == "function" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": 'Paris "Ville" Lumière'}


def test_parallel_tool_calls_streamed(daemon: Daemon) -> None:
    prompt = (
        '[mm:text Let me check.] [mm:tool get_weather {"city": "Paris"}] '
        '[mm:tool get_weather {"city": "Tokyo, \\"JP\\""}] [mm:tool get_time {}]'
    )
    with client(daemon).chat.completions.stream(
        model="claude-sonnet", messages=user(prompt), tools=[WEATHER_TOOL]
    ) as stream:
        final = stream.get_final_completion()
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Let me check."
    calls = choice.message.tool_calls
    assert [c.function.name for c in calls] == ["get_weather", "get_weather", "get_time"]
    assert [json.loads(c.function.arguments) for c in calls] == [
        {"city": "Paris"},
        {"city": 'Tokyo, "JP"'},
        {},
    ]
    assert len({c.id for c in calls}) == 3


def test_streamed_tool_indexes_are_dense(daemon: Daemon) -> None:
    prompt = '[mm:text ok] [mm:tool a {"x": 1}] [mm:tool b {"y": 2}]'
    chunks = list(
        client(daemon).chat.completions.create(
            model="m", messages=user(prompt), tools=[WEATHER_TOOL], stream=True
        )
    )
    indexes = [
        tc.index for c in chunks for tc in (c.choices[0].delta.tool_calls or []) if c.choices
    ]
    assert sorted(set(indexes)) == [0, 1]
    for c in chunks:
        assert "{" not in (c.choices[0].delta.content or "")  # no tool JSON as text


def test_tool_round_trip(daemon: Daemon) -> None:
    oa = client(daemon)
    first = oa.chat.completions.create(
        model="claude-sonnet",
        messages=user('[mm:tool get_weather {"city": "Paris"}]'),
        tools=[WEATHER_TOOL],
    )
    call = first.choices[0].message.tool_calls[0]
    second = oa.chat.completions.create(
        model="claude-sonnet",
        tools=[WEATHER_TOOL],
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "weather in Paris?"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [call.model_dump()],
            },
            {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21C"},
            {"role": "user", "content": "thanks"},
        ],
    )
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content == "Echo: thanks"


# --- images -------------------------------------------------------------------------------


def test_image_data_uri(daemon: Daemon, emulator: EmulatorThread) -> None:
    data_uri = "data:image/png;base64," + base64.b64encode(PNG_1PX).decode()
    completion = client(daemon).chat.completions.create(
        model="m",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this? [mm:echo-request]"},
                    {"type": "image_url", "image_url": {"url": data_uri}},
                ],
            }
        ],
    )
    body = json.loads(completion.choices[0].message.content)
    image = body["messages"][0]["content"][1]
    assert image["source"] == {
        "type": "base64",
        "media_type": "image/png",
        "data": base64.b64encode(PNG_1PX).decode(),
    }


class _ImageServer:
    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/pixel.png":
                    self.send_response(200)
                    self.send_header("Content-Type", "image/png")
                    self.send_header("Content-Length", str(len(PNG_1PX)))
                    self.end_headers()
                    self.wfile.write(PNG_1PX)
                elif self.path == "/page.html":
                    body = b"<html>not an image</html>"
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                else:
                    self.send_response(404)
                    self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def image_server():
    server = _ImageServer()
    yield server
    server.close()


def _image_message(url: str) -> list[dict]:
    return [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "look [mm:echo-request]"},
                {"type": "image_url", "image_url": {"url": url}},
            ],
        }
    ]


def test_image_url_on_loopback_is_inlined(start_daemon, image_server) -> None:
    d = start_daemon(MODELMUX_IMAGES_ALLOW_PRIVATE_NETWORKS="true")
    completion = client(d).chat.completions.create(
        model="m", messages=_image_message(f"{image_server.url}/pixel.png")
    )
    sent = json.loads(completion.choices[0].message.content)
    source = sent["messages"][0]["content"][1]["source"]
    assert source["type"] == "base64" and source["media_type"] == "image/png"
    assert base64.b64decode(source["data"]) == PNG_1PX


def test_image_url_failures_are_400s(start_daemon, image_server) -> None:
    d = start_daemon(MODELMUX_IMAGES_ALLOW_PRIVATE_NETWORKS="true")
    for path in ("/page.html", "/missing.png"):
        with pytest.raises(openai.BadRequestError) as info:
            client(d).chat.completions.create(
                model="m", messages=_image_message(f"{image_server.url}{path}")
            )
        assert "messages[0]" in info.value.message


def test_ssrf_guard_refuses_loopback_by_default(daemon: Daemon, image_server) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client(daemon).chat.completions.create(
            model="m", messages=_image_message(f"{image_server.url}/pixel.png")
        )
    assert "not a public" in info.value.message
    with pytest.raises(openai.BadRequestError):
        client(daemon).chat.completions.create(
            model="m",
            messages=_image_message(
                f"http://localhost:{image_server.url.rsplit(':', 1)[1]}/pixel.png"
            ),
        )


# --- finish reasons and errors -----------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("pause_turn", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("refusal", "content_filter"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_finish_reasons(daemon: Daemon, reason: str, expected: str, stream: bool) -> None:
    oa = client(daemon)
    messages = user(f"[mm:stop {reason}] [mm:text some words]")
    if stream:
        chunks = list(oa.chat.completions.create(model="m", messages=messages, stream=True))
        assert chunks[-1].choices[0].finish_reason == expected
    else:
        completion = oa.chat.completions.create(model="m", messages=messages)
        assert completion.choices[0].finish_reason == expected


@pytest.fixture(scope="module")
def no_retry_daemon(tmp_path_factory, emulator):
    home = tmp_path_factory.mktemp("no-retry")
    d = Daemon([], emulator_env(home, emulator, MODELMUX_SERVER_ENABLE_RETRIES="false"), home)
    yield d
    d.stop()


@pytest.mark.parametrize(
    ("directive", "exc_type", "status"),
    [
        ("[mm:error 400]", openai.BadRequestError, 400),
        ("[mm:error 404]", openai.NotFoundError, 404),
        ("[mm:google-error 404 NOT_FOUND]", openai.NotFoundError, 404),
        ("[mm:error 413]", openai.APIStatusError, 413),
        ("[mm:error 429]", openai.RateLimitError, 429),
        ("[mm:google-error-array 429 RESOURCE_EXHAUSTED]", openai.RateLimitError, 429),
        ("[mm:error 500]", openai.InternalServerError, 502),
        ("[mm:error 503]", openai.InternalServerError, 503),
        ("[mm:error 529]", openai.InternalServerError, 503),
        ("[mm:error 504]", openai.InternalServerError, 504),
        ("[mm:error 403]", openai.InternalServerError, None),
        ("[mm:google-error-array 403 PERMISSION_DENIED]", openai.InternalServerError, None),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_upstream_error_statuses(no_retry_daemon, directive, exc_type, status, stream) -> None:
    with pytest.raises(exc_type) as info:
        result = client(no_retry_daemon).chat.completions.create(
            model="m", messages=user(f"{directive} hi"), stream=stream
        )
        if stream:
            list(result)
    err = info.value
    if status is not None:
        assert err.status_code == status
    assert err.status_code != 401  # never blame the client's key for upstream trouble
    body = err.body
    assert isinstance(body, dict) and set(body) >= {"message", "type", "param", "code"}
    if status == 429:
        assert err.response.headers.get("retry-after")


def test_retry_recovers(daemon: Daemon) -> None:
    before = requests.get(f"{daemon.base_url}/health").json()["metrics"]
    completion = client(daemon).chat.completions.create(
        model="m", messages=user(f"[mm:fail-once 503] recover {time.time()}")
    )
    assert completion.choices[0].message.content.startswith("Echo: recover")
    after = requests.get(f"{daemon.base_url}/health").json()["metrics"]
    assert after["retry_attempts"] == before["retry_attempts"] + 1


def test_upstream_401_refreshes_token_once(daemon: Daemon, emulator: EmulatorThread) -> None:
    grants = emulator.stats()["token_grants"]
    completion = client(daemon).chat.completions.create(
        model="m", messages=user(f"[mm:fail-once 401] again {time.time()}")
    )
    assert completion.choices[0].message.content.startswith("Echo: again")
    assert emulator.stats()["token_grants"] == grants + 1


def test_midstream_error_raises_api_error(daemon: Daemon) -> None:
    stream = client(daemon).chat.completions.create(
        model="m", messages=user("[mm:midstream-error overloaded_error] [mm:long 30]"), stream=True
    )
    received = []
    with pytest.raises(openai.APIError) as info:
        for chunk in stream:
            received.append(chunk)
    assert received  # some text arrived before the error
    assert (
        "overload" in str(info.value.message).lower() or "overload" in str(info.value.body).lower()
    )


def _raw_stream(daemon: Daemon, prompt: str, **headers: str) -> list[str]:
    resp = requests.post(
        f"{daemon.base_url}/v1/chat/completions",
        json={"model": "m", "messages": user(prompt), "stream": True},
        headers={"User-Agent": "OpenAI/Python 9.9", **headers},
        stream=True,
        timeout=30,
    )
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/event-stream")
    return [line for line in resp.iter_lines(decode_unicode=True) if line]


def test_no_event_lines_and_done_at_end(daemon: Daemon) -> None:
    lines = _raw_stream(daemon, "[mm:thinking pondering] [mm:long 10]")
    assert not [line for line in lines if line.startswith("event:")]
    assert lines[-1] == "data: [DONE]"


def test_stall_ends_with_error_not_done(start_daemon) -> None:
    d = start_daemon(MODELMUX_VERTEX_STREAM_IDLE_TIMEOUT_S="1")
    started = time.monotonic()
    lines = _raw_stream(d, "[mm:stall] [mm:long 20]")
    assert time.monotonic() - started < 10
    assert lines[-1].startswith('data: {"error"')
    assert "data: [DONE]" not in lines


def test_truncated_stream_ends_with_error(daemon: Daemon) -> None:
    lines = _raw_stream(daemon, "[mm:truncate] [mm:long 20]")
    assert lines[-1].startswith('data: {"error"')
    assert "data: [DONE]" not in lines


def test_keepalive_comments_while_silent(start_daemon) -> None:
    d = start_daemon(MODELMUX_STREAMING_KEEPALIVE_S="0.2")
    lines = _raw_stream(d, "[mm:slow 700] [mm:long 3]")
    assert any(line.startswith(":") for line in lines)
    assert lines[-1] == "data: [DONE]"


# --- delivery modes -----------------------------------------------------------------------


def _post_stream(d: Daemon, prompt: str, ua: str) -> requests.Response:
    return requests.post(
        f"{d.base_url}/v1/chat/completions",
        json={"model": "m", "messages": user(prompt), "stream": True},
        headers={"User-Agent": ua},
        timeout=30,
    )


def _data_frames(resp: requests.Response) -> list[dict]:
    out = []
    for line in resp.text.splitlines():
        if line.startswith("data: ") and line != "data: [DONE]":
            out.append(json.loads(line[6:]))
    return out


def test_auto_mode_curl_gets_json_sdk_gets_stream(daemon: Daemon) -> None:
    resp = _post_stream(daemon, "hi", "curl/8.5.0")
    assert resp.headers["content-type"].startswith("application/json")
    assert resp.json()["object"] == "chat.completion"
    resp = _post_stream(daemon, "hi", "OpenAI/Python 3.57.0")
    assert resp.headers["content-type"].startswith("text/event-stream")


def test_sdk_stream_even_with_accept_json(daemon: Daemon) -> None:
    chunks = list(
        client(daemon, default_headers={"Accept": "application/json"}).chat.completions.create(
            model="m", messages=user("hi"), stream=True
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Echo: hi"


@pytest.mark.parametrize(
    ("mode", "ua", "expect"),
    [
        ("never", "OpenAI/Python 3.57.0", "json"),
        ("standard", "curl/8.5.0", "many"),
        ("standard", "Mozilla/5.0", "many"),
        ("buffered", "OpenAI/Python 3.57.0", "few"),
        ("always", "curl/8.5.0", "many"),
        ("always", "Mozilla/5.0", "few"),
        ("auto", "Mozilla/5.0", "few"),
        ("auto", "MyAgent/1.0", "many"),
    ],
)
def test_streaming_modes_on_the_wire(start_daemon, mode: str, ua: str, expect: str) -> None:
    d = start_daemon(MODELMUX_STREAMING_MODE=mode)
    # 60 words in ~30 deltas with sentence ends every 10 words
    resp = _post_stream(d, "[mm:long 60]", ua)
    if expect == "json":
        assert resp.headers["content-type"].startswith("application/json")
        return
    assert resp.headers["content-type"].startswith("text/event-stream")
    content_frames = [
        f for f in _data_frames(resp) if f["choices"] and f["choices"][0]["delta"].get("content")
    ]
    text = "".join(f["choices"][0]["delta"]["content"] for f in content_frames)
    assert len(text.split()) == 60
    if expect == "many":
        assert len(content_frames) >= 20
    else:
        assert 1 <= len(content_frames) < 20


# --- concurrency, tokens, disconnects --------------------------------------------------------


def test_burst_against_429_once_all_succeed(daemon: Daemon) -> None:
    oa = client(daemon)
    tag = time.time()

    def one(i: int) -> str:
        completion = oa.chat.completions.create(
            model="m", messages=user(f"[mm:fail-once 429] burst {tag} {i}")
        )
        return completion.choices[0].message.content

    with concurrent.futures.ThreadPoolExecutor(max_workers=30) as pool:
        results = list(pool.map(one, range(30)))
    assert all(r.startswith("Echo: burst") for r in results)


def test_short_token_ttl_one_refresh_per_expiry(tmp_path: Path) -> None:
    emu = EmulatorThread(tmp_path / "keys", token_ttl_s=2)
    (tmp_path / "keys").mkdir(exist_ok=True)
    d = Daemon([], emulator_env(tmp_path, emu), tmp_path)
    try:
        oa = client(d)
        started = time.monotonic()
        rounds = 0
        with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
            while time.monotonic() - started < 6:
                results = list(
                    pool.map(
                        lambda i: oa.chat.completions.create(model="m", messages=user(f"t{i}")),
                        range(20),
                    )
                )
                assert all(r.choices[0].message.content.startswith("Echo: t") for r in results)
                rounds += 1
                time.sleep(0.3)
        elapsed = time.monotonic() - started
        grants = emu.stats()["token_grants"]
        # renewed 0.5 s before each 2 s expiry: one grant per ~1.5 s, never one per request
        assert grants <= elapsed / 1.5 + 2
        assert grants >= 3
        assert rounds * 20 > grants * 10
    finally:
        d.stop()
        emu.close()


def test_client_disconnect_cancels_upstream(daemon: Daemon, emulator: EmulatorThread) -> None:
    before = emulator.stats()["client_disconnects"]
    with socket.create_connection(("127.0.0.1", daemon.port)) as sock:
        body = json.dumps(
            {"model": "m", "stream": True, "messages": user("[mm:slow 200] [mm:long 200]")}
        ).encode()
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nUser-Agent: OpenAI/Python 1\r\n"
            b"Content-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )
        assert b"200" in sock.recv(4096)
    assert wait_until(lambda: emulator.stats()["client_disconnects"] > before, timeout=5)
    assert wait_until(
        lambda: requests.get(f"{daemon.base_url}/health").json()["metrics"]["active_streams"] == 0
    )


# --- HTTP surface ------------------------------------------------------------------------------


def test_models_endpoints(daemon: Daemon) -> None:
    oa = client(daemon)
    ids = [m.id for m in oa.models.list()]
    assert {"claude-sonnet", "claude-haiku", "claude-sonnet-4-5@20250929"} <= set(ids) or {
        "claude-sonnet",
        "claude-haiku",
    } <= set(ids)
    model = oa.models.retrieve("claude-haiku")
    assert model.id == "claude-haiku" and model.object == "model"
    assert abs(model.created - time.time()) < 86400 * 365
    with pytest.raises(openai.NotFoundError) as info:
        oa.models.retrieve("nope")
    assert info.value.code == "model_not_found"


def test_reject_unknown_models_setting(start_daemon) -> None:
    d = start_daemon(MODELMUX_VERTEX_REJECT_UNKNOWN_MODELS="true")
    with pytest.raises(openai.NotFoundError) as info:
        client(d).chat.completions.create(model="gpt-4o", messages=user("hi"))
    assert info.value.code == "model_not_found"
    ok = client(d).chat.completions.create(model="claude-sonnet-4-5@20250929", messages=user("hi"))
    assert ok.model == "claude-sonnet-4-5@20250929"


def test_alias_location_routes_upstream(daemon: Daemon, emulator: EmulatorThread) -> None:
    client(daemon).chat.completions.create(model="CLAUDE-HAIKU", messages=user("route me"))
    paths = [r["path"] for r in emulator.requests()]
    assert any(
        p.endswith(
            "/locations/global/publishers/anthropic/models/claude-haiku-4-5@20251001:rawPredict"
        )
        for p in paths
    )


def _post(d: Daemon, data: bytes, **headers: str) -> requests.Response:
    return requests.post(
        f"{d.base_url}/v1/chat/completions",
        data=data,
        headers={"Content-Type": "application/json", **headers},
        timeout=30,
    )


def _assert_openai_error(resp: requests.Response, status: int) -> dict:
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    return err


@pytest.mark.parametrize(
    ("data", "param"),
    [
        (b"{not json", None),
        (b"", None),
        (b"[1, 2]", None),
        (b'{"model": "m"}', "messages"),
        (b'{"model": "m", "messages": []}', "messages"),
        (b'{"model": "m", "messages": "hi"}', "messages"),
        (b'{"model": 5, "messages": [{"role": "user", "content": "x"}]}', "model"),
        (
            b'{"model": "m", "messages": [{"role": "tool", "tool_call_id": "a", "content": "x"}]}',
            "messages",
        ),
        (b'{"model": "m", "messages": [{"role": "user", "content": "x"}], "n": 3}', "n"),
        (b"\xff\xfe{}", None),
    ],
)
def test_bad_requests_are_400(daemon: Daemon, data: bytes, param: str | None) -> None:
    err = _assert_openai_error(_post(daemon, data), 400)
    if param is not None:
        assert err["param"] and err["param"].startswith(param)


def test_oversized_body_is_413(start_daemon) -> None:
    d = start_daemon(MODELMUX_SERVER_MAX_BODY_MB="1")
    big = json.dumps({"model": "m", "messages": user("x" * (2 * 1024 * 1024))}).encode()
    _assert_openai_error(_post(d, big), 413)


def test_unknown_route_and_wrong_method(daemon: Daemon) -> None:
    _assert_openai_error(requests.get(f"{daemon.base_url}/v1/nope"), 404)
    _assert_openai_error(requests.get(f"{daemon.base_url}/v1/chat/completions"), 405)


def test_request_id_echoed(daemon: Daemon) -> None:
    resp = requests.get(f"{daemon.base_url}/health", headers={"X-Request-ID": "abc-123"})
    assert resp.headers["X-Request-ID"] == "abc-123"
    resp = requests.get(f"{daemon.base_url}/health", headers={"X-Request-ID": "x" * 500})
    assert resp.status_code == 200
    assert resp.headers["X-Request-ID"].startswith("req_")  # oversized ids are replaced


def test_health_counts_honestly(start_daemon) -> None:
    d = start_daemon(MODELMUX_SERVER_ENABLE_RETRIES="false")
    oa = client(d)
    oa.chat.completions.create(model="m", messages=user("one"))
    list(oa.chat.completions.create(model="m", messages=user("two"), stream=True))
    with pytest.raises(openai.RateLimitError):
        oa.chat.completions.create(model="m", messages=user("[mm:error 429]"))
    with pytest.raises(openai.APIError):
        list(
            oa.chat.completions.create(
                model="m", messages=user("[mm:midstream-error api_error] x"), stream=True
            )
        )
    health = requests.get(f"{d.base_url}/health").json()
    assert health["status"] == "ok"
    m = health["metrics"]
    assert m["total_requests"] == 4
    assert m["successful_requests"] == 2
    assert m["failed_requests"] == 2
    assert m["quota_errors"] == 1
    assert m["retry_attempts"] == 0


def test_image_url_inside_tool_result_is_inlined(start_daemon, image_server) -> None:
    d = start_daemon(MODELMUX_IMAGES_ALLOW_PRIVATE_NETWORKS="true")
    completion = client(d).chat.completions.create(
        model="m",
        tools=[WEATHER_TOOL],
        messages=[
            {"role": "user", "content": "show me the radar"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call.1:radar",  # not Vertex-safe: must be sanitised both sides
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            {
                "role": "tool",
                "tool_call_id": "call.1:radar",
                "content": [
                    {"type": "text", "text": "radar image [mm:echo-request]"},
                    {"type": "image_url", "image_url": {"url": f"{image_server.url}/pixel.png"}},
                ],
            },
        ],
    )
    sent = json.loads(completion.choices[0].message.content)
    tool_use = sent["messages"][1]["content"][0]
    result = sent["messages"][2]["content"][0]
    assert result["type"] == "tool_result" and result["tool_use_id"] == tool_use["id"]
    image = next(b for b in result["content"] if b["type"] == "image")
    assert image["source"]["type"] == "base64"
    assert base64.b64decode(image["source"]["data"]) == PNG_1PX
    assert "url" not in json.dumps(sent["messages"][2])


@pytest.mark.parametrize(
    "raw",
    [
        b"GET /health HTTP/1.1\r\nHost: x\r\nX-Request-ID: bad\x7fid\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n",
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
        b"BR@KEN / HTTP/1.1\r\n\r\n",
        b"GET /health HTTP/9.9\r\n\r\n",
    ],
)
def test_protocol_errors_are_openai_json(daemon: Daemon, raw: bytes) -> None:
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=10) as sock:
        sock.sendall(raw)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert 400 <= status < 500, head
    assert b"application/json" in head.lower()
    err = json.loads(body)["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert err["type"] == "invalid_request_error"
    assert "Traceback" not in err["message"]


def test_output_config_only_when_enabled(start_daemon) -> None:
    """Pitfall A14: Vertex has rejected output_config; it is sent only when configured."""
    request = {
        "model": "claude-opus-4-7",
        "messages": user("think [mm:echo-request]"),
        "reasoning_effort": "high",
    }
    off = start_daemon(MODELMUX_VERTEX_MODEL="claude-opus-4-7")
    sent = json.loads(client(off).chat.completions.create(**request).choices[0].message.content)
    assert sent["thinking"]["type"] == "adaptive"
    assert "output_config" not in sent
    on = start_daemon(
        MODELMUX_VERTEX_MODEL="claude-opus-4-7", MODELMUX_TRANSLATION_OUTPUT_CONFIG="true"
    )
    with pytest.raises(openai.BadRequestError) as info:  # this emulator rejects it, as Vertex did
        client(on).chat.completions.create(**request)
    assert "output_config" in info.value.message


def test_keepalive_zero_sends_no_comments(start_daemon) -> None:
    d = start_daemon(MODELMUX_STREAMING_KEEPALIVE_S="0")
    lines = _raw_stream(d, "[mm:slow 300] [mm:long 4]")
    assert not [line for line in lines if line.startswith(":")]
    assert lines[-1] == "data: [DONE]"


def test_aborted_streams_release_everything(start_daemon, emulator: EmulatorThread) -> None:
    """Clients that vanish while keep-alives are being written: no 500s, no stuck counters."""
    d = start_daemon(MODELMUX_STREAMING_KEEPALIVE_S="0.05")
    body = json.dumps(
        {"model": "m", "stream": True, "messages": user("[mm:slow 300] [mm:long 40]")}
    ).encode()
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nUser-Agent: OpenAI/Python 1\r\n"
        b"Content-Type: application/json\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )
    socks = []
    for _ in range(40):
        sock = socket.create_connection(("127.0.0.1", d.port))
        sock.sendall(request)
        socks.append(sock)
    for sock in socks:
        assert b"200" in sock.recv(4096)
    time.sleep(0.2)
    for sock in socks:
        sock.close()

    def settled() -> bool:
        return requests.get(f"{d.base_url}/health").json()["metrics"]["active_streams"] == 0

    assert wait_until(settled, timeout=10)
    assert not [e for e in d.events() if e.get("event") == "unhandled error"]
    assert not [e for e in d.events("request") if e.get("status") == 500]


def test_undecodable_body_is_400(daemon: Daemon) -> None:
    resp = _post(daemon, b"definitely not gzip", **{"Content-Encoding": "gzip"})
    _assert_openai_error(resp, 400)


def test_huge_model_name_is_not_logged_whole(daemon: Daemon) -> None:
    name = "m" * 100_000
    client(daemon).chat.completions.create(model=name, messages=user("big name"))
    assert wait_until(lambda: any(len(e.get("model", "")) == 200 for e in daemon.events("request")))
    assert not any(name in line for line in daemon.lines)


def test_long_retry_after_is_not_waited_out(daemon: Daemon) -> None:
    started = time.monotonic()
    with pytest.raises(openai.InternalServerError) as info:
        client(daemon).chat.completions.create(
            model="m", messages=user(f"[mm:error 529] [mm:retry-after 60] {time.time()}")
        )
    assert time.monotonic() - started < 5
    assert info.value.status_code == 503
    assert info.value.response.headers.get("retry-after") == "60"


@pytest.mark.parametrize(
    ("allowed", "sent", "forwarded"),
    [
        ("", "context-1m-2025-08-07", None),
        ("context-1m-2025-08-07", "context-1m-2025-08-07, made-up-beta", "context-1m-2025-08-07"),
        (
            "context-1m-2025-08-07,interleaved-thinking-2025-05-14",
            "interleaved-thinking-2025-05-14,context-1m-2025-08-07",
            "interleaved-thinking-2025-05-14,context-1m-2025-08-07",
        ),
    ],
)
def test_anthropic_beta_allow_list(
    start_daemon, emulator: EmulatorThread, allowed, sent, forwarded
):
    """Pitfall A15: allow-listed betas reach Vertex; anything else is dropped, not a 400."""
    d = start_daemon(MODELMUX_VERTEX_ANTHROPIC_BETA=allowed)
    tag = f"beta {time.time()}"
    for stream in (False, True):
        result = client(d, default_headers={"anthropic-beta": sent}).chat.completions.create(
            model="m", messages=user(tag), stream=stream
        )
        if stream:
            list(result)
    seen = [r for r in emulator.requests() if tag in json.dumps(r["body"])]
    assert len(seen) == 2
    for r in seen:
        headers = {k.lower(): v for k, v in r["headers"].items()}
        assert headers.get("anthropic-beta") == forwarded


def test_emulator_rejects_unknown_betas_like_vertex(start_daemon) -> None:
    d = start_daemon(MODELMUX_VERTEX_ANTHROPIC_BETA="made-up-beta")
    with pytest.raises(openai.BadRequestError) as info:
        client(d, default_headers={"anthropic-beta": "made-up-beta"}).chat.completions.create(
            model="m", messages=user("hi")
        )
    assert "anthropic-beta" in info.value.message
