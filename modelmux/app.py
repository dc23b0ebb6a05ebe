"""create_app(settings): routes, middleware order, and the upstream session's lifetime.

No I/O happens here; the ClientSession (and the image fetcher's) are opened and closed by
cleanup_ctx on the running loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import aiohttp
from aiohttp import web

from modelmux import handlers, middlewares
from modelmux.access import require_api_key
from modelmux.metrics import CONTENT_TYPE
from modelmux.settings import Settings
from modelmux.state import STATE, ServiceState
from modelmux.upstream.auth import TokenProvider
from modelmux.upstream.images import ImageFetcher
from modelmux.upstream.vertex import VertexClient


def create_app(settings: Settings) -> web.Application:
    state = ServiceState.build(settings)
    app = web.Application(
        middlewares=[
            middlewares.request_context,
            middlewares.errors,
            require_api_key(state),
            middlewares.unexpected_error_guard(),
        ],
        client_max_size=settings.server.max_body_mb * 1024 * 1024,
    )
    app[STATE] = state
    app.on_response_prepare.append(middlewares.on_prepare)
    app.cleanup_ctx.append(_upstream)
    app.on_shutdown.append(_note_shutdown)
    app.router.add_post("/v1/chat/completions", handlers.chat_completions)
    app.router.add_get("/v1/models", handlers.list_models)
    app.router.add_get("/v1/models/{model:.+}", handlers.get_model)
    app.router.add_get("/health", handlers.health)
    if state.stats.prom is not None:
        app.router.add_get("/metrics", _metrics)
    return app


async def _metrics(request: web.Request) -> web.Response:
    prom = request.app[STATE].stats.prom
    assert prom is not None
    return web.Response(body=prom.exposition(), headers={"Content-Type": CONTENT_TYPE})


# Streams still running this long before the drain window closes are ended with an error
# frame saying why, while the connection is still ours to write to.
GOODBYE_MARGIN_S = 0.5


async def _note_shutdown(app: web.Application) -> None:
    state = app[STATE]
    state.shutting_down = True
    window = max(0.0, state.settings.server.shutdown_timeout_s - GOODBYE_MARGIN_S)
    asyncio.get_running_loop().call_later(window, _end_open_streams, state)


def _end_open_streams(state: ServiceState) -> None:
    for task in list(state.streams):
        task.cancel()


async def _upstream(app: web.Application) -> AsyncIterator[None]:
    state = app[STATE]
    settings = state.settings
    connector = aiohttp.TCPConnector(limit=settings.vertex.max_connections, ttl_dns_cache=300)
    session = aiohttp.ClientSession(connector=connector, auto_decompress=True)
    tokens = TokenProvider(settings.auth, on_refresh=_counter(state))
    state.vertex = VertexClient(session, settings, tokens, state.stats)
    state.images = ImageFetcher(settings.images)
    try:
        yield
    finally:
        await state.images.close()
        await session.close()


def _counter(state: ServiceState) -> Callable[[], None]:
    def count() -> None:
        state.stats.token_refreshes += 1

    return count
