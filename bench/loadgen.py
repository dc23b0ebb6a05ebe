"""Closed-loop HTTP load generator for `make bench` (runs as its own process).

One cell: `concurrency` workers each send the same POST back to back for `duration` seconds
(after a short warm-up that is not measured), reading every answer in full. For streams the time
to the first body chunk and the number of SSE `data:` frames are recorded too. The CPU time and
RSS of a watched process (the daemon) are sampled from /proc at the edges of the measured phase.

Input: one JSON object on argv[1]. Output: one JSON object on stdout.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Any

import aiohttp
import orjson

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` in seconds (fields 14 and 15 of /proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        raw = f.read()
    fields = raw[raw.rindex(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def status_kb(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[k]


async def run_cell(spec: dict[str, Any]) -> dict[str, Any]:
    url: str = spec["url"]
    body: bytes = orjson.dumps(spec["body"])
    headers = {"Content-Type": "application/json", **spec.get("headers", {})}
    concurrency: int = spec["concurrency"]
    duration: float = spec["duration"]
    warmup: float = spec.get("warmup", 0.5)
    max_requests: int = spec.get("max_requests", 10**9)
    stream: bool = spec["stream"]
    watch: int | None = spec.get("watch_pid")
    hold: bool = spec.get("hold", False)  # every worker sends exactly one request (held streams)

    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=spec.get("timeout", 120))
    latencies: list[float] = []
    ttfbs: list[float] = []
    frames = 0
    errors = 0
    measuring = False
    stop_at = 0.0
    count = 0
    peak_rss_kb = 0
    in_flight = 0

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one() -> None:
            nonlocal frames, errors, count, in_flight
            t0 = time.perf_counter()
            ttfb = None
            n = 0
            ok = False
            in_flight += 1
            try:
                async with session.post(url, data=body, headers=headers) as resp:
                    if stream:
                        async for chunk in resp.content.iter_any():
                            if ttfb is None:
                                ttfb = time.perf_counter() - t0
                            # approximate: a marker split across two chunks is missed (rare)
                            n += chunk.count(b"data: ")
                    else:
                        await resp.read()
                    ok = resp.status == 200
            except (TimeoutError, aiohttp.ClientError):
                ok = False
            finally:
                in_flight -= 1
            if measuring:
                count += 1
                if ok:
                    latencies.append(time.perf_counter() - t0)
                    if ttfb is not None:
                        ttfbs.append(ttfb)
                    frames += n
                else:
                    errors += 1

        async def worker() -> None:
            while True:
                if measuring and (time.perf_counter() >= stop_at or count >= max_requests):
                    return
                await one()
                if hold:
                    return

        async def rss_sampler() -> None:
            nonlocal peak_rss_kb
            while True:
                if watch:
                    peak_rss_kb = max(peak_rss_kb, status_kb(watch, "VmRSS"))
                await asyncio.sleep(0.1)

        if hold:
            measuring = True
            stop_at = float("inf")
        t_start = time.perf_counter()
        cpu0 = cpu_seconds(watch) if watch and hold else 0.0
        tasks = [asyncio.create_task(worker()) for _ in range(concurrency)]
        sampler = asyncio.create_task(rss_sampler())
        if not hold:
            await asyncio.sleep(warmup)
            cpu0 = cpu_seconds(watch) if watch else 0.0
            t_start = time.perf_counter()
            stop_at = t_start + duration
            measuring = True
        max_in_flight = 0
        if hold:
            while not all(t.done() for t in tasks):
                max_in_flight = max(max_in_flight, in_flight)
                await asyncio.sleep(0.05)
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - t_start
        cpu1 = cpu_seconds(watch) if watch else 0.0
        sampler.cancel()

    latencies.sort()
    ttfbs.sort()
    ok_count = len(latencies)
    out: dict[str, Any] = {
        "requests": ok_count,
        "errors": errors,
        "elapsed_s": round(elapsed, 3),
        "rps": round(ok_count / elapsed, 1) if elapsed else 0.0,
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 3),
        "p90_ms": round(percentile(latencies, 0.90) * 1000, 3),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 3),
    }
    if stream:
        out["ttfb_p50_ms"] = round(percentile(ttfbs, 0.50) * 1000, 3)
        out["ttfb_p99_ms"] = round(percentile(ttfbs, 0.99) * 1000, 3)
        out["frames_per_request"] = round(frames / ok_count, 1) if ok_count else 0.0
    if watch:
        cpu = cpu1 - cpu0
        out["cpu_s"] = round(cpu, 3)
        out["cpu_ms_per_request"] = round(cpu * 1000 / ok_count, 4) if ok_count else None
        out["rss_kb_peak_sampled"] = peak_rss_kb
        out["vmhwm_kb"] = status_kb(watch, "VmHWM")
    if hold:
        out["max_in_flight"] = max_in_flight
    return out


def main() -> None:
    spec = orjson.loads(sys.argv[1])
    result = asyncio.run(run_cell(spec))
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


if __name__ == "__main__":
    main()
