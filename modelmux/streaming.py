"""Relay one Vertex SSE stream to the client as OpenAI chunks.

The HTTP status is settled before the first byte: Vertex errors before its 200 become ordinary
error responses (and may be retried by the upstream client). Once our 200 is sent, any failure
— an upstream `error` event, a stall longer than `stream_idle_timeout_s`, a connection that
breaks or ends without `message_stop` — ends the stream with one `data: {"error": …}` frame,
never a clean `[DONE]`. While the model is silent, SSE comment lines keep idle-cutting proxies
at bay. A client that goes away cancels the handler (handler_cancellation), which closes the
upstream connection at once.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from modelmux.buffering import TextCoalescer
from modelmux.convert.request import ConvertedRequest
from modelmux.convert.stream import StreamTranslator
from modelmux.errors import (
    INTERNAL_ERROR_MESSAGE,
    ModelmuxError,
    Overloaded,
    UpstreamError,
    UpstreamTimeout,
)
from modelmux.logs import get_logger
from modelmux.routing import Route
from modelmux.sse import COMMENT_KEEPALIVE, SSEDecoder
from modelmux.state import ServiceState

log = get_logger("modelmux.stream")

SHUTTING_DOWN = Overloaded(
    "The server is shutting down; retry the request.", code="server_shutting_down"
)

SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # tell nginx-style proxies not to buffer the stream
}


class _Sink:
    """Writes frames to the client and remembers when it last did (and its first token)."""

    __slots__ = ("_frames", "first_token", "last_write", "loop", "response")

    def __init__(self, response: web.StreamResponse) -> None:
        self.response = response
        self.loop = asyncio.get_running_loop()
        self.last_write = self.loop.time()
        self.first_token = 0.0  # perf_counter when the first content went out; 0: not yet
        self._frames = 0

    async def write(self, frames: list[bytes]) -> None:
        if frames:
            self.last_write = self.loop.time()
            if not self.first_token:  # cheap: one attribute test per write
                self._note_first(frames)
            await self.response.write(frames[0] if len(frames) == 1 else b"".join(frames))

    def _note_first(self, frames: list[bytes]) -> None:
        # The first frame is the role chunk (message_start): no token. Keep-alives neither.
        if frames[0] is not COMMENT_KEEPALIVE:
            self._frames += len(frames)
            if self._frames > 1:
                self.first_token = time.perf_counter()


async def _ticker(
    sink: _Sink,
    keepalive_s: float,
    translator: StreamTranslator,
    coalescer: TextCoalescer | None,
    chunk_timeout_s: float,
) -> None:
    """Keep-alive comments while silent (keepalive_s > 0); in buffered mode, release text held
    too long. Never raises: when the client is gone the relay finds out on its own."""
    periods = [p for p in (keepalive_s, chunk_timeout_s if coalescer else 0.0) if p > 0]
    period = max(min(periods), 0.01)
    try:
        while True:
            await asyncio.sleep(period)
            now = sink.loop.time()
            if coalescer is not None and coalescer.due(now):
                frames: list[bytes] = []
                for event in coalescer.flush():
                    frames.extend(translator.feed(event))
                await sink.write(frames)
            elif keepalive_s > 0 and now - sink.last_write >= keepalive_s:
                await sink.write([COMMENT_KEEPALIVE])
    except (ConnectionError, RuntimeError, aiohttp.ClientConnectionResetError):
        return  # the client went away, or the response has already ended


async def relay_stream(
    request: web.Request,
    state: ServiceState,
    route: Route,
    converted: ConvertedRequest,
    *,
    buffered: bool,
    beta: str | None = None,
) -> tuple[web.StreamResponse, bool]:
    """Returns the response and whether the stream completed (message_stop relayed)."""
    assert state.vertex is not None
    upstream = await state.vertex.open_stream(route, converted.body, beta=beta)
    upstream_id = upstream.headers.get("request-id")
    if upstream_id:
        request["upstream_request_id"] = upstream_id
    settings = state.settings.streaming
    chunk_timeout_s = settings.chunk_timeout_ms / 1000
    translator = StreamTranslator(converted)
    coalescer = (
        TextCoalescer(buffer_size=settings.buffer_size, chunk_timeout_s=chunk_timeout_s)
        if buffered
        else None
    )
    response = web.StreamResponse(status=200, headers=SSE_HEADERS)
    stats = state.stats
    stats.active_streams += 1
    ticker: asyncio.Task[None] | None = None
    sink: _Sink | None = None
    task = asyncio.current_task()
    assert task is not None
    try:
        await response.prepare(request)
        sink = _Sink(response)
        if settings.keepalive_s > 0 or coalescer is not None:
            ticker = asyncio.create_task(
                _ticker(sink, settings.keepalive_s, translator, coalescer, chunk_timeout_s)
            )
        state.streams.add(task)
        try:
            tail = await _pump(upstream, translator, coalescer, sink)
        except asyncio.CancelledError:
            # Either the client left, or the shutdown drain is about to run out (app.py
            # cancels the streams still open just before): then tell the client why.
            if not state.shutting_down:
                raise
            task.uncancel()
            request["outcome"] = "shutdown"
            tail = translator.fail(SHUTTING_DOWN)
        except Exception:
            # A bug of ours after the 200 went out: the status can't change, so end the
            # stream the documented way rather than cutting the connection.
            log.exception("stream relay failed")
            request["outcome"] = "internal_error"
            tail = translator.fail(ModelmuxError(INTERNAL_ERROR_MESSAGE))
        await sink.write(tail)
        await response.write_eof()
    except (ConnectionError, aiohttp.ClientConnectionResetError):
        request["outcome"] = "client_disconnected"  # the client went away mid-stream
    finally:
        state.streams.discard(task)
        if ticker is not None:
            ticker.cancel()  # it never raises, so there is nothing to await
        completed = translator.finish_reason is not None
        stats.active_streams -= 1
        if completed:
            upstream.release()
            stats.record_usage(route.model_id, translator.usage)
            if sink is not None and sink.first_token and "started" in request:
                stats.observe_ttft(route.model_id, sink.first_token - request["started"])
        else:
            upstream.close()  # drop the connection: Vertex stops generating for nobody
    request.setdefault("outcome", translator.finish_reason or "stream_error")
    return response, completed


async def _pump(
    upstream: aiohttp.ClientResponse,
    translator: StreamTranslator,
    coalescer: TextCoalescer | None,
    sink: _Sink,
) -> list[bytes]:
    """Forward events until the upstream ends; return the closing frames."""
    decoder = SSEDecoder()
    loop = sink.loop
    chunks = upstream.content.iter_any().__aiter__()
    flushed = False  # the first frame is written at once; later ones once per upstream read
    while True:
        try:
            chunk = await chunks.__anext__()
        except StopAsyncIteration:
            break
        except TimeoutError:
            return translator.fail(
                UpstreamTimeout("Vertex AI stopped sending; the stream was cut.")
            )
        except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError):
            return translator.fail(UpstreamError("The Vertex AI stream broke off."))
        frames: list[bytes] = []
        for data in decoder.feed_data(chunk):
            try:
                event: Any = orjson.loads(data)
            except orjson.JSONDecodeError:
                return frames + translator.fail(
                    UpstreamError("Vertex AI sent a malformed stream event.")
                )
            if not isinstance(event, dict):
                continue
            if coalescer is None:
                frames.extend(translator.feed(event))
            else:
                for held in coalescer.push(event, loop.time()):
                    frames.extend(translator.feed(held))
            if translator.done:  # message_stop or an error event: nothing follows
                return frames
            if frames and not flushed:  # don't hold the first byte behind a whole read
                flushed = True
                await sink.write(frames)
                frames = []
        await sink.write(frames)
    frames = []
    if coalescer is not None:
        for held in coalescer.flush():
            frames.extend(translator.feed(held))
    return frames + translator.finish()
