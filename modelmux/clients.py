"""Client detection: how to deliver a completion to the client that asked for it (pure).

The promise: clients that can consume an SSE stream get one, clients that cannot (curl users
reading a terminal, HTTP tools that show a body once) get plain JSON, and browsers/editors that
repaint on every chunk get coalesced chunks. The official OpenAI SDKs send
`Accept: application/json` even when they stream, so the Accept header is never consulted.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence


class Delivery(enum.Enum):
    JSON = "json"  # one chat.completion object
    STREAM = "stream"  # SSE, each delta forwarded as it arrives
    BUFFERED = "buffered"  # SSE, deltas coalesced on sentence/line/size/time boundaries


STREAMING_MODES = ("auto", "never", "standard", "buffered", "always")

# User agents that always get what they asked for in `auto` mode: the official SDKs and
# Stainless-generated clients iterate SSE properly.
SDK_AGENTS = ("openai/python", "openai/js", "openai/go", "openai/java", "openai/.net", "stainless")


def _matches(user_agent: str, needles: Sequence[str]) -> bool:
    return any(needle and needle.lower() in user_agent for needle in needles)


def choose_delivery(
    *,
    wants_stream: bool,
    user_agent: str,
    mode: str,
    non_streaming_agents: Sequence[str],
    buffered_agents: Sequence[str],
) -> Delivery:
    """Decide the delivery for one request. A request without `stream: true` is never streamed.

    auto: SDKs stream, non-streaming agents get JSON, buffered agents get coalesced chunks,
    everyone else streams. always: as auto, but never downgrades to JSON.
    standard / buffered: that delivery for every streaming request. never: JSON.
    """
    if not wants_stream or mode == "never":
        return Delivery.JSON
    if mode == "standard":
        return Delivery.STREAM
    if mode == "buffered":
        return Delivery.BUFFERED
    ua = user_agent.lower()
    if _matches(ua, SDK_AGENTS):
        return Delivery.STREAM
    if mode == "auto" and _matches(ua, non_streaming_agents):
        return Delivery.JSON
    if _matches(ua, buffered_agents):
        return Delivery.BUFFERED
    return Delivery.STREAM
