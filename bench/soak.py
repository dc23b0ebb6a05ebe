"""`make soak`: 1,000 concurrent slow streams through one modelmuxd against the emulator.

Starts the emulator (`modelmux emulator`, its own process) and the daemon (`modelmuxd`), opens
N streaming chat completions at once whose answers trickle (`[mm:slow MS] [mm:long WORDS]`), so
all N are in flight together, checks every stream (full text, then `[DONE]`, no error frame),
and reports errors, the peak number of overlapping streams, the daemon's peak RSS (VmHWM) and
its CPU time. Exit status 1 if any stream failed or the run overran its deadline.

    .venv/bin/python bench/soak.py [--concurrency 1000] [--words 40] [--slow-ms 250]

`run_streams()` is also used by tests/test_load.py (the CI-sized version, 100 streams).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import orjson

BIN = Path(sys.executable).parent
UA = "OpenAI/Python 1.0 soak"


@dataclass
class SoakResult:
    completed: int = 0
    errors: list[str] = field(default_factory=list)
    peak_concurrent: int = 0
    elapsed_s: float = 0.0
    first_byte_s: list[float] = field(default_factory=list)


async def run_streams(
    base_url: str, *, concurrency: int, words: int, slow_ms: int, deadline_s: float
) -> SoakResult:
    """Open `concurrency` streams at once and check each one completely."""
    result = SoakResult()
    active = 0
    started = time.monotonic()

    async def one(session: aiohttp.ClientSession, n: int) -> None:
        nonlocal active
        body = {
            "model": "m",
            "stream": True,
            "messages": [{"role": "user", "content": f"[mm:slow {slow_ms}] [mm:long {words}] {n}"}],
        }
        t0 = time.monotonic()
        try:
            async with session.post(
                f"{base_url}/v1/chat/completions", json=body, headers={"User-Agent": UA}
            ) as resp:
                if resp.status != 200:
                    result.errors.append(f"#{n}: HTTP {resp.status} {(await resp.text())[:200]}")
                    return
                active += 1
                result.peak_concurrent = max(result.peak_concurrent, active)
                try:
                    text, frames, first = [], [], None
                    async for line in resp.content:
                        if not line.startswith(b"data: "):
                            continue
                        if first is None:
                            first = time.monotonic() - t0
                        data = line[6:].strip()
                        frames.append(data)
                        if data == b"[DONE]":
                            continue
                        chunk = orjson.loads(data)
                        if "error" in chunk:
                            result.errors.append(f"#{n}: error frame {data[:200]!r}")
                            return
                        for choice in chunk.get("choices", []):
                            text.append(choice["delta"].get("content") or "")
                finally:
                    active -= 1
        except (TimeoutError, aiohttp.ClientError) as exc:
            result.errors.append(f"#{n}: {type(exc).__name__}: {exc}")
            return
        if not frames or frames[-1] != b"[DONE]":
            result.errors.append(f"#{n}: no [DONE] at the end")
        elif len("".join(text).split()) != words:
            result.errors.append(f"#{n}: {len(''.join(text).split())} words, expected {words}")
        else:
            result.completed += 1
            if first is not None:
                result.first_byte_s.append(first)

    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    timeout = aiohttp.ClientTimeout(total=deadline_s)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(one(session, n) for n in range(concurrency)))
    result.elapsed_s = time.monotonic() - started
    return result


# --- processes ----------------------------------------------------------------------------------


def _raise_fd_limit(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))


def _start(cmd: list[str], env: dict[str, str], pattern: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    lines = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        match = re.search(pattern, line)
        if match:
            # keep reading so a full pipe never blocks the child's logging
            threading.Thread(target=proc.stdout.read, daemon=True).start()
            return proc, match.group(1)
    proc.kill()
    raise SystemExit(f"{cmd[0]} did not start:\n" + "".join(lines))


def _proc_stats(pid: int) -> tuple[int, float]:
    """(VmHWM kB, user+system CPU seconds) of a live process."""
    hwm = 0
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return hwm, (int(fields[11]) + int(fields[12])) / ticks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=1000)
    parser.add_argument("--words", type=int, default=40, help="words per answer (2 per event)")
    parser.add_argument("--slow-ms", type=int, default=250, help="pause between stream events")
    parser.add_argument("--deadline-s", type=float, default=120)
    args = parser.parse_args()
    _raise_fd_limit(4 * args.concurrency + 256)

    with tempfile.TemporaryDirectory(prefix="modelmux-soak-") as tmp:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("MODELMUX_", "VERTEX_"))}
        base.update(
            HOME=tmp,
            MODELMUX_SYSTEM_CONFIG=f"{tmp}/none.toml",
            NO_GCE_CHECK="True",
            PYTHONUNBUFFERED="1",
        )
        key = f"{tmp}/sa.json"
        emulator, emu_url = _start(
            [str(BIN / "modelmux"), "emulator", "--port", "0", "--credentials-file", key],
            base,
            r"listening on (http://\S+)",
        )
        env = {
            **base,
            "MODELMUX_VERTEX_BASE_URL": emu_url,
            "MODELMUX_AUTH_SERVICE_ACCOUNT_FILE": key,
            "MODELMUX_VERTEX_PROJECT": "soak",
            "MODELMUX_VERTEX_LOCATION": "us-east5",
            "MODELMUX_VERTEX_MODEL": "claude-sonnet-4-5@20250929",
            "MODELMUX_STREAMING_MODE": "standard",
        }
        daemon, port = _start(
            [str(BIN / "modelmuxd"), "--port", "0", "--log-format", "json", "--log-level", "info"],
            env,
            r'^(?=.*"event": ?"listening").*"port": ?(\d+)',
        )
        try:
            _hwm0, cpu0 = _proc_stats(daemon.pid)
            result = asyncio.run(
                run_streams(
                    f"http://127.0.0.1:{port}",
                    concurrency=args.concurrency,
                    words=args.words,
                    slow_ms=args.slow_ms,
                    deadline_s=args.deadline_s,
                )
            )
            hwm, cpu1 = _proc_stats(daemon.pid)
        finally:
            for proc in (daemon, emulator):
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()

    ttfb = sorted(result.first_byte_s) or [0.0]
    stream_s = args.words / 2 * args.slow_ms / 1000
    print(
        f"streams:         {args.concurrency} concurrent, {args.words} words, "
        f"{args.slow_ms} ms between events (~{stream_s:.1f} s each)"
    )
    print(f"completed:       {result.completed}/{args.concurrency}")
    print(f"errors:          {len(result.errors)}")
    for error in result.errors[:10]:
        print(f"  {error}")
    print(f"peak overlap:    {result.peak_concurrent} streams in flight at once")
    print(f"wall time:       {result.elapsed_s:.1f} s")
    print(
        f"first byte:      p50 {ttfb[len(ttfb) // 2] * 1000:.0f} ms, max {ttfb[-1] * 1000:.0f} ms"
    )
    print(f"daemon peak RSS: {hwm / 1024:.1f} MiB (VmHWM)")
    print(
        f"daemon CPU:      {cpu1 - cpu0:.1f} s over {result.elapsed_s:.1f} s "
        f"({(cpu1 - cpu0) / max(result.elapsed_s, 1e-9) * 100:.0f}% of one core)"
    )
    ok = not result.errors and result.completed == args.concurrency
    return 0 if ok and result.elapsed_s < args.deadline_s else 1


if __name__ == "__main__":
    sys.exit(main())
