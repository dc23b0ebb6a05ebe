"""What the running service holds: settings and the objects built from them.

Kept in one mutable holder on the app so a reload can swap settings-derived parts (model
aliases, API keys, retry and streaming settings) without dropping connections.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from modelmux.access import AccessPolicy
from modelmux.convert.request import ConvertOptions
from modelmux.metrics import Prometheus, Stats
from modelmux.routing import ModelTable
from modelmux.settings import Settings

if TYPE_CHECKING:
    from modelmux.upstream.images import ImageFetcher
    from modelmux.upstream.vertex import VertexClient


@dataclass(slots=True)
class ServiceState:
    settings: Settings
    models: ModelTable
    convert_options: ConvertOptions
    access: AccessPolicy
    stats: Stats = field(default_factory=Stats)
    started_at: int = field(default_factory=lambda: int(time.time()))
    vertex: VertexClient | None = None
    images: ImageFetcher | None = None
    shutting_down: bool = False  # set once SIGTERM's drain has begun
    streams: set[asyncio.Task[Any]] = field(default_factory=set)  # relays in progress

    @classmethod
    def build(cls, settings: Settings) -> ServiceState:
        state = cls(
            settings,
            ModelTable(settings.vertex),
            _convert_options(settings),
            AccessPolicy.from_settings(settings),
        )
        if settings.metrics.prometheus:
            state.stats.prom = Prometheus(state.stats)
        return state

    def apply(self, settings: Settings) -> None:
        """Swap in new settings (reload); connections and counters stay."""
        self.settings = settings
        self.models = ModelTable(settings.vertex)
        self.convert_options = _convert_options(settings)
        self.access = AccessPolicy.from_settings(settings)
        if self.vertex is not None:
            self.vertex.configure(settings)


def _convert_options(settings: Settings) -> ConvertOptions:
    return ConvertOptions(
        default_max_tokens=settings.vertex.default_max_tokens,
        reasoning_content=settings.translation.reasoning_content,
        output_config=settings.translation.output_config,
    )


STATE = web.AppKey("modelmux_state", ServiceState)
