"""Upstream error bodies and stream error events → our exception tree."""

from __future__ import annotations

import orjson
import pytest

from modelmux.convert import from_stream_error, from_upstream
from modelmux.errors import (
    CredentialsError,
    InvalidRequest,
    ModelNotFound,
    Overloaded,
    PayloadTooLarge,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
)


def anthropic(etype: str, msg: str) -> bytes:
    return orjson.dumps(
        {"type": "error", "error": {"type": etype, "message": msg}, "request_id": "req_vrtx_body"}
    )


def google(code: int, status: str, msg: str) -> bytes:
    return orjson.dumps({"error": {"code": code, "message": msg, "status": status}})


@pytest.mark.parametrize(
    ("status", "body", "cls", "http"),
    [
        (400, anthropic("invalid_request_error", "messages: bad"), InvalidRequest, 400),
        (400, google(400, "INVALID_ARGUMENT", "bad arg"), InvalidRequest, 400),
        (
            400,
            google(
                400,
                "FAILED_PRECONDITION",
                "Project `p` is not allowed to use Publisher Model `claude-x`",
            ),
            ModelNotFound,
            404,
        ),
        (
            401,
            google(401, "UNAUTHENTICATED", "Request had invalid authentication credentials."),
            CredentialsError,
            503,
        ),
        (401, anthropic("authentication_error", "bad"), CredentialsError, 503),
        (
            403,
            b"[" + google(403, "PERMISSION_DENIED", "requires data sharing") + b"]",
            UpstreamError,
            502,
        ),
        (404, google(404, "NOT_FOUND", "Publisher Model `x` was not found"), ModelNotFound, 404),
        (404, b"<html>404 Not Found</html>", UpstreamError, 502),
        (413, anthropic("request_too_large", "too big"), PayloadTooLarge, 413),
        (429, b"[" + google(429, "RESOURCE_EXHAUSTED", "Quota exceeded") + b"]", RateLimited, 429),
        (429, anthropic("rate_limit_error", "slow down"), RateLimited, 429),
        (500, anthropic("api_error", "internal"), UpstreamError, 502),
        (500, b"", UpstreamError, 502),
        (503, google(503, "UNAVAILABLE", "unavailable"), Overloaded, 503),
        (529, anthropic("overloaded_error", "Overloaded"), Overloaded, 503),
        (504, anthropic("timeout_error", "timeout"), UpstreamTimeout, 504),
        (502, b"Bad Gateway", UpstreamError, 502),
    ],
)
def test_status_mapping(status, body, cls, http) -> None:
    err = from_upstream(status, body, {"request-id": "req_vrtx_hdr"})
    assert type(err) is cls
    assert err.status == http
    assert err.upstream_request_id == "req_vrtx_hdr"
    b = err.to_body()["error"]
    assert set(b) == {"message", "type", "param", "code"}
    assert err.status != 401  # never blame the client's key for Vertex's credentials


def test_400_keeps_the_upstream_message() -> None:
    err = from_upstream(400, anthropic("invalid_request_error", "messages.0.content: nope"), {})
    assert err.message == "messages.0.content: nope"
    assert err.upstream_request_id == "req_vrtx_body"


def test_context_length_code() -> None:
    err = from_upstream(
        400,
        anthropic("invalid_request_error", "prompt is too long: 250000 tokens > 200000 maximum"),
        {},
    )
    assert err.code == "context_length_exceeded" and err.param == "messages"


def test_retry_after_kept_case_insensitively() -> None:
    err = from_upstream(429, google(429, "RESOURCE_EXHAUSTED", "q"), {"Retry-After": "7"})
    assert err.retry_after == 7.0 and err.headers() == {"Retry-After": "7"}
    err = from_upstream(429, b"", {"retry-after-ms": "1500"})
    assert err.retry_after == 1.5
    assert from_upstream(429, b"", {}).retry_after is None
    assert (
        from_upstream(429, b"", {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}).retry_after == 0.0
    )


def test_resource_exhausted_with_odd_status_is_rate_limit() -> None:
    assert isinstance(from_upstream(400, google(429, "RESOURCE_EXHAUSTED", "q"), {}), RateLimited)


@pytest.mark.parametrize(
    ("etype", "cls"),
    [
        ("overloaded_error", Overloaded),
        ("rate_limit_error", RateLimited),
        ("api_error", UpstreamError),
        ("timeout_error", UpstreamTimeout),
        ("invalid_request_error", InvalidRequest),
        ("brand_new_error", UpstreamError),
    ],
)
def test_stream_error_events(etype, cls) -> None:
    err = from_stream_error({"type": "error", "error": {"type": etype, "message": "m"}})
    assert type(err) is cls and err.message == "m"


def test_stream_error_event_without_details() -> None:
    err = from_stream_error({"type": "error"})
    assert isinstance(err, UpstreamError) and err.message
