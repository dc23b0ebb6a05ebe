"""The Vertex AI client: URLs, the authenticated POST, retries before the first byte.

One aiohttp ClientSession (owned by the app) carries every call. Retries (tenacity) cover 429,
5xx/529, connection errors and connect timeouts, only while nothing has reached the client: a
non-streaming call is retried as a whole (a body cut off mid-read included); a streaming call
only until Vertex answers 200. A timeout while waiting for the answer is not retried: Vertex may
still be generating (and billing) that attempt. A Retry-After longer than MAX_RETRY_AFTER_S is
not waited out. An upstream 401 drops the cached token and is retried once with a fresh one.
"""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

import aiohttp
import orjson
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from modelmux.convert.errors import from_upstream
from modelmux.errors import ModelmuxError, UpstreamError, UpstreamTimeout
from modelmux.logs import bind_upstream_request_id
from modelmux.metrics import Stats
from modelmux.routing import Route
from modelmux.settings import Settings
from modelmux.upstream.auth import TokenProvider

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504, 529})
# A Retry-After longer than this is not waited out inside one client request: the client gets
# the 429 with the header and decides.
MAX_RETRY_AFTER_S = 10.0


def vertex_base_url(location: str, override: str = "") -> str:
    """Host for a location: regional, `global`, or the `us`/`eu` multi-regions (pure)."""
    if override:
        return override.rstrip("/")
    if location == "global":
        return "https://aiplatform.googleapis.com"
    if location in ("us", "eu"):
        return f"https://aiplatform.{location}.rep.googleapis.com"
    return f"https://{location}-aiplatform.googleapis.com"


def forwarded_betas(values: list[str], allowed: tuple[str, ...]) -> str | None:
    """The client's anthropic-beta values that are allow-listed, as one header value (pure)."""
    if not values or not allowed:
        return None
    wanted = [v.strip() for value in values for v in value.split(",")]
    kept = [v for v in dict.fromkeys(wanted) if v and v in allowed]
    return ",".join(kept) or None


def model_url(
    base: str, *, project: str, location: str, publisher: str, model_id: str, stream: bool
) -> str:
    verb = "streamRawPredict" if stream else "rawPredict"
    return (
        f"{base}/v1/projects/{project}/locations/{location}"
        f"/publishers/{publisher}/models/{model_id}:{verb}"
    )


class _Retryable(Exception):
    """Wraps an error worth another attempt; unwrapped before it leaves this module."""

    def __init__(self, error: ModelmuxError) -> None:
        self.error = error


class VertexClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        settings: Settings,
        tokens: TokenProvider,
        stats: Stats,
    ) -> None:
        self._session = session
        self._tokens = tokens
        self._stats = stats
        self.configure(settings)

    def configure(self, settings: Settings) -> None:
        v = settings.vertex
        self._vertex = v
        self._attempts = settings.server.max_retry_attempts if settings.server.enable_retries else 1
        self._complete_timeout = aiohttp.ClientTimeout(
            total=v.request_timeout_s, connect=v.connect_timeout_s
        )
        # A stream may last as long as the model talks; only silence is cut.
        self._stream_timeout = aiohttp.ClientTimeout(
            total=None, connect=v.connect_timeout_s, sock_read=v.stream_idle_timeout_s
        )

    def url(self, route: Route, *, stream: bool) -> str:
        v = self._vertex
        return model_url(
            vertex_base_url(route.location, v.base_url),
            project=v.project,
            location=route.location,
            publisher=v.publisher,
            model_id=route.model_id,
            stream=stream,
        )

    async def complete(
        self, route: Route, body: dict[str, Any], *, beta: str | None = None
    ) -> dict[str, Any]:
        """rawPredict: the whole Anthropic message, parsed."""
        raw = await self._post(
            self.url(route, stream=False), body, self._complete_timeout, stream=False, beta=beta
        )
        assert isinstance(raw, bytes)
        try:
            message = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise UpstreamError("Vertex AI answered with malformed JSON") from None
        if not isinstance(message, dict):
            raise UpstreamError("Vertex AI answered with an unexpected body")
        return message

    async def open_stream(
        self, route: Route, body: dict[str, Any], *, beta: str | None = None
    ) -> aiohttp.ClientResponse:
        """streamRawPredict, retried until Vertex answers 200. The caller releases it."""
        resp = await self._post(
            self.url(route, stream=True), body, self._stream_timeout, stream=True, beta=beta
        )
        assert isinstance(resp, aiohttp.ClientResponse)
        return resp

    async def _post(
        self,
        url: str,
        body: dict[str, Any],
        timeout: aiohttp.ClientTimeout,
        *,
        stream: bool,
        beta: str | None,
    ) -> aiohttp.ClientResponse | bytes:
        """The 200 response (streaming) or its whole body (non-streaming), retried."""
        payload = orjson.dumps(body)
        extra = {"anthropic-beta": beta} if beta else None
        # The first attempt runs without tenacity: nearly every call succeeds at once, and
        # building the retry machinery per request cost more CPU than our own request handling.
        try:
            return await self._attempt(url, payload, timeout, stream=stream, extra=extra)
        except _Retryable as exc:
            if self._attempts <= 1 or not _worth_retrying(exc):
                raise exc.error from None
            first = exc
        self._stats.retry_attempts += 1
        await asyncio.sleep(_delay(1, first))
        retrying = AsyncRetrying(  # attempts 2…N; its attempt 1 is our second
            stop=stop_after_attempt(self._attempts - 1),
            wait=self._wait,
            retry=retry_if_exception(_worth_retrying),
            before_sleep=self._count_retry,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._attempt(url, payload, timeout, stream=stream, extra=extra)
        except _Retryable as exc:
            raise exc.error from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _attempt(
        self,
        url: str,
        payload: bytes,
        timeout: aiohttp.ClientTimeout,
        *,
        stream: bool,
        extra: dict[str, str] | None,
    ) -> aiohttp.ClientResponse | bytes:
        token = await self._tokens.token()
        for auth_retry in (False, True):
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            if extra:
                headers.update(extra)
            sent = time.perf_counter()
            try:
                resp = await self._session.post(url, data=payload, headers=headers, timeout=timeout)
            except aiohttp.ConnectionTimeoutError:
                self._stats.upstream_failed("timeout")
                raise _Retryable(
                    UpstreamTimeout("Vertex AI could not be reached in time")
                ) from None
            except TimeoutError:
                self._stats.upstream_failed("timeout")
                raise UpstreamTimeout("Vertex AI did not answer in time") from None
            except aiohttp.ClientError as exc:
                self._stats.upstream_failed("connection_error")
                raise _Retryable(
                    UpstreamError(f"Vertex AI connection failed ({type(exc).__name__})")
                ) from None
            self._stats.upstream_answered(resp.status, time.perf_counter() - sent)
            bind_upstream_request_id(resp.headers.get("request-id"))
            if resp.status == 200:
                return resp if stream else await self._read(resp)
            try:
                raw = await resp.read()
            except (TimeoutError, aiohttp.ClientError):
                raw = b""
            finally:
                resp.release()
            if resp.status == 401 and not auth_retry:
                self._tokens.invalidate(token)
                token = await self._tokens.token()
                continue
            if resp.status == 429:
                self._stats.quota_errors += 1
            error = from_upstream(resp.status, raw, resp.headers)
            if resp.status in RETRY_STATUSES:
                raise _Retryable(error)
            raise error
        raise AssertionError("unreachable")  # pragma: no cover

    async def _read(self, resp: aiohttp.ClientResponse) -> bytes:
        try:
            return await resp.read()
        except TimeoutError:
            self._stats.upstream_failed("timeout")
            raise UpstreamTimeout("Vertex AI did not answer in time") from None
        except aiohttp.ClientError as exc:  # cut off mid-body: worth another attempt
            self._stats.upstream_failed("connection_error")
            raise _Retryable(
                UpstreamError(f"Vertex AI connection failed ({type(exc).__name__})")
            ) from None
        finally:
            resp.release()

    @staticmethod
    def _wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        return _delay(state.attempt_number + 1, exc)

    def _count_retry(self, _state: RetryCallState) -> None:
        self._stats.retry_attempts += 1


_BACKOFF = wait_exponential_jitter(multiplier=0.25, max=4.0)


def _delay(failed_attempt: int, exc: BaseException | None) -> float:
    """Wait after attempt `failed_attempt` (1-based) failed: jittered backoff or Retry-After."""
    backoff = _BACKOFF(SimpleNamespace(attempt_number=failed_attempt))  # type: ignore[arg-type]
    retry_after = exc.error.retry_after if isinstance(exc, _Retryable) else None
    return max(backoff, retry_after or 0.0)


def _worth_retrying(exc: BaseException) -> bool:
    if not isinstance(exc, _Retryable):
        return False
    return (exc.error.retry_after or 0) <= MAX_RETRY_AFTER_S


async def probe(settings: Settings) -> str:
    """`modelmux config validate --online`: fetch a token and make a one-token call."""
    from modelmux.routing import ModelTable

    stats = Stats()
    tokens = TokenProvider(settings.auth)
    async with aiohttp.ClientSession() as session:
        client = VertexClient(session, settings, tokens, stats)
        route = ModelTable(settings.vertex).route(settings.vertex.model or "default")
        body = {
            "anthropic_version": settings.vertex.anthropic_version,
            "max_tokens": 1,
            "messages": [{"role": "user", "content": "ping"}],
        }
        message = await client.complete(route, body)
    return f"ok: {route.model_id} in {route.location} answered (id {message.get('id', '?')})"
