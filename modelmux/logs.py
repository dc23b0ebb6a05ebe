"""structlog set-up, done once: JSON lines for journald/containers, console text on a TTY.

Every line carries the request id bound by the request-context middleware (and Vertex's
`request-id` once the upstream answered). Nothing here logs headers or bodies; secrets never
reach a logger in the first place. As a last line of defence every rendered line — ours and the
libraries' — is scrubbed of anything shaped like a Google access token, a bearer credential, a
signed JWT or a PEM private key, and of the configured client API keys.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any, TextIO

import orjson
import structlog

LEVELS = {"trace": 5, "debug": 10, "info": 20, "warning": 30, "error": 40}
logging.addLevelName(5, "TRACE")


def _dumps(obj: Any, **_: Any) -> str:
    return orjson.dumps(obj, default=str).decode()


_SECRET_SHAPES = (
    r"ya29\.[A-Za-z0-9_.~+/=-]+",  # Google OAuth access tokens
    r"(?i:bearer)\s+[^\s\"',;]+",  # Authorization header values
    r"eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]+",  # signed JWTs (token grants)
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)",
)
REDACTED = "[redacted]"


class Scrubber:
    """A structlog processor replacing secret-shaped substrings of string values."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Only keys long enough not to mangle ordinary words are matched literally.
        literal = sorted({s for s in secrets if len(s) >= 8}, key=len, reverse=True)
        parts = [*_SECRET_SHAPES, *(re.escape(s) for s in literal)]
        self._pattern = re.compile("|".join(parts), re.DOTALL)

    def scrub(self, text: str) -> str:
        return self._pattern.sub(REDACTED, text)

    def __call__(self, _logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> Any:
        search = self._pattern.search
        for key, value in event_dict.items():
            if isinstance(value, str):
                if search(value):
                    event_dict[key] = self._pattern.sub(REDACTED, value)
            elif isinstance(value, (list, tuple, dict)):
                text = str(value)
                if search(text):
                    event_dict[key] = self._pattern.sub(REDACTED, text)
        return event_dict


def bind_upstream_request_id(upstream_request_id: str | None) -> None:
    """Put Vertex's `request-id` on every later log line of the current request."""
    if upstream_request_id:
        structlog.contextvars.bind_contextvars(upstream_request_id=upstream_request_id[:128])


def configure_logging(
    level: str = "info",
    fmt: str = "auto",
    stream: TextIO | None = None,
    *,
    secrets: Iterable[str] = (),
) -> None:
    """Set up (or, on reload, redo) logging; `secrets` are scrubbed from every line."""
    stream = stream or sys.stdout
    scrubber = Scrubber(secrets)
    numeric = LEVELS.get(level, 20)
    as_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_dumps)
        if as_json
        else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info if as_json else structlog.dev.set_exc_info,
            scrubber,
            renderer,
        ],
        # structlog knows no level below debug: trace shows all of ours, plus libraries' debug
        wrapper_class=structlog.make_filtering_bound_logger(max(numeric, logging.DEBUG)),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
    # Libraries (aiohttp, google-auth, asyncio) log through the standard library: render their
    # lines the same way, at warning and above unless we are tracing.
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *([structlog.processors.format_exc_info] if as_json else []),
                scrubber,
                renderer,
            ],
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(numeric, logging.WARNING) if numeric > 5 else 5)


def get_logger(name: str = "modelmux") -> Any:
    return structlog.get_logger(name)
