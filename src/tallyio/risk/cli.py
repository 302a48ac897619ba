"""`tallyio risk status|reset` and `tallyio emergency-exit`: the operator's risk commands.

Both read and write the risk state file (`<state dir>/risk.sqlite`) the running engine checks
before every opportunity, so a reset or an exit here takes effect there at once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tallyio.core.clock import SystemClock
from tallyio.risk.store import GLOBAL, RiskStore, Trip

DEFAULT_STATE_DIR = ".tallyio"
DEFAULT_RISK_CONFIG = "config/risk/default.toml"


class RiskCliError(RuntimeError):
    """A user-facing failure: one line, exit code 1."""


def _state_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--state-dir", default=DEFAULT_STATE_DIR,
                   help=f"where risk.sqlite lives (default {DEFAULT_STATE_DIR})")  # fmt: skip
    p.add_argument("--json", action="store_true", help="machine-readable output")


def add_risk_parser(subparsers: Any) -> argparse.ArgumentParser:
    risk = subparsers.add_parser("risk", help="circuit breaker state; operator reset")
    actions = risk.add_subparsers(dest="risk_command", metavar="ACTION", required=True)
    status = actions.add_parser("status", help="which breakers are tripped, and why")
    reset = actions.add_parser("reset", help="close a tripped breaker (operator command)")
    which = reset.add_mutually_exclusive_group(required=True)
    which.add_argument("--strategy", default=None, help="reset this strategy's breaker")
    which.add_argument("--all", action="store_true", help="reset every breaker, global included")
    for p, handler in ((status, _status), (reset, _reset)):
        _state_dir(p)
        p.set_defaults(handler=handler)
    return risk


def _trip_json(trip: Trip) -> dict[str, Any]:
    return {**asdict(trip), "global": trip.scope == GLOBAL}


def _describe(trip: Trip) -> str:
    scope = "everything" if trip.scope == GLOBAL else f"strategy {trip.scope}"
    return f"{scope}: tripped ({trip.reason}) at {trip.tripped_at:.0f}: {trip.detail}"


def _status(args: argparse.Namespace) -> int:
    trips = RiskStore(Path(args.state_dir)).trips()
    if args.json:
        print(json.dumps({"tripped": bool(trips), "trips": [_trip_json(t) for t in trips]}))
    elif not trips:
        print("no breaker tripped: sending allowed")
    else:
        print("\n".join(_describe(t) for t in trips))
    return 0


def _reset(args: argparse.Namespace) -> int:
    scopes = None if args.all else (args.strategy,)
    cleared = RiskStore(Path(args.state_dir)).reset(scopes, SystemClock().now())
    if args.json:
        print(json.dumps({"reset": [_trip_json(t) for t in cleared]}))
    elif not cleared:
        print("nothing was tripped")
    else:
        print("\n".join("reset " + _describe(t) for t in cleared))
    return 0


# -- emergency exit ------------------------------------------------------------------------------


def add_emergency_parser(subparsers: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "emergency-exit",
        help="stop sending (trip the global breaker) and withdraw every token to the owner",
    )
    p.add_argument("--rpc", required=True, help="JSON-RPC URL")
    p.add_argument("--executor", required=True, help="TallyExecutor address")
    p.add_argument(
        "--token",
        action="append",
        default=[],
        metavar="ADDR",
        help="a token to withdraw (repeat); the risk config's sweep_tokens are added",
    )
    p.add_argument(
        "--risk-config",
        default=None,
        help=f"risk config for sweep_tokens (default {DEFAULT_RISK_CONFIG} if present)",
    )
    p.add_argument(
        "--keystore",
        default=None,
        metavar="PATH|ADDR",
        help="the owner's key file (or its address in --keystore-dir)",
    )
    p.add_argument("--keystore-dir", default=None, help="key file directory")
    source = p.add_mutually_exclusive_group()
    source.add_argument(
        "--password-env",
        default=None,
        metavar="NAME",
        help="environment variable holding the key's password",
    )
    source.add_argument("--password-file", default=None, help="first line is the password")
    p.add_argument(
        "--devnet-account",
        default=None,
        metavar="NAME|ADDR",
        help="devnet only: send from this unlocked account (default: the owner)",
    )
    p.add_argument(
        "--manifest",
        default=".devnet/manifest.json",
        help="devnet manifest, to resolve --devnet-account names",
    )
    _state_dir(p)
    p.set_defaults(handler=_emergency)  # fmt: skip
    return p


def _emergency(args: argparse.Namespace) -> int:
    from tallyio.app.config_schema import ConfigError
    from tallyio.chain import ChainError
    from tallyio.execution.keystore import KeystoreError
    from tallyio.execution.keystore_cli import redact_keys
    from tallyio.risk.emergency import EmergencyError
    from tallyio.risk.emergency_cli import run_emergency_exit

    try:
        report = asyncio.run(run_emergency_exit(args))
    except (EmergencyError, KeystoreError, ChainError, ConfigError) as exc:
        print(f"tallyio: error: {redact_keys(str(exc))}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(asdict(report)))
    else:
        print(f"global breaker tripped: {report.trip.detail}")
        for w in report.withdrawals:
            name = "ETH" if int(w.token, 16) == 0 else w.token
            print(f"withdrew {w.amount} of {name} to {report.owner} ({w.tx_hash}), left {w.left}")
        if not report.withdrawals:
            print(f"the executor held none of the {len(report.checked)} tokens checked")
    if not report.emptied:
        print("tallyio: some balances were not emptied", file=sys.stderr)
        return 2
    return 0
