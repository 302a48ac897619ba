"""`tallyio devnet relay --rpc URL [--port N]`: a local Flashbots-style relay over a devnet.

`add_relay_parser(subparsers)` adds the `relay` action to the `devnet` subcommands (handler:
`handle`); `main(argv)` runs it on its own (`python -m tallyio.devnet.relay_cli`). It prints
the relay's URL (as JSON with --json) once it listens, and serves until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Sequence
from typing import Any

from tallyio.chain.errors import ChainError
from tallyio.devnet.relay import serve


def add_relay_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `relay` to an argparse subparsers object (the `devnet` actions); returns it."""
    relay = subparsers.add_parser(
        "relay", allow_abbrev=False,
        help="serve eth_sendBundle/eth_callBundle over the devnet; bundles land atomically",
    )  # fmt: skip
    relay.add_argument("--rpc", required=True, help="the devnet's JSON-RPC URL")
    relay.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: free)")
    relay.add_argument("--json", action="store_true", help="print {url} as JSON")
    relay.set_defaults(handler=handle)
    return relay


def handle(args: argparse.Namespace) -> int:
    def ready(url: str) -> None:
        print(json.dumps({"url": url}) if args.json else f"devnet relay listening on {url}",
              flush=True)  # fmt: skip

    try:
        asyncio.run(_run(args.rpc, args.port, ready))
    except (OSError, ChainError) as exc:  # the port is taken, the node does not answer
        print(f"tallyio: error: {exc}", file=sys.stderr)
        return 1
    return 0


async def _run(rpc: str, port: int, ready: Any) -> None:
    task = asyncio.create_task(serve(rpc, port, ready))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tallyio devnet", allow_abbrev=False)
    add_relay_parser(parser.add_subparsers(dest="devnet_command", required=True))
    args = parser.parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
