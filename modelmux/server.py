"""serve(): run the app until SIGTERM/SIGINT, then drain; systemd readiness.

Start-up order: (emulator, when asked) → app → listening socket → READY=1. On SIGTERM/SIGINT
the listening socket closes at once (new connections are refused) and in-flight requests get
`shutdown_timeout_s` to finish; then the process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import socket
import tempfile

from aiohttp import web

from modelmux import __version__
from modelmux.app import create_app
from modelmux.logs import configure_logging, get_logger
from modelmux.settings import Settings

log = get_logger("modelmux.server")

EX_OK = 0
EX_UNAVAILABLE = 69  # could not listen (port taken, permission)

EMULATED_PROJECT = "modelmux-emulator"
EMULATED_LOCATION = "us-east5"
EMULATED_MODEL = "claude-sonnet-4-5@20250929"


def sd_notify(message: str) -> None:
    """Tell systemd (Type=notify) about our state; a no-op outside systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.connect(address)
        sock.sendall(message.encode())


def _bound_port(site: web.TCPSite) -> int | None:
    """The port actually bound (differs from the setting when it is 0)."""
    server = site._server  # aiohttp keeps the asyncio.Server here
    sockets = getattr(server, "sockets", None) or []
    return sockets[0].getsockname()[1] if sockets else None


def run(settings: Settings) -> int:
    configure_logging(settings.server.log_level, settings.server.log_format)
    return asyncio.run(serve(settings))


def _emulated(settings: Settings, base_url: str, credentials_file: str) -> Settings:
    vertex = dataclasses.replace(
        settings.vertex,
        base_url=base_url,
        project=settings.vertex.project or EMULATED_PROJECT,
        location=settings.vertex.location or EMULATED_LOCATION,
        model=settings.vertex.model or EMULATED_MODEL,
    )
    auth = dataclasses.replace(
        settings.auth, service_account_file=credentials_file, service_account_json=""
    )
    return dataclasses.replace(settings, vertex=vertex, auth=auth)


async def serve(settings: Settings) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async with contextlib.AsyncExitStack() as stack:
        if settings.emulator:
            from modelmux.emulator import start_emulator

            key_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="modelmux-emu-"))
            emulator = await start_emulator(host="127.0.0.1", port=0, key_dir=key_dir)
            stack.push_async_callback(emulator.stop)
            settings = _emulated(settings, emulator.base_url, emulator.credentials_file)
            log.warning(
                "EMULATED upstream: answers come from the bundled Vertex emulator, not Claude",
                emulator=emulator.base_url,
            )
        app = create_app(settings)
        runner = web.AppRunner(
            app,
            access_log=None,  # our request_context middleware writes the access line
            handler_cancellation=True,  # a client that leaves cancels its upstream call
            shutdown_timeout=settings.server.shutdown_timeout_s,
        )
        await runner.setup()
        site = web.TCPSite(runner, settings.server.host, settings.server.port, backlog=1024)
        try:
            await site.start()
        except OSError as exc:
            log.error(
                "cannot listen",
                host=settings.server.host,
                port=settings.server.port,
                error=exc.strerror or str(exc),
            )
            await runner.cleanup()
            return EX_UNAVAILABLE
        sd_notify("READY=1")
        log.info(
            "listening",
            version=__version__,
            host=settings.server.host,
            port=_bound_port(site) or settings.server.port,
            vertex_project=settings.vertex.project,
            vertex_location=settings.vertex.location,
            vertex_model=settings.vertex.model,
            log_level=settings.server.log_level,
            streaming_mode=settings.streaming.mode,
            emulated=settings.emulator,
        )
        await stop.wait()
        sd_notify("STOPPING=1")
        log.info("stopping: draining in-flight requests", timeout_s=settings.server.shutdown_timeout_s)
        await runner.cleanup()
        log.info("stopped")
    return EX_OK
