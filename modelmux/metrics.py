"""Request counters for /health and the Prometheus exposition on /metrics.

`Stats` holds plain integers, counted honestly: a request succeeds when its whole answer was
delivered (for a stream: it completed with message_stop), `quota_errors` counts 429s received
from Vertex (retried or not), `retry_attempts` counts retries actually performed. Prometheus
reads those at scrape time (no per-request cost); only what needs labels or buckets — requests
by route/model/status, latency histograms, time to first token, token counters — is recorded
per request, and not at all when `[metrics] prometheus` is off. Nothing is recorded per
streamed event: time to first token is observed once per stream.

Each app has its own `CollectorRegistry`, so several apps (tests, embedders) don't collide.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from modelmux import __version__

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_REQUEST_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
_UPSTREAM_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)
_TTFT_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120)


@dataclass(slots=True)
class Stats:
    total_requests: int = 0
    successful_requests: int = 0
    failed_requests: int = 0
    quota_errors: int = 0
    retry_attempts: int = 0
    token_refreshes: int = 0
    active_streams: int = 0
    # upstream failures by HTTP status ("429", "503", …) or "timeout" / "connection_error"
    upstream_errors: dict[str, int] = field(default_factory=dict)
    reloads: dict[str, int] = field(default_factory=dict)  # "applied" / "rejected"
    prom: Prometheus | None = None

    def health_summary(self) -> dict[str, int]:
        return {
            "total_requests": self.total_requests,
            "successful_requests": self.successful_requests,
            "failed_requests": self.failed_requests,
            "quota_errors": self.quota_errors,
            "retry_attempts": self.retry_attempts,
            "token_refreshes": self.token_refreshes,
            "active_streams": self.active_streams,
        }

    # -- hooks for the upstream client and the handlers (cheap no-ops without Prometheus) ----

    def upstream_answered(self, status: int, seconds: float) -> None:
        """Vertex sent its response headers `seconds` after the attempt started."""
        if status != 200:
            key = str(status)
            self.upstream_errors[key] = self.upstream_errors.get(key, 0) + 1
        if self.prom is not None:
            self.prom.upstream_seconds.labels(str(status)).observe(seconds)

    def upstream_failed(self, kind: str) -> None:
        """An attempt got no answer: `timeout` or `connection_error`."""
        self.upstream_errors[kind] = self.upstream_errors.get(kind, 0) + 1

    def record_usage(self, model: str, usage: dict[str, Any] | None) -> None:
        """Token counts of one answer (OpenAI usage shape), by Vertex model ID."""
        if self.prom is not None and usage:
            self.prom.record_usage(model, usage)

    def observe_ttft(self, model: str, seconds: float) -> None:
        if self.prom is not None:
            self.prom.ttft_seconds.labels(model).observe(seconds)


class Prometheus:
    """The labelled metrics of one app, in the app's own registry."""

    def __init__(self, stats: Stats) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "modelmux_requests",
            "HTTP requests answered, by route, Vertex model and status.",
            ("route", "model", "status"),
            registry=registry,
        )
        self.request_seconds = Histogram(
            "modelmux_request_duration_seconds",
            "End-to-end request duration (for streams: until the last byte), by route.",
            ("route",),
            buckets=_REQUEST_BUCKETS,
            registry=registry,
        )
        self.upstream_seconds = Histogram(
            "modelmux_upstream_latency_seconds",
            "Time from sending a request to Vertex to its response headers, per attempt, "
            "by HTTP status.",
            ("status",),
            buckets=_UPSTREAM_BUCKETS,
            registry=registry,
        )
        self.ttft_seconds = Histogram(
            "modelmux_time_to_first_token_seconds",
            "Streams: time from the request's arrival to the first content chunk sent, by "
            "Vertex model (completed streams only).",
            ("model",),
            buckets=_TTFT_BUCKETS,
            registry=registry,
        )
        self.prompt_tokens = Counter(
            "modelmux_prompt_tokens",
            "Prompt tokens (cached ones included), by Vertex model.",
            ("model",),
            registry=registry,
        )
        self.completion_tokens = Counter(
            "modelmux_completion_tokens",
            "Completion tokens, by Vertex model.",
            ("model",),
            registry=registry,
        )
        self.cached_tokens = Counter(
            "modelmux_cached_tokens",
            "Prompt tokens read from Vertex's prompt cache, by Vertex model.",
            ("model",),
            registry=registry,
        )
        registry.register(_StatsCollector(stats))

    def observe_request(self, route: str, model: str, status: int, seconds: float) -> None:
        self.requests.labels(route, model, str(status)).inc()
        self.request_seconds.labels(route).observe(seconds)

    def record_usage(self, model: str, usage: dict[str, Any]) -> None:
        prompt = usage.get("prompt_tokens") or 0
        completion = usage.get("completion_tokens") or 0
        details = usage.get("prompt_tokens_details") or {}
        cached = (details.get("cached_tokens") or 0) if isinstance(details, dict) else 0
        if prompt:
            self.prompt_tokens.labels(model).inc(prompt)
        if completion:
            self.completion_tokens.labels(model).inc(completion)
        if cached:
            self.cached_tokens.labels(model).inc(cached)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _StatsCollector(Collector):
    """The plain `Stats` integers, read at scrape time."""

    def __init__(self, stats: Stats) -> None:
        self._stats = stats

    def describe(self) -> list[Metric]:
        return []  # dynamic: names are not checked for collisions at registration

    def collect(self) -> Iterator[Metric]:
        s = self._stats
        info = GaugeMetricFamily(
            "modelmux_info", "The running modelmux version.", labels=("version",)
        )
        info.add_metric((__version__,), 1)
        yield info
        yield CounterMetricFamily(
            "modelmux_retries", "Upstream attempts retried.", value=s.retry_attempts
        )
        yield CounterMetricFamily(
            "modelmux_quota_errors", "429 answers received from Vertex.", value=s.quota_errors
        )
        errors = CounterMetricFamily(
            "modelmux_upstream_errors",
            "Failed upstream attempts, by HTTP status or timeout / connection_error.",
            labels=("status",),
        )
        for status, count in sorted(s.upstream_errors.items()):
            errors.add_metric((status,), count)
        yield errors
        yield CounterMetricFamily(
            "modelmux_token_refreshes",
            "Google access tokens obtained.",
            value=s.token_refreshes,
        )
        yield GaugeMetricFamily(
            "modelmux_active_streams", "Streams being relayed now.", value=s.active_streams
        )
        reloads = CounterMetricFamily(
            "modelmux_config_reloads", "SIGHUP reloads, by result.", labels=("result",)
        )
        for result, count in sorted(s.reloads.items()):
            reloads.add_metric((result,), count)
        yield reloads
