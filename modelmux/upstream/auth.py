"""Google access tokens for Vertex, without blocking the event loop.

google-auth stays the credential *loader* (service-account keys, ADC, the GCE/GKE metadata
server all come for free); its refresh is synchronous, so it runs in a worker thread behind an
asyncio lock. The lock makes refresh single-flight: a thousand concurrent requests that find the
token stale cause one refresh. Tokens are renewed ahead of expiry, and a token Vertex rejected
can be dropped so the next caller refreshes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import orjson

from modelmux.errors import CredentialsError
from modelmux.settings import AuthSettings

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
# Renew this long before expiry (google-auth uses 3 min 45 s), capped at a quarter of the
# token's lifetime so short-lived tokens are not refreshed on every request.
REFRESH_MARGIN_S = 225.0


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
    """Caches one access token; refreshes it single-flight in a worker thread."""

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
        self._renew_at = 0.0  # monotonic time after which the token is considered stale
        self._lock = asyncio.Lock()
        self._on_refresh = on_refresh
        self._transport: Any = None  # google-auth's requests transport, reused across refreshes
        self.refreshes = 0

    async def token(self) -> str:
        token = self._token
        if token is not None and time.monotonic() < self._renew_at:
            return token
        async with self._lock:
            # Another caller may have refreshed while we waited for the lock.
            if self._token is not None and time.monotonic() < self._renew_at:
                return self._token
            return await self._refresh()

    def invalidate(self, token: str) -> None:
        """Vertex rejected `token`: make the next caller refresh (unless it already did)."""
        if token == self._token:
            self._renew_at = 0.0

    async def _refresh(self) -> str:
        try:
            token, lifetime = await asyncio.to_thread(self._refresh_blocking)
        except CredentialsError:
            raise
        except Exception as exc:  # google-auth raises RefreshError, TransportError, OSError…
            raise CredentialsError(
                f"The proxy could not obtain a Google access token ({type(exc).__name__})"
            ) from None
        self._token = token
        margin = min(REFRESH_MARGIN_S, lifetime / 4)
        self._renew_at = time.monotonic() + lifetime - margin
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
