"""Client access control: `Authorization: Bearer <key>` against the configured API keys.

With no keys configured everything is open (and start-up warns when the listener is not on
loopback). With keys, every request needs one, except `/health` and — unless
`[metrics] require_api_key` — `/metrics`. Keys are held only as SHA-256 digests and compared
with `hmac.compare_digest` against every configured key, so neither the match nor its position
shows in the timing. Nothing here logs a key or a header.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web
from aiohttp.typedefs import Middleware

from modelmux.errors import InvalidApiKey
from modelmux.settings import Settings

if TYPE_CHECKING:
    from modelmux.state import ServiceState

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

MISSING_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization "
    "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)
WRONG_KEY = "Incorrect API key provided. Ask the operator of this proxy for a valid key."


class Unauthorized(InvalidApiKey):
    """401 invalid_api_key, with the RFC 6750 challenge header."""

    def headers(self) -> dict[str, str]:
        return {**super().headers(), "WWW-Authenticate": 'Bearer realm="modelmux"'}


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()


class AccessPolicy:
    """Which keys are accepted and which paths are open; rebuilt on reload."""

    __slots__ = ("_digests", "open_paths")

    def __init__(self, keys: tuple[str, ...], *, protect_metrics: bool = False) -> None:
        self._digests = tuple(_digest(k) for k in keys)
        self.open_paths = frozenset({"/health"} if protect_metrics else {"/health", "/metrics"})

    @classmethod
    def from_settings(cls, settings: Settings) -> AccessPolicy:
        return cls(settings.server.client_keys(), protect_metrics=settings.metrics.require_api_key)

    @property
    def enabled(self) -> bool:
        return bool(self._digests)

    def accepts(self, key: str) -> bool:
        given = _digest(key)
        ok = False
        for digest in self._digests:  # no early exit: every key is compared
            ok |= hmac.compare_digest(given, digest)
        return ok

    def check(self, authorization: str | None) -> None:
        """Raise Unauthorized unless `authorization` is `Bearer <an accepted key>`."""
        if not authorization:
            raise Unauthorized(MISSING_KEY)
        scheme, _, key = authorization.strip().partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            raise Unauthorized(MISSING_KEY)
        if not self.accepts(key):
            raise Unauthorized(WRONG_KEY)


def require_api_key(state: ServiceState) -> Middleware:
    """The middleware; it reads `state.access` per request, so a reload takes effect at once."""

    @web.middleware
    async def api_keys(request: web.Request, handler: Handler) -> web.StreamResponse:
        policy = state.access
        if policy.enabled and request.path not in policy.open_paths:
            policy.check(request.headers.get("Authorization"))
        return await handler(request)

    return api_keys


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def open_to_network(settings: Settings) -> bool:
    """No keys configured, yet listening beyond loopback: anyone who reaches it may use it."""
    return not settings.server.client_keys() and not is_loopback(settings.server.host)
