"""HTTP handlers: thin glue between the wire and the pure translation core.

chat completions: parse → route the model → convert.request → (inline remote images) →
choose delivery → Vertex → convert.response (JSON) or streaming.relay (SSE).
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from modelmux import __version__
from modelmux.clients import Delivery, choose_delivery
from modelmux.convert.request import to_anthropic
from modelmux.convert.response import to_openai
from modelmux.errors import InvalidRequest, ModelNotFound, UpstreamError
from modelmux.state import STATE
from modelmux.streaming import relay_stream
from modelmux.upstream.vertex import forwarded_betas

_JSON = "application/json"


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(payload), content_type=_JSON)


async def read_json_body(request: web.Request) -> Any:
    try:
        raw = await request.read()  # over client_max_size: HTTPRequestEntityTooLarge → 413
    except RequestPayloadError:  # e.g. a Content-Encoding whose data does not decode
        raise InvalidRequest("The request body could not be decoded.") from None
    if not raw:
        raise InvalidRequest("The request body is empty; expected a JSON object.")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidRequest(
            "We could not parse the JSON body of your request. (HINT: This likely means you "
            "aren't using your HTTP library correctly. The OpenAI API expects a JSON payload.)"
        ) from None


async def chat_completions(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    stats = state.stats
    stats.total_requests += 1
    succeeded = False
    try:
        body = await read_json_body(request)
        if not isinstance(body, dict):
            raise InvalidRequest("The request body must be a JSON object.")
        route = state.models.route(body.get("model"))
        request["model"] = route.client_model[:200]  # for the access line; names can be huge
        request["model_id"] = route.model_id  # bounded: the metrics label
        converted = to_anthropic(body, model_id=route.model_id, options=state.convert_options)
        if converted.remote_images:
            if state.images is None:
                raise InvalidRequest("Remote image URLs are not enabled on this proxy.")
            await state.images.inline_all(converted.remote_images)
        streaming = state.settings.streaming
        delivery = choose_delivery(
            wants_stream=converted.stream,
            user_agent=request.headers.get("User-Agent", ""),
            mode=streaming.mode,
            non_streaming_agents=streaming.non_streaming_agents,
            buffered_agents=streaming.buffered_agents,
        )
        request["delivery"] = delivery.value
        vertex = state.vertex
        if vertex is None:  # pragma: no cover - only before cleanup_ctx ran
            raise UpstreamError("The upstream client is not ready.")
        beta = forwarded_betas(
            request.headers.getall("anthropic-beta", []), state.settings.vertex.anthropic_beta
        )
        if delivery is Delivery.JSON:
            if converted.stream:  # downgraded: ask Vertex for one message
                converted.body.pop("stream", None)
                converted.stream = False
            message = await vertex.complete(route, converted.body, beta=beta)
            result = to_openai(message, converted)
            stats.record_usage(route.model_id, result.get("usage"))
            succeeded = True
            request["outcome"] = result["choices"][0]["finish_reason"]
            return _json(result)
        response, succeeded = await relay_stream(
            request, state, route, converted, buffered=delivery is Delivery.BUFFERED, beta=beta
        )
        return response
    finally:
        if succeeded:
            stats.successful_requests += 1
        else:
            stats.failed_requests += 1


def _model_object(model_id: str, created: int) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": created, "owned_by": "anthropic"}


async def list_models(request: web.Request) -> web.Response:
    state = request.app[STATE]
    data = [_model_object(entry.id, state.started_at) for entry in state.models.entries]
    return _json({"object": "list", "data": data})


async def get_model(request: web.Request) -> web.Response:
    state = request.app[STATE]
    name = request.match_info["model"]
    entry = state.models.lookup(name)
    if entry is None:
        raise ModelNotFound(
            f"The model `{name[:200]}` does not exist or you do not have access to it.",
            param="model",
        )
    return _json(_model_object(entry.id, state.started_at))


async def health(request: web.Request) -> web.Response:
    state = request.app[STATE]
    payload: dict[str, Any] = {
        "status": "ok",
        "version": __version__,
        "metrics": state.stats.health_summary(),
    }
    if state.settings.emulator:
        payload["emulated"] = True
    return _json(payload)
