"""Middlewares, outermost first: request context (id, access line, request metrics), errors,
API keys (modelmux.access), then the guard against unexpected exceptions.

The error middleware is the one place our exception tree becomes an HTTP answer in OpenAI's
error shape; anything unexpected is logged here with its traceback and reaches the client as a
plain 500 without details.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import Awaitable, Callable

import orjson
import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware

from modelmux.errors import (
    INTERNAL_ERROR_MESSAGE,
    MethodNotAllowed,
    ModelmuxError,
    NotFound,
    PayloadTooLarge,
)
from modelmux.logs import bind_upstream_request_id, get_logger
from modelmux.state import STATE

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = get_logger("modelmux.http")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:/+=-]{1,128}$")


def _request_id(request: web.Request) -> str:
    given = request.headers.get("X-Request-ID", "")
    return given if _REQUEST_ID.fullmatch(given) else f"req_{secrets.token_hex(12)}"


def error_response(exc: ModelmuxError) -> web.Response:
    return web.Response(
        status=exc.status,
        body=orjson.dumps(exc.to_body()),
        content_type="application/json",
        headers=exc.headers(),
    )


def _route_label(request: web.Request) -> str:
    """The matched route's pattern (`/v1/models/{model}`), never the raw path: bounded labels."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = _request_id(request)
    request["request_id"] = request_id
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)
    started = time.perf_counter()
    request["started"] = started  # perf_counter at arrival (time to first token)
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except asyncio.CancelledError:
        status = 499  # the client went away (nginx's "client closed request")
        request.setdefault("outcome", "client_disconnected")
        raise
    finally:
        elapsed = time.perf_counter() - started
        fields = {
            "method": request.method,
            "path": request.path,
            "status": status,
            "duration_ms": round(elapsed * 1000, 2),
        }
        for key in ("model", "delivery", "outcome", "upstream_request_id"):
            if key in request:
                fields[key] = request[key]
        log.info("request", **fields)
        prom = request.app[STATE].stats.prom
        if prom is not None:
            prom.observe_request(
                _route_label(request), request.get("model_id", ""), status, elapsed
            )


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ModelmuxError as exc:
        if exc.upstream_request_id:
            request["upstream_request_id"] = exc.upstream_request_id
            bind_upstream_request_id(exc.upstream_request_id)
        request.setdefault("outcome", exc.code or exc.error_type)
        return error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(_from_http_exception(request, exc))


def _from_http_exception(request: web.Request, exc: web.HTTPException) -> ModelmuxError:
    if exc.status == 404:
        return NotFound(f"Unknown request URL: {request.method} {request.path[:200]}.")
    if exc.status == 405:
        return MethodNotAllowed(f"Method {request.method} is not allowed for {request.path[:200]}.")
    if exc.status == 413:
        return PayloadTooLarge("The request body is too large.")
    error = ModelmuxError(exc.reason or "Request failed.")
    error.status = exc.status
    error.error_type = "invalid_request_error" if exc.status < 500 else "server_error"
    return error


async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
    """Echo the request id on every response, streams included."""
    request_id = request.get("request_id")
    if request_id:
        response.headers["X-Request-ID"] = request_id


def unexpected_error_guard() -> Middleware:
    """Innermost safety net: an unexpected exception is logged, the client gets a bare 500."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except (ModelmuxError, web.HTTPException):
            raise
        except Exception:
            log.exception("unhandled error")
            error = ModelmuxError(INTERNAL_ERROR_MESSAGE)
            request["outcome"] = "internal_error"
            return error_response(error)

    return guard
