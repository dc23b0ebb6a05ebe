"""Upstream (Vertex / Anthropic) error responses and stream error events → our exception tree.

Three body shapes are understood: Anthropic's `{"type":"error","error":{"type","message"}}`,
Google's `{"error":{"code","message","status"}}`, the same wrapped in a JSON array, and anything
else (HTML, empty) by status alone. Vertex's 401/403 concern the proxy's own credentials or
project setup, so they become server errors, never a 401 that blames the client's key.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime

import orjson

from modelmux.errors import (
    CredentialsError,
    InvalidRequest,
    ModelmuxError,
    ModelNotFound,
    Overloaded,
    PayloadTooLarge,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
)

# Anthropic error.type → exception class (stream `error` events and Anthropic-shaped bodies)
_BY_ANTHROPIC_TYPE: dict[str, type[ModelmuxError]] = {
    "invalid_request_error": InvalidRequest,
    "authentication_error": CredentialsError,
    "permission_error": UpstreamError,
    "billing_error": UpstreamError,
    "not_found_error": ModelNotFound,
    "request_too_large": PayloadTooLarge,
    "rate_limit_error": RateLimited,
    "api_error": UpstreamError,
    "timeout_error": UpstreamTimeout,
    "overloaded_error": Overloaded,
}


def _header(headers: Mapping[str, str], name: str) -> str | None:
    v = headers.get(name)
    if v is not None:
        return v
    lname = name.lower()
    for k, val in headers.items():
        if k.lower() == lname:
            return val
    return None


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    ms = _header(headers, "retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    ra = _header(headers, "retry-after")
    if not ra:
        return None
    try:
        return max(0.0, float(ra))
    except ValueError:
        pass
    try:
        from datetime import datetime

        when = parsedate_to_datetime(ra)
        return max(0.0, (when - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


def _parse(body: bytes) -> tuple[str | None, str | None, str | None, str | None]:
    """(anthropic_type, google_status, message, request_id) from any known body shape."""
    try:
        data = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return None, None, None, None
    if isinstance(data, list) and data and isinstance(data[0], dict):
        data = data[0]
    if not isinstance(data, dict):
        return None, None, None, None
    err = data.get("error")
    rid = data.get("request_id") if isinstance(data.get("request_id"), str) else None
    if isinstance(err, dict):
        msg = err.get("message") if isinstance(err.get("message"), str) else None
        if data.get("type") == "error" or (
            isinstance(err.get("type"), str) and "status" not in err
        ):
            return err.get("type"), None, msg, rid
        status = err.get("status") if isinstance(err.get("status"), str) else None
        return None, status, msg, rid
    if isinstance(err, str):  # {"error": "…"} from some front ends
        return None, None, err, rid
    return None, None, None, rid


def from_upstream(status: int, body: bytes, headers: Mapping[str, str]) -> ModelmuxError:
    atype, gstatus, message, body_rid = _parse(body)
    rid = _header(headers, "request-id") or _header(headers, "x-request-id") or body_rid
    detail = message or f"Vertex AI returned HTTP {status}"

    if status == 429 or gstatus == "RESOURCE_EXHAUSTED" or atype == "rate_limit_error":
        return RateLimited(
            f"Rate limited by Vertex AI: {detail}",
            retry_after=retry_after_seconds(headers),
            upstream_request_id=rid,
        )
    if status in (503, 529) or atype == "overloaded_error" or gstatus == "UNAVAILABLE":
        return Overloaded(
            f"The model is overloaded, please retry: {detail}",
            retry_after=retry_after_seconds(headers),
            upstream_request_id=rid,
        )
    if status == 504 or gstatus == "DEADLINE_EXCEEDED" or atype == "timeout_error":
        return UpstreamTimeout(f"Vertex AI timed out: {detail}", upstream_request_id=rid)
    if status == 401 or gstatus == "UNAUTHENTICATED" or atype == "authentication_error":
        return CredentialsError(
            f"Vertex AI rejected the proxy's Google credentials: {detail}", upstream_request_id=rid
        )
    if status == 403 or gstatus == "PERMISSION_DENIED" or atype == "permission_error":
        return UpstreamError(
            f"Vertex AI denied access (check the proxy's project, IAM role and model enablement): {detail}",
            code="upstream_permission_denied",
            upstream_request_id=rid,
        )
    if status == 413 or atype == "request_too_large":
        return PayloadTooLarge(
            f"Request too large for Vertex AI: {detail}", upstream_request_id=rid
        )
    if status == 404:
        if message is None:  # an HTML page: wrong host / base_url, not a client mistake
            return UpstreamError(
                f"Vertex AI endpoint not found (HTTP 404): {detail}", upstream_request_id=rid
            )
        return ModelNotFound(
            f"The model does not exist or the proxy's project has no access to it: {detail}",
            upstream_request_id=rid,
        )
    if status == 400 or (400 <= status < 500 and status not in (402,)):
        if gstatus == "FAILED_PRECONDITION" and message and "publisher model" in message.lower():
            return ModelNotFound(
                f"The model is not enabled for the proxy's project: {detail}",
                upstream_request_id=rid,
            )
        code = None
        low = detail.lower()
        if "prompt is too long" in low or "context window" in low or "too many tokens" in low:
            return InvalidRequest(
                detail, param="messages", code="context_length_exceeded", upstream_request_id=rid
            )
        return InvalidRequest(detail, code=code, upstream_request_id=rid)
    return UpstreamError(f"Vertex AI error (HTTP {status}): {detail}", upstream_request_id=rid)


def from_stream_error(event: dict) -> ModelmuxError:
    err = event.get("error")
    etype = err.get("type") if isinstance(err, dict) else None
    msg = err.get("message") if isinstance(err, dict) else None
    if not isinstance(msg, str) or not msg:
        msg = "The upstream stream failed"
    cls = _BY_ANTHROPIC_TYPE.get(etype, UpstreamError) if isinstance(etype, str) else UpstreamError
    rid = event.get("request_id") if isinstance(event.get("request_id"), str) else None
    return cls(msg, upstream_request_id=rid)
