"""`make bench`: modelmuxd against the fast emulator, next to the floor (the emulator alone).

Three processes: the emulator (`modelmux emulator --fast`), the daemon (`modelmuxd`), and the
load generator (bench/loadgen.py, one process per cell). Every cell is measured twice in the
same run, once through the daemon (OpenAI format) and once straight against the emulator in
Anthropic format with the same upstream body (the floor), alternating, `--repeat` times; the
table shows medians and daemon/floor ratios. The machine is shared and noisy: compare ratios,
not absolute numbers between runs.

    .venv/bin/python bench/run.py [--pin] [--quick] [--repeat N] [--duration S]
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from loadgen import status_kb  # bench/ is on sys.path: this script's folder

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BIN = Path(sys.executable).parent
MODEL = "claude-sonnet-4-5@20250929"
PROJECT = "bench-project"
LOCATION = "us-east5"

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]

SCENARIOS: dict[str, dict[str, Any]] = {
    "chat": {
        "stream": False,
        "body": {
            "model": MODEL,
            "messages": [{"role": "user", "content": "Hello, how are you today?"}],
            "max_tokens": 64,
        },
    },
    "stream500": {
        "stream": True,
        "body": {
            "model": MODEL,
            "stream": True,
            "messages": [{"role": "user", "content": "Tell me a long story. [mm:long 500]"}],
            "max_tokens": 1024,
        },
    },
    "tools": {
        "stream": True,
        "body": {
            "model": MODEL,
            "stream": True,
            "messages": [
                {
                    "role": "user",
                    "content": "Weather? [mm:text Let me check.] "
                    '[mm:tool get_weather {"city":"Paris","unit":"celsius"}]',
                }
            ],
            "tools": TOOLS,
            "max_tokens": 256,
        },
    },
}
HELD = {
    "stream": True,
    "body": {
        "model": MODEL,
        "stream": True,
        "messages": [{"role": "user", "content": "Slowly. [mm:long 20] [mm:slow 300]"}],
        "max_tokens": 64,
    },
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pinned(core: int | None):  # type: ignore[no-untyped-def]
    if core is None:
        return None

    def pre() -> None:
        os.sched_setaffinity(0, {core})

    return pre


def health_ok(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        conn.request("GET", "/health")
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False


class Proc:
    def __init__(self, args: list[str], env: dict[str, str], core: int | None, log: Path) -> None:
        self.log = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.t0 = time.perf_counter()
        self.p = subprocess.Popen(
            args, env=env, stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=pinned(core)
        )

    @property
    def pid(self) -> int:
        return self.p.pid

    def stop(self) -> None:
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()


def base_env(home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MODELMUX_", "VERTEX_", "GOOGLE_", "GCE_"))
    }
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        MODELMUX_SYSTEM_CONFIG=str(home / "no-system-config.toml"),
        NO_GCE_CHECK="True",
        PYTHONUNBUFFERED="1",
    )
    return env


def start_emulator(tmp: Path, core: int | None) -> tuple[Proc, str, str]:
    port = free_port()
    cred = tmp / "emulator-key.json"
    proc = Proc(
        [
            str(BIN / "modelmux"),
            "emulator",
            "--fast",
            "--port",
            str(port),
            "--credentials-file",
            str(cred),
        ],
        base_env(tmp),
        core,
        tmp / "emulator.log",
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if cred.exists() and b"listening" in (tmp / "emulator.log").read_bytes():
            return proc, f"http://127.0.0.1:{port}", str(cred)
        time.sleep(0.02)
    proc.stop()
    raise SystemExit("emulator did not start:\n" + (tmp / "emulator.log").read_text())


def start_daemon(
    tmp: Path, base_url: str, cred: str, core: int | None, event_loop: str, tag: str
) -> tuple[Proc, int, float]:
    port = free_port()
    env = base_env(tmp)
    env.update(
        MODELMUX_VERTEX_BASE_URL=base_url,
        MODELMUX_AUTH_SERVICE_ACCOUNT_FILE=cred,
        MODELMUX_VERTEX_PROJECT=PROJECT,
        MODELMUX_VERTEX_LOCATION=LOCATION,
        MODELMUX_VERTEX_MODEL=MODEL,
        MODELMUX_STREAMING_MODE="standard",
        MODELMUX_SERVER_EVENT_LOOP=event_loop,
    )
    args = [str(BIN / "modelmuxd"), "--port", str(port), "--log-format", "json"]
    proc = Proc(args, env, core, tmp / f"daemon-{tag}.log")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if health_ok(port):
            return proc, port, time.perf_counter() - proc.t0
        if proc.p.poll() is not None:
            break
        time.sleep(0.002)
    proc.stop()
    raise SystemExit("daemon did not start:\n" + (tmp / f"daemon-{tag}.log").read_text())


def fetch_token(cred: str) -> str:
    from google.auth.transport.requests import Request
    from google.oauth2 import service_account

    creds = service_account.Credentials.from_service_account_file(
        cred, scopes=["https://www.googleapis.com/auth/cloud-platform"]
    )
    creds.refresh(Request())
    return str(creds.token)


def upstream_body(openai_body: dict[str, Any]) -> dict[str, Any]:
    """What the daemon sends Vertex for this request (the floor sends the same bytes)."""
    from modelmux.convert.request import ConvertOptions, to_anthropic

    return to_anthropic(openai_body, model_id=MODEL, options=ConvertOptions()).body


def loadgen(spec: dict[str, Any], core: int | None) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, str(HERE / "loadgen.py"), orjson.dumps(spec).decode()],
        capture_output=True,
        preexec_fn=pinned(core),
        timeout=600,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit("loadgen failed:\n" + out.stderr.decode())
    return orjson.loads(out.stdout)


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for key in runs[0]:
        values = [r[key] for r in runs if isinstance(r.get(key), (int, float))]
        merged[key] = statistics.median(values) if values else runs[0][key]
    return merged


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--pin", action="store_true", help="daemon on core 0; emulator + load on 1")
    ap.add_argument("--quick", action="store_true", help="1 repeat, 1 s cells (smoke test)")
    ap.add_argument("--repeat", type=int, default=3, help="repeats per cell (median reported)")
    ap.add_argument("--duration", type=float, default=2.0, help="measured seconds per cell")
    ap.add_argument("--concurrency", default="1,16,64,256")
    ap.add_argument("--scenarios", default="chat,stream500,tools")
    ap.add_argument("--no-held", action="store_true", help="skip the 1,000 held streams cell")
    ap.add_argument(
        "--event-loop",
        default="auto",
        choices=("auto", "uvloop", "asyncio"),
        help="the daemon's [server] event_loop (auto: uvloop when installed)",
    )
    ap.add_argument("--label", default="", help="free text stored with the results")
    ap.add_argument("--out", default=str(HERE / "results"))
    args = ap.parse_args()
    if args.quick:
        args.repeat, args.duration = 1, 1.0
    daemon_core, load_core = (0, 1) if args.pin else (None, None)
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    started = dt.datetime.now(dt.UTC)

    with tempfile.TemporaryDirectory(prefix="modelmux-bench-") as tmp_s:
        tmp = Path(tmp_s)
        emu, base_url, cred = start_emulator(tmp, load_core)
        daemons: list[Proc] = []
        try:
            token = fetch_token(cred)
            # start-up to ready: median of three cold starts
            startups = []
            for i in range(3):
                d, _port, ready_s = start_daemon(
                    tmp, base_url, cred, daemon_core, args.event_loop, f"s{i}"
                )
                startups.append(ready_s)
                d.stop()
            daemon, port, ready_s = start_daemon(
                tmp, base_url, cred, daemon_core, args.event_loop, "main"
            )
            daemons.append(daemon)
            startups.append(ready_s)
            time.sleep(1.0)
            idle_rss_kb = status_kb(daemon.pid, "VmRSS")
            results = run_cells(args, concurrencies, base_url, token, port, daemon.pid, load_core)
            held = None
            if not args.no_held:
                held = loadgen(
                    {
                        "url": f"http://127.0.0.1:{port}/v1/chat/completions",
                        "body": HELD["body"],
                        "stream": True,
                        "concurrency": 1000,
                        "duration": 0,
                        "hold": True,
                        "watch_pid": daemon.pid,
                    },
                    load_core,
                )
            time.sleep(0.5)
            idle_after_kb = status_kb(daemon.pid, "VmRSS")
            peak_kb = status_kb(daemon.pid, "VmHWM")
        finally:
            for d in daemons:
                d.stop()
            emu.stop()

    summary = {
        "startup_ready_s_median": round(statistics.median(startups), 3),
        "startup_ready_s_all": [round(s, 3) for s in startups],
        "idle_rss_mb": round(idle_rss_kb / 1024, 1),
        "idle_rss_after_load_mb": round(idle_after_kb / 1024, 1),
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "held_streams": held,
    }
    meta = {
        "date": started.isoformat(timespec="seconds"),
        "pin": args.pin,
        "repeat": args.repeat,
        "duration_s": args.duration,
        "event_loop": args.event_loop,
        "label": args.label,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
    }
    print_table(results, summary, meta)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{started.date().isoformat()}.jsonl"
    with open(path, "ab") as f:
        for scenario, cells in results.items():
            f.write(orjson.dumps({**meta, "scenario": scenario, "cells": cells}) + b"\n")
        f.write(orjson.dumps({**meta, "scenario": "process", **summary}) + b"\n")
    print(f"\nappended to {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


def run_cells(
    args: argparse.Namespace,
    concurrencies: list[int],
    base_url: str,
    token: str,
    port: int,
    daemon_pid: int,
    load_core: int | None,
) -> dict[str, list[dict[str, Any]]]:
    results: dict[str, list[dict[str, Any]]] = {}
    for name in args.scenarios.split(","):
        sc = SCENARIOS[name]
        verb = "streamRawPredict" if sc["stream"] else "rawPredict"
        floor_url = (
            f"{base_url}/v1/projects/{PROJECT}/locations/{LOCATION}/publishers/anthropic/"
            f"models/{MODEL}:{verb}"
        )
        cells = []
        for c in concurrencies:
            common = {
                "stream": sc["stream"],
                "concurrency": c,
                "duration": args.duration,
                "warmup": 0.5,
            }
            floor_runs, daemon_runs = [], []
            for _ in range(args.repeat):
                floor_runs.append(
                    loadgen(
                        {
                            **common,
                            "url": floor_url,
                            "body": upstream_body(sc["body"]),
                            "headers": {"Authorization": f"Bearer {token}"},
                        },
                        load_core,
                    )
                )
                daemon_runs.append(
                    loadgen(
                        {
                            **common,
                            "url": f"http://127.0.0.1:{port}/v1/chat/completions",
                            "body": sc["body"],
                            "watch_pid": daemon_pid,
                        },
                        load_core,
                    )
                )
            fl, dm = median_of(floor_runs), median_of(daemon_runs)
            cell: dict[str, Any] = {"concurrency": c, "daemon": dm, "floor": fl}
            if sc["stream"]:
                events = fl.get("frames_per_request") or 0  # upstream SSE events per stream
                cell["upstream_events_per_stream"] = events
                if events and dm.get("cpu_ms_per_request") is not None:
                    cell["cpu_us_per_event"] = round(dm["cpu_ms_per_request"] * 1000 / events, 2)
            cell["ratio"] = {
                k: ratio(dm.get(k), fl.get(k))
                for k in ("rps", "p50_ms", "p90_ms", "p99_ms", "ttfb_p50_ms")
                if k in dm
            }
            cell["added_ms"] = {
                k: round(dm[k] - fl[k], 3)
                for k in ("p50_ms", "p99_ms", "ttfb_p50_ms")
                if k in dm and k in fl
            }
            cells.append(cell)
            print(
                f"  {name:<9} c={c:<4} daemon {dm['rps']:>8.1f} rps  floor {fl['rps']:>8.1f} rps"
                f"  cpu {dm.get('cpu_ms_per_request')} ms/req",
                file=sys.stderr,
                flush=True,
            )
        results[name] = cells
    return results


def _f(v: Any, width: int, digits: int = 2) -> str:
    if v is None:
        return "-".rjust(width)
    if isinstance(v, float):
        return f"{v:.{digits}f}".rjust(width)
    return str(v).rjust(width)


def print_table(
    results: dict[str, list[dict[str, Any]]], summary: dict[str, Any], meta: dict[str, Any]
) -> None:
    print(
        f"\nmodelmux bench {meta['date']}  pin={meta['pin']}  event_loop={meta['event_loop']}  "
        f"repeat={meta['repeat']} x {meta['duration_s']} s per cell"
    )
    print(
        "Figures are medians of the repeats; 'x' columns are daemon/floor ratios from the same "
        "run (the machine is shared and noisy: trust ratios and medians, not single numbers)."
    )
    head = (
        f"{'scenario':<10}{'conc':>5}{'rps':>9}{'floor':>9}{'x':>6}"
        f"{'p50':>8}{'p90':>8}{'p99':>8}{'+p50':>7}{'+p99':>7}"
        f"{'ttfb':>7}{'+ttfb':>7}{'cpu/req':>9}{'us/ev':>7}{'err':>5}"
    )
    print(head)
    print(
        f"{'':<10}{'':>5}{'':>9}{'rps':>9}{'':>6}{'ms':>8}{'ms':>8}{'ms':>8}{'ms':>7}{'ms':>7}"
        f"{'ms':>7}{'ms':>7}{'ms':>9}{'':>7}{'':>5}"
    )
    for name, cells in results.items():
        for cell in cells:
            dm, fl = cell["daemon"], cell["floor"]
            added = cell["added_ms"]
            print(
                f"{name:<10}{cell['concurrency']:>5}{_f(dm['rps'], 9, 0)}{_f(fl['rps'], 9, 0)}"
                f"{_f(cell['ratio'].get('rps'), 6)}"
                f"{_f(dm['p50_ms'], 8)}{_f(dm['p90_ms'], 8)}{_f(dm['p99_ms'], 8)}"
                f"{_f(added.get('p50_ms'), 7)}{_f(added.get('p99_ms'), 7)}"
                f"{_f(dm.get('ttfb_p50_ms'), 7)}{_f(added.get('ttfb_p50_ms'), 7)}"
                f"{_f(dm.get('cpu_ms_per_request'), 9, 3)}{_f(cell.get('cpu_us_per_event'), 7, 1)}"
                f"{_f(dm['errors'] + fl['errors'], 5)}"
            )
    print(
        "\nrps/p50/p90/p99 are the daemon's; floor = same load straight to the emulator "
        "(Anthropic format); +p50/+p99/+ttfb = daemon minus floor; cpu/req = daemon CPU "
        "(utime+stime) per request; us/ev = daemon CPU per upstream SSE event."
    )
    print(
        f"start-up to ready (spawn -> /health 200): median {summary['startup_ready_s_median']} s "
        f"of {summary['startup_ready_s_all']}"
    )
    print(
        f"RSS: idle {summary['idle_rss_mb']} MB, idle after load {summary['idle_rss_after_load_mb']}"
        f" MB, peak (VmHWM) {summary['peak_rss_mb']} MB"
    )
    held = summary.get("held_streams")
    if held:
        print(
            f"1,000 held slow streams: {held['requests']} ok, {held['errors']} errors, "
            f"max in flight {held['max_in_flight']}, daemon RSS peak "
            f"{held['rss_kb_peak_sampled'] / 1024:.1f} MB, cpu {held['cpu_ms_per_request']} ms/stream"
        )


if __name__ == "__main__":
    raise SystemExit(main())
