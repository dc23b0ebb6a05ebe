"""Test-only probe, loaded into a daemon subprocess through PYTHONPATH (never installed).

When MODELMUX_TEST_PROBE_DIR is set, SIGUSR2 makes the process write the number of asyncio tasks
of its running loop to `<dir>/tasks-<pid>.txt`. The daemon's code is untouched; the handler runs
in the main thread, between two bytecodes of the event loop, so `all_tasks()` sees the real loop.
"""

from __future__ import annotations

import os
import signal

_DIR = os.environ.get("MODELMUX_TEST_PROBE_DIR")


def _report(_signum: int, _frame: object) -> None:
    import asyncio

    try:
        count = len(asyncio.all_tasks())
    except RuntimeError:  # no running loop (yet)
        count = -1
    path = os.path.join(_DIR or ".", f"tasks-{os.getpid()}.txt")
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        fh.write(str(count))
    os.replace(tmp, path)


if _DIR:
    signal.signal(signal.SIGUSR2, _report)
