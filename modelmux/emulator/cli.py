"""`modelmux emulator`: run the Vertex AI emulator in the foreground until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Sequence

from modelmux.emulator.app import CREDENTIALS_FILE_NAME, start_emulator

__all__ = ["build_parser", "default_credentials_file", "main"]


def default_credentials_file() -> str:
    """A per-user state path, so restarts reuse the key a running modelmuxd already loaded."""
    try:
        from platformdirs import user_state_dir

        base = user_state_dir("modelmux")
    except ImportError:  # pragma: no cover - platformdirs is a declared dependency
        import tempfile

        base = os.path.join(tempfile.gettempdir(), f"modelmux-{os.getuid()}")
    return os.path.join(base, "emulator", CREDENTIALS_FILE_NAME)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelmux emulator",
        description="Run a local Vertex AI emulator (Google OAuth + Claude publisher endpoints).",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=8086, help="port (0 = any; default: %(default)s)"
    )
    parser.add_argument(
        "--credentials-file",
        default=None,
        help="where to write the service-account key (default: under the user state dir)",
    )
    parser.add_argument(
        "--token-ttl-s", type=float, default=3600.0, help="access token lifetime in seconds"
    )
    parser.add_argument(
        "--fast", action="store_true", help="benchmark mode: fixed short replies, no validation"
    )
    return parser


async def _serve(args: argparse.Namespace) -> int:
    credentials_file = os.path.abspath(args.credentials_file or default_credentials_file())
    try:
        handle = await start_emulator(
            host=args.host,
            port=args.port,
            key_dir=os.path.dirname(credentials_file),
            credentials_file=credentials_file,
            token_ttl_s=args.token_ttl_s,
            fast=args.fast,
        )
    except OSError as exc:
        print(f"modelmux emulator: cannot start: {exc}", file=sys.stderr)
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    print(
        f"Vertex AI emulator listening on {handle.base_url}\n"
        f"Service-account key: {handle.credentials_file}\n"
        "Point modelmux at it:\n"
        f"  export MODELMUX_VERTEX_BASE_URL={handle.base_url}\n"
        f"  export MODELMUX_AUTH_SERVICE_ACCOUNT_FILE={handle.credentials_file}\n"
        "Replies are emulated (see docs/emulator.md for [mm:…] directives). Ctrl-C to stop.",
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await handle.stop()
    print("emulator stopped", flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point for `modelmux emulator [options]`; returns the exit status."""
    args = build_parser().parse_args(argv)
    return asyncio.run(_serve(args))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
