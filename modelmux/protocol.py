"""Errors aiohttp answers before our app sees a request, in OpenAI's error shape.

A malformed request line, a header with control characters, an oversized header block: aiohttp's
HTTP parser rejects these itself and would answer with a text/plain page. Clients of an
OpenAI-compatible API expect `{"error": {...}}` JSON for every 4xx, so the runner below installs
a request handler whose error page is that JSON, logged as one line (no traceback: it is the
client's mistake, not ours).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import orjson
from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from modelmux.errors import INTERNAL_ERROR_MESSAGE
from modelmux.logs import get_logger

log = get_logger("modelmux.http")


def _body(status: int, message: str) -> bytes:
    error_type = "invalid_request_error" if status < 500 else "server_error"
    return orjson.dumps(
        {"error": {"message": message, "type": error_type, "param": None, "code": None}}
    )


class _OpenAIErrorHandler(RequestHandler):
    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:
            raise ConnectionError("response already started; cannot send an error page")
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        if status < 500:
            detail = f"{phrase}: {message}" if message else phrase
            log.warning("rejected malformed HTTP request", status=status, reason=detail[:200])
        else:
            detail = INTERNAL_ERROR_MESSAGE
            log.error("HTTP protocol error", status=status, error=type(exc).__name__)
        response = web.Response(
            status=status, body=_body(status, detail[:500]), content_type="application/json"
        )
        response.force_close()
        return response


class _OpenAIErrorServer(web.Server):
    def __call__(self) -> RequestHandler:
        return _OpenAIErrorHandler(self, loop=self._loop, **self._kwargs)


class OpenAIErrorRunner(web.AppRunner):
    """An AppRunner whose protocol-level error pages are OpenAI error JSON."""

    async def _make_server(self) -> Any:
        server = await super()._make_server()
        server.__class__ = _OpenAIErrorServer  # same state, our request-handler factory
        return server
