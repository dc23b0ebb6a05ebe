"""Table-driven tests for the small pure pieces: client detection, buffering, routing, URLs."""

from __future__ import annotations

import pytest

from modelmux.buffering import TextCoalescer
from modelmux.clients import Delivery, choose_delivery
from modelmux.convert.media import sniff
from modelmux.errors import InvalidRequest, ModelNotFound
from modelmux.routing import ModelTable
from modelmux.settings import ModelAlias, VertexSettings
from modelmux.upstream.images import is_public_address
from modelmux.upstream.vertex import model_url, vertex_base_url

NON_STREAMING = ("curl", "wget", "httpie", "postman", "insomnia", "jetbrains")
BUFFERED = ("mozilla", "vscode")


@pytest.mark.parametrize(
    ("wants", "ua", "mode", "expected"),
    [
        (False, "OpenAI/Python 1.0", "always", Delivery.JSON),
        (True, "OpenAI/Python 1.99.0", "auto", Delivery.STREAM),
        (True, "OpenAI/JS 4.0", "auto", Delivery.STREAM),
        (True, "curl/8.5.0", "auto", Delivery.JSON),
        (True, "HTTPie/3.2", "auto", Delivery.JSON),
        (True, "PostmanRuntime/7.36", "auto", Delivery.JSON),
        (True, "Mozilla/5.0 (X11)", "auto", Delivery.BUFFERED),
        (True, "", "auto", Delivery.STREAM),
        (True, "langchain-python/0.3", "auto", Delivery.STREAM),
        (True, "curl/8.5.0", "always", Delivery.STREAM),
        (True, "Mozilla/5.0", "always", Delivery.BUFFERED),
        (True, "curl/8.5.0", "standard", Delivery.STREAM),
        (True, "Mozilla/5.0", "standard", Delivery.STREAM),
        (True, "OpenAI/Python 1.0", "buffered", Delivery.BUFFERED),
        (True, "OpenAI/Python 1.0", "never", Delivery.JSON),
    ],
)
def test_choose_delivery(wants: bool, ua: str, mode: str, expected: Delivery) -> None:
    got = choose_delivery(
        wants_stream=wants,
        user_agent=ua,
        mode=mode,
        non_streaming_agents=NON_STREAMING,
        buffered_agents=BUFFERED,
    )
    assert got is expected


def _text(t: str, index: int = 0) -> dict:
    return {
        "type": "content_block_delta",
        "index": index,
        "delta": {"type": "text_delta", "text": t},
    }


def _texts(events: list[dict]) -> list[str]:
    return [e["delta"]["text"] for e in events if e.get("type") == "content_block_delta"]


@pytest.mark.parametrize(
    ("pushes", "size", "expected_out"),
    [
        (["Hel", "lo", " world."], 1000, [[], [], ["Hello world."]]),
        (["a\n"], 1000, [["a\n"]]),
        (["abc", "def"], 4, [[], ["abcdef"]]),
        (["Hi", "!  "], 1000, [[], ["Hi!  "]]),
    ],
)
def test_coalescer_boundaries(pushes: list[str], size: int, expected_out: list[list[str]]) -> None:
    c = TextCoalescer(buffer_size=size, chunk_timeout_s=60)
    assert [_texts(c.push(_text(p), now=0.0)) for p in pushes] == expected_out
    assert not c.holding


def test_coalescer_releases_before_other_events_and_on_timeout() -> None:
    c = TextCoalescer(buffer_size=1000, chunk_timeout_s=1.0)
    assert c.push(_text("held"), now=0.0) == []
    stop = {"type": "content_block_stop", "index": 0}
    assert c.push(stop, now=0.1) == [_text("held"), stop]
    c.push(_text("again"), now=5.0)
    assert not c.due(5.5) and c.due(6.0)
    assert _texts(c.flush()) == ["again"]
    c.push(_text("block0"), now=7.0)
    assert _texts(c.push(_text("block1", index=1), now=7.1)) == ["block0"]


VERTEX = VertexSettings(
    project="p",
    location="us-east5",
    publisher="anthropic",
    model="claude-sonnet-4-5@20250929",
    base_url="",
    anthropic_version="vertex-2023-10-16",
    default_max_tokens=8192,
    request_timeout_s=600,
    connect_timeout_s=10,
    stream_idle_timeout_s=300,
    max_connections=16,
    anthropic_beta=(),
    reject_unknown_models=False,
    models=(
        ModelAlias("claude-haiku", "claude-haiku-4-5@20251001", "global"),
        ModelAlias("Opus", "claude-opus-4-7"),
    ),
)


@pytest.mark.parametrize(
    ("asked", "model_id", "location"),
    [
        ("claude-haiku", "claude-haiku-4-5@20251001", "global"),
        ("CLAUDE-HAIKU", "claude-haiku-4-5@20251001", "global"),
        ("opus", "claude-opus-4-7", "us-east5"),
        ("claude-opus-4-7", "claude-opus-4-7", "us-east5"),
        ("gpt-4o", "claude-sonnet-4-5@20250929", "us-east5"),
    ],
)
def test_routing(asked: str, model_id: str, location: str) -> None:
    route = ModelTable(VERTEX).route(asked)
    assert (route.client_model, route.model_id, route.location) == (asked, model_id, location)


def test_routing_rejects() -> None:
    import dataclasses

    strict = ModelTable(dataclasses.replace(VERTEX, reject_unknown_models=True))
    with pytest.raises(ModelNotFound):
        strict.route("gpt-4o")
    for bad in (None, "", 5, ["x"]):
        with pytest.raises(InvalidRequest):
            strict.route(bad)
    ids = [e.id for e in ModelTable(VERTEX).entries]
    assert ids == ["claude-haiku", "Opus", "claude-sonnet-4-5@20250929"]


@pytest.mark.parametrize(
    ("location", "override", "expected"),
    [
        ("us-east5", "", "https://us-east5-aiplatform.googleapis.com"),
        ("europe-west1", "", "https://europe-west1-aiplatform.googleapis.com"),
        ("global", "", "https://aiplatform.googleapis.com"),
        ("us", "", "https://aiplatform.us.rep.googleapis.com"),
        ("eu", "", "https://aiplatform.eu.rep.googleapis.com"),
        ("global", "http://127.0.0.1:9/", "http://127.0.0.1:9"),
    ],
)
def test_vertex_base_url(location: str, override: str, expected: str) -> None:
    assert vertex_base_url(location, override) == expected


def test_model_url_streaming_and_not() -> None:
    base = vertex_base_url("global")
    assert model_url(
        base,
        project="p",
        location="global",
        publisher="anthropic",
        model_id="claude-opus-4-7",
        stream=True,
    ) == (
        "https://aiplatform.googleapis.com/v1/projects/p/locations/global"
        "/publishers/anthropic/models/claude-opus-4-7:streamRawPredict"
    )
    assert model_url(
        base, project="p", location="global", publisher="anthropic", model_id="m@1", stream=False
    ).endswith("/models/m@1:rawPredict")


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("::1", False),
        ("fe80::1", False),
        ("::ffff:127.0.0.1", False),
        ("224.0.0.1", False),
        ("0.0.0.0", False),
        ("2001:4860:4860::8888", True),
        ("not-an-ip", False),
    ],
)
def test_is_public_address(address: str, public: bool) -> None:
    assert is_public_address(address) is public


@pytest.mark.parametrize(
    ("data", "media_type"),
    [
        (b"\xff\xd8\xff\xe0rest", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\nrest", "image/png"),
        (b"GIF89a...", "image/gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"<html>", None),
        (b"%PDF-1.7", "application/pdf"),
    ],
)
def test_sniff(data: bytes, media_type: str | None) -> None:
    """The bytes, not the declared Content-Type, decide what a downloaded file is."""
    assert sniff(data) == media_type


@pytest.mark.parametrize(
    ("values", "allowed", "expected"),
    [
        ([], ("a",), None),
        (["a"], (), None),
        (["a, b", "c"], ("a", "c"), "a,c"),
        (["b"], ("a",), None),
        (["a,a, a"], ("a",), "a"),
        ([" , "], ("a",), None),
    ],
)
def test_forwarded_betas(values: list[str], allowed: tuple[str, ...], expected: str | None) -> None:
    from modelmux.upstream.vertex import forwarded_betas

    assert forwarded_betas(values, allowed) == expected
