"""Google access tokens for Vertex, without blocking the event loop.

google-auth stays the credential *loader* (service-account keys, ADC, the GCE/GKE metadata
server all come for free); its refresh is synchronous, so it runs in a worker thread, inside one
shared asyncio task: a thousand concurrent requests that find no valid token cause one refresh.
Tokens are renewed in the background ahead of expiry (requests keep using the still-valid token
meanwhile, and after a failed renewal until it really expires), and a token Vertex rejected can
be dropped so the next caller waits for a new one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import time
from collections.abc import Callable
from typing import Any

import orjson

from modelmux.errors import CredentialsError
from modelmux.logs import get_logger
from modelmux.settings import AuthSettings

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
# Renew this long before expiry (google-auth uses 3 min 45 s), capped at a quarter of the
# token's lifetime so short-lived tokens are not refreshed on every request.
REFRESH_MARGIN_S = 225.0
# After a failed refresh, callers without a valid token fail at once for this long instead of
# each waiting for another slow attempt; then the next caller tries again.
FAILURE_HOLD_S = 2.0

log = get_logger("modelmux.auth")


def load_credentials(auth: AuthSettings) -> Any:
    """Build google-auth credentials from settings (may do blocking I/O: call off-loop)."""
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError
    from google.oauth2 import service_account

    try:
        if auth.service_account_json:
            info = orjson.loads(auth.service_account_json)
            return service_account.Credentials.from_service_account_info(info, scopes=SCOPES)
        if auth.service_account_file:
            return service_account.Credentials.from_service_account_file(
                auth.service_account_file, scopes=SCOPES
            )
        credentials, _project = google.auth.default(scopes=list(SCOPES))
        return credentials
    except (DefaultCredentialsError, ValueError, OSError, orjson.JSONDecodeError) as exc:
        raise CredentialsError(
            f"The proxy's Google credentials could not be loaded: {type(exc).__name__}"
        ) from None


class TokenProvider:
    """Caches one access token; refreshes it single-flight in a worker thread.

    At most one refresh task exists at a time and callers only ever `shield` it: a caller
    cancelled mid-refresh (client disconnect) neither cancels the refresh nor frees the way for a
    second one, so google-auth's non-thread-safe credentials are never refreshed concurrently.
    """

    def __init__(
        self,
        auth: AuthSettings,
        *,
        on_refresh: Callable[[], None] | None = None,
        loader: Callable[[AuthSettings], Any] = load_credentials,
    ) -> None:
        self._auth = auth
        self._loader = loader
        self._credentials: Any = None
        self._token: str | None = None
        self._renew_at = 0.0  # monotonic: from here on, refresh in the background
        self._expires_at = 0.0  # monotonic: from here on, the token must not be sent
        # The latest refresh: in flight, or finished. A failed one is kept for FAILURE_HOLD_S.
        self._task: asyncio.Task[str] | None = None
        self._failed_at = -math.inf
        self._on_refresh = on_refresh
        self._transport: Any = None  # google-auth's requests transport, reused across refreshes
        self.refreshes = 0

    async def token(self) -> str:
        now = time.monotonic()
        token = self._token
        if token is not None and now < self._expires_at:
            # Still valid: never make the caller wait. Inside the margin, renew in the
            # background; if that fails this token keeps being served until it expires.
            if now >= self._renew_at:
                self._refresh_task()
            return token
        # Shielded: if this caller is cancelled, the refresh still completes for the others.
        # A recently failed task raises its error at once (fail fast, no new attempt).
        return await asyncio.shield(self._refresh_task())

    def invalidate(self, token: str) -> None:
        """Vertex rejected `token`: never serve it again; the next caller waits for a new one."""
        if token == self._token:
            self._token = None

    def _refresh_task(self) -> asyncio.Task[str]:
        """The in-flight refresh, a failure still held, or else a newly started refresh."""
        task = self._task
        if task is not None and (
            not task.done() or time.monotonic() - self._failed_at < FAILURE_HOLD_S
        ):
            return task
        task = asyncio.get_running_loop().create_task(self._refresh())
        # Nobody may await a background refresh: mark its error retrieved (it is logged).
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        self._task = task
        return task

    async def _refresh(self) -> str:
        try:
            token, lifetime = await asyncio.to_thread(self._refresh_blocking)
        except Exception as exc:  # google-auth raises RefreshError, TransportError, OSError…
            self._failed_at = time.monotonic()
            if self._token is not None and self._failed_at < self._expires_at:
                log.warning(
                    "token_refresh_failed_serving_cached",
                    error=type(exc).__name__,
                    expires_in_s=round(self._expires_at - self._failed_at, 1),
                )
            if isinstance(exc, CredentialsError):
                raise
            raise CredentialsError(
                f"The proxy could not obtain a Google access token ({type(exc).__name__})"
            ) from None
        now = time.monotonic()
        self._token = token
        self._expires_at = now + lifetime
        self._renew_at = self._expires_at - min(REFRESH_MARGIN_S, lifetime / 4)
        self.refreshes += 1
        if self._on_refresh is not None:
            self._on_refresh()
        return token

    def _refresh_blocking(self) -> tuple[str, float]:
        import google.auth.transport.requests

        if self._credentials is None:
            self._credentials = self._loader(self._auth)
            self._transport = google.auth.transport.requests.Request()
        self._credentials.refresh(self._transport)
        expiry = self._credentials.expiry  # naive UTC datetime, or None for no expiry
        if expiry is None:
            lifetime = 3600.0
        else:
            now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
            lifetime = max(1.0, (expiry - now).total_seconds())
        return self._credentials.token, lifetime
