"""`tallyio` command line: devnet, demo and (as they land) run, quote, health, keystore, replay."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tallyio import __version__

Handler = Callable[[argparse.Namespace], int]


class CliError(RuntimeError):
    """A user-facing failure: printed as one line, exit code 1."""


def _progress(args: argparse.Namespace) -> Callable[[str], None]:
    """Progress lines go to stderr so `--json` stdout stays machine-readable."""

    def emit(message: str) -> None:
        if not getattr(args, "quiet", False):
            print(f"[tallyio] {message}", file=sys.stderr, flush=True)

    return emit


def _devnet_up(args: argparse.Namespace) -> int:
    from tallyio.devnet import deploy
    from tallyio.devnet.summary import render_summary

    protocols = tuple(args.only.split(",")) if args.only else deploy.PROTOCOLS
    manifest = deploy.up(
        Path(args.state_dir), port=args.port, chain_id=args.chain_id,
        protocols=protocols, progress=_progress(args), use_cache=not args.no_cache,
    )  # fmt: skip
    if args.json:
        print(json.dumps(manifest, indent=2))
    else:
        print(render_summary(manifest))
        print(f"\nmanifest: {Path(args.state_dir) / 'manifest.json'}")
        print(f"stop it with: tallyio devnet down --state-dir {args.state_dir}")
    return 0


def _devnet_down(args: argparse.Namespace) -> int:
    from tallyio.devnet import deploy

    pid = deploy.down(Path(args.state_dir))
    if args.json:
        print(json.dumps({"stopped": pid is not None, "pid": pid}))
    elif pid is None:
        print(f"no devnet recorded in {args.state_dir}")
    else:
        print(f"stopped devnet (pid {pid})")
    return 0


def _devnet_status(args: argparse.Namespace) -> int:
    from tallyio.devnet import deploy
    from tallyio.devnet.node import pid_alive

    manifest = deploy.load_manifest(Path(args.state_dir))
    status = {"running": pid_alive(int(manifest["pid"])), "pid": manifest["pid"],
              "rpc_url": manifest["rpc_url"], "chain_id": manifest["chain_id"]}  # fmt: skip
    if args.json:
        print(json.dumps(status))
    else:
        state = "running" if status["running"] else "stopped"
        print(
            f"devnet {state}: pid {status['pid']}, {status['rpc_url']}, chain {status['chain_id']}"
        )
    return 0 if status["running"] else 3


def _demo(args: argparse.Namespace) -> int:
    from tallyio.demo import run_demo

    return run_demo(json_output=args.json, progress=_progress(args))


def build_parser() -> argparse.ArgumentParser:
    from tallyio.api.cli import add_api_parser
    from tallyio.app.run_cli import add_run_parser
    from tallyio.devnet.relay_cli import add_relay_parser
    from tallyio.execution.keystore_cli import RedactingArgumentParser, add_keystore_parser
    from tallyio.health_cli import add_health_parser
    from tallyio.journal.cli import add_journal_parser
    from tallyio.quote_cli import add_quote_parser
    from tallyio.risk.cli import add_emergency_parser, add_risk_parser

    # Redacting: an argparse error must never echo a private key typed on the command line.
    parser = RedactingArgumentParser(
        prog="tallyio",
        allow_abbrev=False,
        description="TallyIO: liquidations and DEX arbitrage on EVM chains, the honest way "
        "(no sandwiching, no front-running users).",
    )
    parser.add_argument("--version", action="version", version=f"tallyio {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = sub.add_parser("demo", help="start an embedded devnet, show what runs on it, shut down")
    demo.add_argument("--json", action="store_true", help="machine-readable output")
    demo.set_defaults(handler=_demo)

    devnet = sub.add_parser("devnet", help="a local chain with the real protocols deployed")
    dsub = devnet.add_subparsers(dest="devnet_command", metavar="ACTION", required=True)
    up = dsub.add_parser(
        "up", help="start anvil, deploy and seed the protocols, print the manifest"
    )
    up.add_argument("--port", type=int, default=None, help="port (default: a free one)")
    up.add_argument("--chain-id", type=int, default=31337, help="chain id (default 31337)")
    up.add_argument("--only", default=None, help="comma-separated subset of protocols")
    up.add_argument("--no-cache", action="store_true", help="deploy from scratch, ignore the cache")
    down = dsub.add_parser("down", help="stop the devnet (by its recorded PID)")
    status = dsub.add_parser("status", help="is the devnet running?")
    for p, handler in ((up, _devnet_up), (down, _devnet_down), (status, _devnet_status)):
        p.add_argument("--state-dir", default=".devnet", help="where the PID and manifest live")
        p.add_argument("--json", action="store_true", help="machine-readable output")
        p.set_defaults(handler=handler)
    add_relay_parser(dsub)
    add_keystore_parser(sub)
    add_quote_parser(sub)
    add_health_parser(sub)
    add_risk_parser(sub)
    add_emergency_parser(sub)
    add_journal_parser(sub)
    add_api_parser(sub)
    add_run_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one clear line for users; tracebacks are for bugs
        if _is_user_error(exc):
            print(f"tallyio: error: {exc}", file=sys.stderr)
            return 1
        raise


def _is_user_error(exc: BaseException) -> bool:
    from tallyio.api.cli import ApiCliError
    from tallyio.app.session import StateDriftError
    from tallyio.devnet.deployer import DeployError
    from tallyio.devnet.node import DevnetError
    from tallyio.journal.backends import JournalError
    from tallyio.paths import ToolNotFoundError

    user_errors: tuple[type[BaseException], ...] = (
        CliError,
        ApiCliError,
        DevnetError,
        DeployError,
        ToolNotFoundError,
        JournalError,
        StateDriftError,  # a restart loads a fresh snapshot (docs/operations.md)
    )
    try:
        from tallyio.app.config import ConfigError

        user_errors += (ConfigError,)
    except ImportError:
        pass
    return isinstance(exc, user_errors)


def entry() -> Any:  # pragma: no cover - console script shim
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
