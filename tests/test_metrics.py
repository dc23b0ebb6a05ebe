"""GET /metrics (Prometheus text) and /health after real traffic through the daemon."""

from __future__ import annotations

from typing import Any

import openai
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Daemon, wait_until

MODEL_ID = "claude-sonnet-4-5@20250929"


def scrape(daemon: Daemon) -> dict[str, Any]:
    """{sample name: {frozenset(labels.items()): value}}"""
    resp = requests.get(f"{daemon.base_url}/metrics", timeout=5)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    out: dict[str, Any] = {}
    for family in text_string_to_metric_families(resp.text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[frozenset(sample.labels.items())] = sample.value
    return out


def value(samples: dict[str, Any], name: str, **labels: str) -> float:
    return samples.get(name, {}).get(frozenset(labels.items()), 0.0)


def test_metrics_after_traffic(start_daemon) -> None:  # type: ignore[no-untyped-def]
    daemon = start_daemon()
    client = openai.OpenAI(base_url=f"{daemon.base_url}/v1", api_key="unused", max_retries=0)
    usage = "[mm:usage input=10 output=7 cache_read=4]"
    for _ in range(2):
        client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": f"{usage} hi"}]
        )
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": f"{usage} [mm:slow 30] [mm:long 6]"}],
            stream=True,
        )
    )
    assert chunks[-1].choices[0].finish_reason == "stop"
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "[mm:error 400] bad"}]
        )
    client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": f"{usage} [mm:fail-once 503] [mm:retry-after 0] x"}],
    )
    client.models.list()
    requests.get(f"{daemon.base_url}/v1/models/no-such-model")

    s = scrape(daemon)
    chat = "/v1/chat/completions"
    assert value(s, "modelmux_requests_total", route=chat, model=MODEL_ID, status="200") == 4
    assert value(s, "modelmux_requests_total", route=chat, model=MODEL_ID, status="400") == 1
    assert value(s, "modelmux_requests_total", route="/v1/models", model="", status="200") == 1
    assert (
        value(s, "modelmux_requests_total", route="/v1/models/{model}", model="", status="404") == 1
    )
    assert value(s, "modelmux_request_duration_seconds_count", route=chat) == 5
    # tokens: four answers of 10 input + 4 cache-read prompt tokens and 7 completion tokens
    assert value(s, "modelmux_prompt_tokens_total", model=MODEL_ID) == 4 * 14
    assert value(s, "modelmux_completion_tokens_total", model=MODEL_ID) == 4 * 7
    assert value(s, "modelmux_cached_tokens_total", model=MODEL_ID) == 4 * 4
    # time to first token: once, for the one stream, and it took the emulator's pacing
    assert value(s, "modelmux_time_to_first_token_seconds_count", model=MODEL_ID) == 1
    assert value(s, "modelmux_time_to_first_token_seconds_sum", model=MODEL_ID) >= 0.03
    # upstream: six attempts answered (one 400, one 503 then its retry)
    assert value(s, "modelmux_upstream_latency_seconds_count", status="200") == 4
    assert value(s, "modelmux_upstream_latency_seconds_count", status="503") == 1
    assert value(s, "modelmux_upstream_errors_total", status="503") == 1
    assert value(s, "modelmux_upstream_errors_total", status="400") == 1
    assert value(s, "modelmux_retries_total") == 1
    assert value(s, "modelmux_token_refreshes_total") == 1
    assert value(s, "modelmux_active_streams") == 0
    assert sum(s["modelmux_info"].values()) == 1

    health = requests.get(f"{daemon.base_url}/health", timeout=5).json()
    assert health["status"] == "ok"
    assert health["metrics"] == {
        "total_requests": 5,
        "successful_requests": 4,
        "failed_requests": 1,
        "quota_errors": 0,
        "retry_attempts": 1,
        "token_refreshes": 1,
        "active_streams": 0,
    }


def test_active_streams_gauge_while_streaming(start_daemon) -> None:  # type: ignore[no-untyped-def]
    daemon = start_daemon()
    client = openai.OpenAI(base_url=f"{daemon.base_url}/v1", api_key="unused", max_retries=0)
    stream = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "[mm:slow 100] [mm:long 20]"}], stream=True
    )
    first = next(iter(stream))
    assert first.choices[0].delta.role == "assistant"
    assert value(scrape(daemon), "modelmux_active_streams") == 1
    list(stream)
    assert value(scrape(daemon), "modelmux_active_streams") == 0


def test_metrics_off(start_daemon) -> None:  # type: ignore[no-untyped-def]
    daemon = start_daemon(MODELMUX_METRICS_PROMETHEUS="false")
    resp = requests.get(f"{daemon.base_url}/metrics", timeout=5)
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"
    assert requests.get(f"{daemon.base_url}/health", timeout=5).json()["status"] == "ok"


def test_log_lines_carry_request_and_upstream_ids(daemon: Daemon) -> None:
    resp = requests.post(
        f"{daemon.base_url}/v1/chat/completions",
        json={
            "model": "x",
            "messages": [{"role": "user", "content": "[mm:error 429] [mm:retry-after 60] q"}],
        },
        headers={"X-Request-ID": "req-trace-429"},
        timeout=10,
    )
    assert resp.status_code == 429

    # the access line is written as the response goes out: wait for the log reader to see it
    def lines() -> list:
        return [e for e in daemon.events("request") if e.get("request_id") == "req-trace-429"]

    assert wait_until(lambda: len(lines()) == 1, timeout=5)
    (line,) = lines()
    assert line["upstream_request_id"].startswith("req_vrtx_")
