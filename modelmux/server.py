"""serve(): run the app until SIGTERM/SIGINT, then drain; SIGHUP reloads; systemd readiness.

Start-up order: (emulator, when asked) → app → listening socket → READY=1. On SIGTERM/SIGINT
the listening socket closes at once (new connections are refused) and in-flight requests get
`shutdown_timeout_s` to finish; then the process exits 0.

On SIGHUP the settings are loaded again, the same way as at start-up (same flags, environment
and working directory); what can change live (log level and format, client API keys — the keys
file is re-read —, model aliases and the rest of [vertex], streaming, retries, translation,
/metrics access) is swapped in without touching a connection; keys that need a restart are
logged as such and keep their running values; an invalid configuration is rejected with one
log line and the running one stays.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from modelmux import __version__
from modelmux.access import open_to_network
from modelmux.app import create_app
from modelmux.config import SCHEMA
from modelmux.logs import LEVELS, configure_logging, get_logger
from modelmux.protocol import OpenAIErrorRunner
from modelmux.settings import Settings
from modelmux.state import STATE

Reloader = Callable[[], Settings]

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


# Applied only by a restart: the socket, the app's body limit and drain window, the Google
# credentials behind the cached token, the image fetcher and the /metrics route.
RESTART_KEYS = frozenset(
    {
        "server.host",
        "server.port",
        "server.max_body_mb",
        "server.shutdown_timeout_s",
        "server.event_loop",
        "vertex.max_connections",
        "auth.service_account_file",
        "auth.service_account_json",
        "images.fetch_remote",
        "images.allow_private_networks",
        "images.max_bytes",
        "images.fetch_timeout_s",
        "metrics.prometheus",
    }
)
_CANONICAL = tuple(k for k in SCHEMA if not k.synonym_of)


def _configure_logging(settings: Settings) -> None:
    configure_logging(
        settings.server.log_level,
        settings.server.log_format,
        secrets=settings.server.client_keys(),
    )


def run(settings: Settings, reload: Reloader | None = None) -> int:
    """Serve until stopped; `reload` (called on SIGHUP, off the loop) builds new settings."""
    _configure_logging(settings)
    try:
        factory = _loop_factory(settings.server.event_loop)
    except ImportError:
        sys.stderr.write('modelmuxd: [server] event_loop = "uvloop" but uvloop is not installed\n')
        return 78
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(serve(settings, reload=reload))


def _loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop cuts the daemon's CPU per request (see docs/performance.md); asyncio is the fallback."""
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise
        return None
    return uvloop.new_event_loop


def changed_keys(old: Settings, new: Settings) -> list[str]:
    """Dotted keys whose value differs (names only: values may be secret)."""
    changed = [
        k.dotted
        for k in _CANONICAL
        if getattr(getattr(old, k.section), k.name) != getattr(getattr(new, k.section), k.name)
    ]
    if old.server.file_api_keys != new.server.file_api_keys:
        changed.append("server.api_keys_file (contents)")
    return changed


def split_reload(old: Settings, new: Settings) -> tuple[Settings, list[str], list[str]]:
    """(settings to apply, keys applied, keys that need a restart and keep their old value)."""
    changed = changed_keys(old, new)
    restart = [key for key in changed if key in RESTART_KEYS]
    kept: dict[str, dict[str, Any]] = {}
    for key in restart:
        section, name = key.split(".", 1)
        kept.setdefault(section, {})[name] = getattr(getattr(old, section), name)
    sections = {
        section: dataclasses.replace(getattr(new, section), **values)
        for section, values in kept.items()
    }
    applied = dataclasses.replace(new, **sections)
    return applied, [key for key in changed if key not in RESTART_KEYS], restart


def _warn_if_open(settings: Settings) -> None:
    if open_to_network(settings):
        log.warning(
            "no client API keys configured and not listening on loopback: the proxy is open "
            "to anyone who can reach it (set [server] api_keys_file)",
            host=settings.server.host,
        )


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


class _Reloading:
    """Runs reloads one at a time, in order of SIGHUPs (a burst collapses into one)."""

    def __init__(self, app: web.Application, reload: Reloader | None,
                 rewrite: Callable[[Settings], Settings]) -> None:  # fmt: skip
        self._app = app
        self._reload = reload
        self._rewrite = rewrite  # re-applies what serve() changed (the emulator's endpoint)
        self._wanted = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    def request(self) -> None:
        if self._closed:
            return
        self._wanted.set()
        if self._task is None:
            self._task = asyncio.create_task(self._loop())

    async def close(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            try:
                await self.reload_once()
            except Exception:  # never let a reload bug take the server down
                log.exception("reload failed; the running configuration stays")

    async def reload_once(self) -> None:
        state = self._app[STATE]
        if self._reload is None:
            log.warning("SIGHUP ignored: this server was started without a reload source")
            return
        sd_notify(f"RELOADING=1\nMONOTONIC_USEC={time.monotonic_ns() // 1000}")
        try:
            try:
                new = await asyncio.to_thread(self._reload)
            except Exception as exc:  # ConfigError, UsageError, or reading a file failed
                _count(state.stats.reloads, "rejected")
                log.error(
                    "reload rejected: the new configuration is invalid; the running one stays",
                    error=" ".join(str(exc).split()) or type(exc).__name__,
                )
                return
            old = state.settings
            applied, changed, restart = split_reload(old, self._rewrite(new))
            if restart:
                log.warning("restart required: changed settings not applied", keys=restart)
            quieter = LEVELS[applied.server.log_level] > LEVELS[old.server.log_level]
            if not quieter:
                _configure_logging(applied)
            state.apply(applied)
            _count(state.stats.reloads, "applied")
            # logged at the more verbose of the two levels, so it shows under either
            log.info(
                "reloaded",
                changed=changed,
                log_level=applied.server.log_level,
                api_keys=len(applied.server.client_keys()),
                models=len(applied.vertex.models),
            )
            if quieter:
                _configure_logging(applied)
            _warn_if_open(applied)
        finally:
            sd_notify("READY=1")


def _count(counter: dict[str, int], key: str) -> None:
    counter[key] = counter.get(key, 0) + 1


async def serve(settings: Settings, reload: Reloader | None = None) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    emulated_at: list[Any] = []  # the in-process emulator, when serving against it

    def rewrite(new: Settings) -> Settings:
        if not emulated_at:
            return new
        return _emulated(new, emulated_at[0].base_url, emulated_at[0].credentials_file)

    reloading: _Reloading | None = None

    def on_hup() -> None:
        if reloading is None:
            log.warning("SIGHUP ignored: still starting")
        else:
            reloading.request()

    loop.add_signal_handler(signal.SIGHUP, on_hup)

    async with contextlib.AsyncExitStack() as stack:
        if settings.emulator:
            from modelmux.emulator import start_emulator

            key_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="modelmux-emu-"))
            emulator = await start_emulator(host="127.0.0.1", port=0, key_dir=key_dir)
            stack.push_async_callback(emulator.stop)
            emulated_at.append(emulator)
            settings = rewrite(settings)
            log.warning(
                "EMULATED upstream: answers come from the bundled Vertex emulator, not Claude",
                emulator=emulator.base_url,
            )
        app = create_app(settings)
        runner = OpenAIErrorRunner(
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
        reloading = _Reloading(app, reload, rewrite)
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
            event_loop=type(asyncio.get_running_loop()).__module__.split(".")[0],
            emulated=settings.emulator,
            api_keys=len(settings.server.client_keys()),
        )
        _warn_if_open(settings)
        await stop.wait()
        await reloading.close()  # a SIGHUP from now on changes nothing
        sd_notify("STOPPING=1")
        log.info(
            "stopping: draining in-flight requests", timeout_s=settings.server.shutdown_timeout_s
        )
        await runner.cleanup()
        log.info("stopped")
    return EX_OK
