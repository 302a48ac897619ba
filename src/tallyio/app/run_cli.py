"""`tallyio run`: the engine over the chain a config names.

Paper (simulate and journal, sign nothing) is the default; `--live` sends. On the devnet live
mode uses the devnet's funded searcher account; any other chain needs an unlocked keystore.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from tallyio.app.chain_run import add_chain_arguments, handle_chain

HELP = "run the engine (liquidations first, then arbitrage) over the chain a config names"


def add_run_parser(subparsers: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = subparsers.add_parser("run", help=HELP, description=HELP)
    p.add_argument("--config", default="config/devnet.toml", help="app config TOML")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--paper", action="store_true", help="simulate and journal only (default)")
    mode.add_argument("--live", action="store_true", help="sign and send transactions")
    p.add_argument("--blocks", type=int, default=None, help="stop after this many new blocks")
    p.add_argument("--journal", default=None, help="journal file (default: <state dir>/journal.db)")
    p.add_argument("--priority-fee-gwei", type=float, default=1.0, help="tip per gas (gwei)")
    p.add_argument("--strategy", action="append", default=None,
                   help="run only this strategy (repeatable; default all)")  # fmt: skip
    p.add_argument("--risk-config", default=None,
                   help="risk limits TOML (default config/risk/devnet.toml on a devnet, "
                        "else config/risk/default.toml)")  # fmt: skip
    p.add_argument(
        "--state-dir",
        default=None,
        help="where the breaker's state lives (default: beside the manifest)",
    )
    p.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve Prometheus metrics on 127.0.0.1:PORT (0: a free port)",
    )
    p.add_argument(
        "--api-port",
        type=int,
        default=None,
        help="serve the API and dashboard on 127.0.0.1:PORT (0: a free port)",
    )
    p.add_argument(
        "--api-keys",
        default=None,
        help="API key file (TOML; default $TALLYIO_API_KEYS); with --api-port",
    )
    p.add_argument("--alerts", default=None, metavar="FILE",
                   help="send alerts as the [alerts] table of this TOML file says "
                        "(example: deploy/tallyio.example.toml)")  # fmt: skip
    p.add_argument("--relay", action="append", default=None, metavar="URL",
                   help="bundle relay (repeatable): backrun pending swaps, in bundles only; "
                        "'devnet' starts a local relay for the run")  # fmt: skip
    p.add_argument("--relay-key-keystore", default=None, metavar="PATH",
                   help="key that signs relay requests (reputation only, no funds; default: "
                        "the devnet's relay_signer, else a fresh key per run)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print the final summary as JSON")
    add_chain_arguments(p)
    p.set_defaults(handler=handle)
    return p


def handle(args: argparse.Namespace) -> int:
    from tallyio.app.config import load_app_config, load_manifest
    from tallyio.app.report import LiveReport
    from tallyio.app.runner import EngineOptions
    from tallyio.app.session import run_session

    config = load_app_config(args.config)
    if config.devnet is None:  # a config naming real chains: discover their market
        return handle_chain(args, config)
    manifest = load_manifest(config.devnet)
    live = bool(args.live) or (config.mode == "live" and not args.paper)
    beside = _beside(args, live)  # bad keys or alerts config: fail before anything starts
    journal = Path(args.journal) if args.journal else config.devnet.manifest.parent / "journal.db"
    report = LiveReport(quiet=args.json)
    state_dir = Path(args.state_dir) if args.state_dir else config.devnet.manifest.parent
    options = EngineOptions(live=live, journal_path=journal, strategies=args.strategy,
                            priority_fee=int(args.priority_fee_gwei * 10**9),
                            risk_config=Path(args.risk_config or "config/risk/devnet.toml"),
                            state_dir=state_dir, metrics=_metrics(args.metrics_port),
                            relay_urls=tuple(args.relay or ()),
                            block_time=config.devnet.block_time)  # fmt: skip
    if not args.json:
        print(f"tallyio run: {'LIVE' if live else 'paper'} on devnet {manifest['rpc_url']}; "
              f"journal {journal}; Ctrl-C stops", file=sys.stderr)  # fmt: skip
    try:
        running = asyncio.run(
            run_session(manifest, options, report, blocks=args.blocks, beside=beside,
                        build=_relay_key_build(args, manifest))
        )  # fmt: skip
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
        return 130
    out = {"mode": "live" if live else "paper", "executor": running.executor_address,
           **report.as_dict()}  # fmt: skip
    print(json.dumps(out, indent=2) if args.json else "\n" + report.summary_table())
    return 0


def _relay_key_build(args: argparse.Namespace, manifest: dict[str, Any]) -> Any:
    """With --relay-key-keystore on a devnet: build with that key for the relays (else None:
    the devnet's own relay_signer account)."""
    if not (args.relay and args.relay_key_keystore):
        return None
    from tallyio.app.chain_run import ChainRunError, unlock
    from tallyio.app.runner import EngineOptions, Running, build_devnet_engine
    from tallyio.cli import CliError

    try:
        key = unlock(args.relay_key_keystore)
    except ChainRunError as exc:
        raise CliError(str(exc)) from None

    async def build(options: EngineOptions) -> Running:
        return await build_devnet_engine(manifest, options, relay_signer=key)

    return build


def _metrics(port: int | None) -> Any:
    """EngineMetrics, served on loopback when a port is given (0: a free one)."""
    if port is None:
        return None
    from tallyio.metrics import default_engine_metrics, start_metrics_server

    metrics = default_engine_metrics()
    server = start_metrics_server(port)
    print(f"metrics at {server.url}", file=sys.stderr)
    return metrics


def _beside(args: argparse.Namespace, live: bool) -> Any:
    """The API server and alerts to run beside the engine, if asked for."""
    from tallyio.api.auth import AuthConfigError, load_keys
    from tallyio.app.alerting import load_alert_router
    from tallyio.app.beside import beside_engine
    from tallyio.cli import CliError

    keys = None
    if args.api_port is not None:
        try:
            keys = load_keys(args.api_keys)
        except AuthConfigError as exc:
            raise CliError(str(exc)) from None
    alerts = load_alert_router(args.alerts) if args.alerts else None
    return beside_engine(keys=keys, api_port=args.api_port, live=live, alerts=alerts,
                         serving=_announce)  # fmt: skip


def _announce(server: Any) -> None:
    print(f"API at {server.url} (dashboard: {server.url}/dashboard/)", file=sys.stderr)
