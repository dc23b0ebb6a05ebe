"""Profile the daemon under one bench load with py-spy (install it into the venv yourself:
`.venv/bin/pip install py-spy`; it needs ptrace rights).

    .venv/bin/python bench/profile.py SCENARIO CONCURRENCY [SECONDS] [--pin]

Writes bench/profiles/<date>-<scenario>-c<N>.svg (flame graph) and .txt (top functions,
`py-spy record --format raw` collapsed stacks summarised by self time).
"""

from __future__ import annotations

import collections
import datetime as dt
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run


def summarise(raw: Path, out: Path, top: int = 40) -> None:
    own: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack:
            continue
        count = int(n)
        total += count
        frames = stack.split(";")
        own[frames[-1]] += count
        for f in set(frames):
            incl[f] += count
    with open(out, "w") as f:
        f.write(f"samples: {total}\n\n== self time ==\n")
        for name, n in own.most_common(top):
            f.write(f"{100 * n / total:6.2f}%  {name}\n")
        f.write("\n== inclusive time ==\n")
        for name, n in incl.most_common(top):
            f.write(f"{100 * n / total:6.2f}%  {name}\n")


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    pin = "--pin" in sys.argv
    scenario, conc = args[0], int(args[1])
    seconds = float(args[2]) if len(args) > 2 else 8.0
    pyspy = shutil.which("py-spy", path=str(run.BIN)) or shutil.which("py-spy")
    if not pyspy:
        raise SystemExit("py-spy is not installed (.venv/bin/pip install py-spy)")
    daemon_core, load_core = (0, 1) if pin else (None, None)
    outdir = run.HERE / "profiles"
    outdir.mkdir(exist_ok=True)
    stem = outdir / f"{dt.date.today().isoformat()}-{scenario}-c{conc}"
    with tempfile.TemporaryDirectory(prefix="modelmux-prof-") as tmp_s:
        tmp = Path(tmp_s)
        emu, base_url, cred = run.start_emulator(tmp, load_core)
        try:
            daemon, port, _ = run.start_daemon(tmp, base_url, cred, daemon_core, False, "prof")
            try:
                sc = run.SCENARIOS[scenario]
                spec = {
                    "url": f"http://127.0.0.1:{port}/v1/chat/completions",
                    "body": sc["body"],
                    "stream": sc["stream"],
                    "concurrency": conc,
                    "duration": seconds,
                    "warmup": 0.5,
                    "watch_pid": daemon.pid,
                }
                load = subprocess.Popen(
                    [sys.executable, str(run.HERE / "loadgen.py"), run.orjson.dumps(spec).decode()],
                    stdout=subprocess.PIPE,
                    preexec_fn=run.pinned(load_core),
                )
                time.sleep(0.6)
                for fmt, suffix in (("flamegraph", ".svg"), ("raw", ".raw")):
                    subprocess.run(
                        [
                            pyspy,
                            "record",
                            "--pid",
                            str(daemon.pid),
                            "--duration",
                            str(int(seconds / 2) - 1 or 1),
                            "--rate",
                            "500",
                            "--nonblocking",
                            "--format",
                            fmt,
                            "-o",
                            str(stem) + suffix,
                        ],
                        check=True,
                        capture_output=True,
                    )
                out, _ = load.communicate()
                print(out.decode().strip())
            finally:
                daemon.stop()
        finally:
            emu.stop()
    summarise(Path(str(stem) + ".raw"), Path(str(stem) + ".txt"))
    Path(str(stem) + ".raw").unlink()
    print(f"wrote {stem}.svg and {stem}.txt")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
