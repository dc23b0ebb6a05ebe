"""The emulator's aiohttp application: `/token`, the Anthropic publisher endpoints, `/_emulator/*`.

`start_emulator` binds it to a loopback port and writes a service-account key pointing at it, so
tests and `modelmuxd --emulator` run the real Vertex client and the real google-auth flow.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import socket
import struct
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson
from aiohttp import web

from modelmux.emulator.auth import (
    GOOGLE_TOKEN_AUDIENCE,
    GrantRefused,
    ServiceAccountKey,
    TokenStore,
)
from modelmux.emulator.directives import DirectiveError, Script, parse_script
from modelmux.emulator.errors import anthropic_error, google_error, new_id
from modelmux.emulator.replies import (
    Reply,
    build_reply,
    count_tokens,
    encode_event,
    fast_reply,
    message_object,
    stream_events,
)
from modelmux.emulator.validation import (
    ValidationFailed,
    validate_beta_header,
    validate_count_tokens_request,
    validate_messages_request,
)

__all__ = ["STATE", "EmulatorHandle", "EmulatorState", "create_app", "start_emulator"]

MAX_BODY_BYTES = 30 * 1024 * 1024  # Vertex's request cap (wire-formats B.1)
CREDENTIALS_FILE_NAME = "emulator-service-account.json"
_MODEL = re.compile(r"^claude-[a-z0-9.-]+(@\d{8})?$")
_MIDSTREAM_MESSAGES = {
    "overloaded_error": "Overloaded",
    "api_error": "Internal server error",
    "rate_limit_error": "Rate limited",
    "timeout_error": "Request timed out",
}
_RECENT = 50
# `[mm:malformed-sse]`: lines that are not SSE fields, invalid UTF-8, a NUL, a bogus `retry`,
# then an event whose blank line is missing, so the next event's lines merge into it (two JSON
# documents in one `data`). A reader that skipped all of it would silently lose a delta.
_SSE_GARBAGE = (
    b"this line is not an sse field\n"
    b"\xff\xfe\x00\xc3( binary junk\n"
    b"retry: soon\n"
    b"event: content_block_delta\n"
    b'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"lost"}}\n'
)
# `[mm:malformed-json]` in a stream: a complete SSE event whose data is cut-off JSON.
_BAD_JSON_EVENT = (
    b"event: content_block_delta\n"
    b'data: {"type": "content_block_delta", "index": 0, "delta": {"type": "text_del\n\n'
)


@dataclass
class Faults:
    """Runtime switches set by `POST /_emulator/faults` (token endpoint misbehaviour)."""

    token_delay_ms: float = 0.0  # every token request waits this long first
    token_fail: int = 0  # the next N token requests fail…
    token_fail_status: int = 500  # …with this status (Google's OAuth `internal_failure` body)
    token_revocations: int = 0  # how many times `revoke_tokens` invalidated the issued tokens


@dataclass
class Stats:
    requests: int = 0
    token_grants: int = 0
    active_streams: int = 0
    client_disconnects: int = 0
    completed_streams: int = 0


@dataclass
class EmulatorState:
    """Everything one emulator instance remembers (kept on the app under STATE)."""

    key: ServiceAccountKey = field(default_factory=ServiceAccountKey)
    token_ttl_s: float = 3600.0
    fast: bool = False
    accept_output_config: bool = False
    base_url: str = ""
    stats: Stats = field(default_factory=Stats)
    recent: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=_RECENT))
    failed_once: set[bytes] = field(default_factory=set)
    faults: Faults = field(default_factory=Faults)
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    tokens: TokenStore = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = TokenStore(self.key, self.token_ttl_s, {GOOGLE_TOKEN_AUDIENCE})

    def bind(self, base_url: str) -> None:
        """Record where we listen; our own token URI is then an accepted JWT audience too."""
        self.base_url = base_url
        self.tokens.audiences.add(f"{base_url}/token")

    def record(self, request: web.Request, raw: bytes) -> None:
        # str(): aiohttp's header names are istr, which orjson refuses as keys.
        headers = {
            str(name): "Bearer <redacted>" if name.lower() == "authorization" else value
            for name, value in request.headers.items()
        }
        try:
            body: Any = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            body = raw.decode("utf-8", "replace")
        self.recent.append(
            {"path": request.path, "method": request.method, "headers": headers, "body": body}
        )

    def reset(self) -> None:
        self.recent.clear()
        self.failed_once.clear()
        self.faults = Faults()
        self.stats = Stats(active_streams=self.stats.active_streams)


STATE = web.AppKey("modelmux_emulator_state", EmulatorState)


# ---------------------------------------------------------------------------------------------
# Responses


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, body=orjson.dumps(body), content_type="application/json", headers=headers
    )


def _anthropic_error(
    status: int, request_id: str, message: str | None = None, retry_after: str | None = None
) -> web.Response:
    headers = {"request-id": request_id}
    if status == 429 or retry_after:  # 429s always carry one; others when scripted
        headers["Retry-After"] = retry_after or "1"
    return _json(status, anthropic_error(status, message, request_id=request_id), headers)


def _google_error(
    status: int,
    request_id: str,
    status_name: str | None = None,
    message: str | None = None,
    *,
    array: bool = False,
    retry_after: str | None = None,
    details: list[dict[str, Any]] | None = None,
) -> web.Response:
    headers = {"request-id": request_id}
    if status == 429 or retry_after:  # 429s always carry one; others when scripted
        headers["Retry-After"] = retry_after or "1"
    body: Any = google_error(status, status_name, message, details=details)
    return _json(status, [body] if array else body, headers)


def _unauthenticated(request_id: str, reason: str) -> web.Response:
    details = [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": reason,
            "domain": "googleapis.com",
            "metadata": {"service": "aiplatform.googleapis.com"},
        }
    ]
    return _google_error(401, request_id, details=details)


# ---------------------------------------------------------------------------------------------
# Handlers


async def token_endpoint(request: web.Request) -> web.Response:
    """Google's OAuth token endpoint, JWT-bearer grant only."""
    state = request.app[STATE]
    form = {k: str(v) for k, v in (await request.post()).items()}
    faults = state.faults
    if faults.token_delay_ms > 0:
        await asyncio.sleep(faults.token_delay_ms / 1000)
    if faults.token_fail > 0:
        faults.token_fail -= 1
        return _json(
            faults.token_fail_status,
            {"error": "internal_failure", "error_description": "Emulated token endpoint failure."},
        )
    try:
        answer = state.tokens.grant(form)
    except GrantRefused as exc:
        return _json(exc.status, {"error": exc.error, "error_description": exc.description})
    state.stats.token_grants += 1
    return _json(200, answer, {"Cache-Control": "no-store"})


async def publisher_endpoint(request: web.Request) -> web.StreamResponse:
    """`…/publishers/{publisher}/models/{model}:{rawPredict|streamRawPredict}` and count-tokens."""
    state = request.app[STATE]
    state.stats.requests += 1
    request_id = new_id("req_vrtx_")
    raw = await request.read()
    if not state.fast:
        state.record(request, raw)

    authorization = request.headers.get("Authorization", "")
    scheme, _, token = authorization.partition(" ")
    reason = (
        state.tokens.check(token)
        if scheme.lower() == "bearer" and token
        else ("CREDENTIALS_MISSING")
    )
    if reason:
        return _unauthenticated(request_id, reason)

    info = request.match_info
    model, sep, action = info["model_action"].rpartition(":")
    resource = (
        f"projects/{info['project']}/locations/{info['location']}/publishers/"
        f"{info['publisher']}/models/{model or info['model_action']}"
    )
    not_found = (
        f"Publisher Model `{resource}` was not found or your project does not have access to it."
    )
    if info["publisher"] != "anthropic" or not sep:
        return _google_error(404, request_id, message=not_found)
    if action not in ("rawPredict", "streamRawPredict"):
        return _google_error(404, request_id, message=f"Method `{action}` was not found.")
    if len(raw) > MAX_BODY_BYTES:
        return _anthropic_error(413, request_id, "Request exceeds the maximum size (30 MB).")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return _google_error(400, request_id, message=f"Invalid JSON payload received. {exc}")

    if model == "count-tokens":
        return _count_tokens(body, action, request_id)
    if not _MODEL.match(model):
        return _google_error(404, request_id, message=not_found)
    streaming = action == "streamRawPredict"
    if state.fast and b"[mm:" not in raw:
        return await _respond(request, state, fast_reply(model), Script(), streaming, request_id)

    try:
        if "anthropic-beta" in request.headers:
            validate_beta_header(request.headers["anthropic-beta"])
        validate_messages_request(
            body, streaming=streaming, model=model, accept_output_config=state.accept_output_config
        )
        script = parse_script(body["messages"])
    except ValidationFailed as exc:
        return _anthropic_error(400, request_id, exc.message)
    except DirectiveError as exc:
        return _anthropic_error(400, request_id, f"emulator directive error: {exc}")

    try:
        if script.delay_ms > 0:
            await asyncio.sleep(script.delay_ms / 1000)
        if script.reset_before_headers:
            _reset_connection(request)
            return web.Response(status=204)  # never reaches the client: the socket is gone
        if script.fail_once is not None:
            digest = hashlib.sha256(raw).digest()
            if digest not in state.failed_once:
                state.failed_once.add(digest)
                return _anthropic_error(
                    script.fail_once, request_id, retry_after=script.retry_after
                )
        if script.error is not None:
            shape, status, status_name = script.error
            if shape == "anthropic":
                return _anthropic_error(status, request_id, retry_after=script.retry_after)
            return _google_error(
                status,
                request_id,
                status_name,
                array=shape == "google-array",
                retry_after=script.retry_after,
            )
        reply = build_reply(body, script, model)
    except asyncio.CancelledError:
        _count_disconnect(state)
        raise
    return await _respond(request, state, reply, script, streaming, request_id)


def _count_tokens(body: Any, action: str, request_id: str) -> web.Response:
    if action != "rawPredict":
        return _google_error(404, request_id, message=f"Method `{action}` was not found.")
    try:
        validate_count_tokens_request(body)
    except ValidationFailed as exc:
        return _anthropic_error(400, request_id, exc.message)
    counted = {k: body.get(k) for k in ("system", "messages", "tools")}
    return _json(200, {"input_tokens": count_tokens(counted)}, {"request-id": request_id})


def _count_disconnect(state: EmulatorState) -> None:
    if not state.closing.is_set():
        state.stats.client_disconnects += 1


async def _respond(
    request: web.Request,
    state: EmulatorState,
    reply: Reply,
    script: Script,
    streaming: bool,
    request_id: str,
) -> web.StreamResponse:
    if not streaming:
        return await _respond_json(request, state, reply, script, request_id)
    return await _stream(request, state, reply, script, request_id)


def _reset_connection(request: web.Request) -> None:
    """Drop the client's TCP connection with a reset (SO_LINGER 0), not an orderly close."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def _respond_json(
    request: web.Request, state: EmulatorState, reply: Reply, script: Script, request_id: str
) -> web.StreamResponse:
    """rawPredict's 200, or its scripted fault: stall, cut-off body, non-JSON body."""
    body = orjson.dumps(message_object(reply))
    if script.stall:  # nothing at all, not even headers, until the client leaves
        try:
            await _stall(request, state)
        except (ConnectionResetError, asyncio.CancelledError) as exc:
            _count_disconnect(state)
            if isinstance(exc, asyncio.CancelledError):
                raise
        return web.Response(status=204)
    if script.malformed_json or script.malformed_sse:
        broken = body[: len(body) // 2] + b"<!-- not json -->"
        return web.Response(
            status=200,
            body=broken,
            content_type="application/json",
            headers={"request-id": request_id},
        )
    if script.reset_midstream:  # headers and half the promised body, then a reset
        response = web.StreamResponse(
            status=200, headers={"Content-Type": "application/json", "request-id": request_id}
        )
        response.content_length = len(body)
        with contextlib.suppress(ConnectionResetError):
            await response.prepare(request)
            await response.write(body[: len(body) // 2])
            await asyncio.sleep(0.05)  # let the half reach the client before the reset
        _reset_connection(request)
        return response
    return _json(200, message_object(reply), {"request-id": request_id})


async def _stream(
    request: web.Request, state: EmulatorState, reply: Reply, script: Script, request_id: str
) -> web.StreamResponse:
    """Write Vertex's SSE sequence, with any scripted fault at the cut point."""
    events, cut = stream_events(reply)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
            "request-id": request_id,
        }
    )
    fault: str | bool | None = (
        script.midstream_error
        or script.stall
        or script.truncate
        or script.reset_midstream
        or script.malformed_sse
        or script.malformed_json
    )
    pause = script.slow_ms / 1000
    finished = False
    state.stats.active_streams += 1
    try:
        await response.prepare(request)
        for i, (name, payload) in enumerate(events):
            if fault and i == cut:
                if script.midstream_error:
                    kind = script.midstream_error
                    error = {"type": kind, "message": _MIDSTREAM_MESSAGES.get(kind, "Error")}
                    await response.write(encode_event("error", {"type": "error", "error": error}))
                elif script.stall:
                    await _stall(request, state)
                    return response
                elif script.reset_midstream:
                    await asyncio.sleep(0.05)  # let the events sent so far reach the client
                    finished = True
                    _reset_connection(request)
                    return response
                elif script.malformed_sse or script.malformed_json:
                    await response.write(_SSE_GARBAGE if script.malformed_sse else _BAD_JSON_EVENT)
                    fault = None  # then the rest of the stream, as if nothing happened
                    await response.write(encode_event(name, payload))
                    continue
                break
            if pause and i:
                await asyncio.sleep(pause)
            await response.write(encode_event(name, payload))
        finished = True
        await response.write_eof()
    except (ConnectionResetError, asyncio.CancelledError) as exc:
        if not finished:
            _count_disconnect(state)
        if isinstance(exc, asyncio.CancelledError):
            raise
    finally:
        state.stats.active_streams -= 1
        if finished:
            state.stats.completed_streams += 1
    return response


async def _stall(request: web.Request, state: EmulatorState) -> None:
    """Send nothing more, keep the connection open until the client leaves or we shut down."""
    while not state.closing.is_set():
        transport = request.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("client went away during a stall")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(state.closing.wait(), 0.05)


async def stats_endpoint(request: web.Request) -> web.Response:
    return _json(200, asdict(request.app[STATE].stats))


async def requests_endpoint(request: web.Request) -> web.Response:
    return _json(200, list(request.app[STATE].recent))


_FAULT_KEYS = {"token_delay_ms", "token_fail", "token_fail_status", "revoke_tokens"}


async def faults_endpoint(request: web.Request) -> web.Response:
    """GET: the current switches. POST: change some (`revoke_tokens: true` acts once, now)."""
    state = request.app[STATE]
    if request.method == "POST":
        try:
            change = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return _json(400, {"error": "body must be a JSON object"})
        if not isinstance(change, dict) or set(change) - _FAULT_KEYS:
            return _json(
                400, {"error": f"body must be a JSON object with keys {sorted(_FAULT_KEYS)}"}
            )
        faults = state.faults
        try:
            if "token_delay_ms" in change:
                faults.token_delay_ms = max(0.0, float(change["token_delay_ms"]))
            if "token_fail" in change:
                faults.token_fail = max(0, int(change["token_fail"]))
            if "token_fail_status" in change:
                status = int(change["token_fail_status"])
                if not 400 <= status <= 599:
                    raise ValueError("token_fail_status must be 400-599")
                faults.token_fail_status = status
        except (TypeError, ValueError) as exc:
            return _json(400, {"error": str(exc)})
        if change.get("revoke_tokens"):
            state.tokens.clear()
            faults.token_revocations += 1
    return _json(200, asdict(state.faults))


async def reset_endpoint(request: web.Request) -> web.Response:
    request.app[STATE].reset()
    return _json(200, {"ok": True})


def create_app(state: EmulatorState | None = None) -> web.Application:
    """The emulator as an aiohttp Application (mountable in-process by `modelmuxd --emulator`)."""
    app = web.Application(client_max_size=MAX_BODY_BYTES + 1024 * 1024)
    app[STATE] = state or EmulatorState()
    app.router.add_post("/token", token_endpoint)
    app.router.add_post(
        "/v1/projects/{project}/locations/{location}/publishers/{publisher}/models/{model_action}",
        publisher_endpoint,
    )
    app.router.add_get("/_emulator/stats", stats_endpoint)
    app.router.add_get("/_emulator/requests", requests_endpoint)
    app.router.add_post("/_emulator/reset", reset_endpoint)
    app.router.add_get("/_emulator/faults", faults_endpoint)
    app.router.add_post("/_emulator/faults", faults_endpoint)
    return app


# ---------------------------------------------------------------------------------------------
# Start / stop


@dataclass
class EmulatorHandle:
    """A running emulator: where it listens and which key file authenticates against it."""

    base_url: str
    credentials_file: str
    app: web.Application
    _runner: web.AppRunner = field(repr=False)

    @property
    def state(self) -> EmulatorState:
        return self.app[STATE]

    async def stop(self) -> None:
        """Release stalled streams, then close the listener and connections."""
        self.app[STATE].closing.set()
        await self._runner.cleanup()


async def start_emulator(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    key_dir: str,
    token_ttl_s: float = 3600,
    fast: bool = False,
    credentials_file: str | None = None,
    accept_output_config: bool = False,
) -> EmulatorHandle:
    """Start an emulator in the running loop; `port=0` picks a free port.

    The service-account key goes to `credentials_file` if given (an earlier emulator key found
    there is reused), else to `key_dir/emulator-service-account.json` (fresh key).
    """
    path = credentials_file or os.path.join(key_dir, CREDENTIALS_FILE_NAME)
    key = (ServiceAccountKey.load_if_emulator(path) if credentials_file else None) or (
        ServiceAccountKey()
    )
    state = EmulatorState(
        key=key, token_ttl_s=token_ttl_s, fast=fast, accept_output_config=accept_output_config
    )
    app = create_app(state)
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_port = runner.addresses[0][1]
        shown = f"[{host}]" if ":" in host else host
        base_url = f"http://{shown}:{bound_port}"
        state.bind(base_url)
        key.write(path, f"{base_url}/token")
    except BaseException:
        await runner.cleanup()
        raise
    return EmulatorHandle(base_url=base_url, credentials_file=path, app=app, _runner=runner)
