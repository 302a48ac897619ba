"""The wiring behind `tallyio emergency-exit`: node, sender, token list, risk state."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from eth_utils import is_hex_address, to_checksum_address
from prometheus_client import CollectorRegistry

from tallyio.chain import build_client
from tallyio.chain.middleware import RetryPolicy, RpcMetrics
from tallyio.chain.rpc import RpcClient
from tallyio.core.clock import SystemClock
from tallyio.execution.keystore import Keystore, read_password
from tallyio.risk.cli import DEFAULT_RISK_CONFIG
from tallyio.risk.config import load_risk_config
from tallyio.risk.emergency import (
    DEVNET_CHAIN_ID,
    DevAccountSender,
    EmergencyError,
    ExitReport,
    KeystoreSender,
    Sender,
    emergency_exit,
    executor_owner,
    stop_sending,
)
from tallyio.risk.store import RiskStore


async def run_emergency_exit(args: argparse.Namespace) -> ExitReport:
    client = build_client(args.rpc, retry_policy=RetryPolicy(attempts=3),
                          rpc_metrics=RpcMetrics(CollectorRegistry()))  # fmt: skip
    store = RiskStore(Path(args.state_dir))
    # Stop sending before anything else can fail (a node error, a wrong password).
    stop_sending(store, SystemClock(), args.executor)
    try:
        chain_id = int(await client.request("eth_chainId"), 16)
        tokens = [*args.token, *_sweep_tokens(args.risk_config, chain_id)]
        sender = await _sender(args, client, chain_id)
        return await emergency_exit(client, args.executor, tokens, sender, store, SystemClock())
    finally:
        store.close()
        await client.close()


def _sweep_tokens(path: str | None, chain_id: int) -> tuple[str, ...]:
    """The risk config's sweep_tokens for this chain; the default file only if it exists."""
    if path is None:
        if not Path(DEFAULT_RISK_CONFIG).is_file():
            return ()
        path = DEFAULT_RISK_CONFIG
    chain = load_risk_config(path).chain(chain_id)
    return chain.sweep_tokens if chain is not None else ()


async def _sender(args: argparse.Namespace, client: RpcClient, chain_id: int) -> Sender:
    if args.keystore is not None:
        if args.devnet_account is not None:
            raise EmergencyError("give --keystore or --devnet-account, not both")
        password = read_password(file=args.password_file, env=args.password_env)
        return KeystoreSender(Keystore(args.keystore_dir).unlock(args.keystore, password))
    if chain_id != DEVNET_CHAIN_ID:
        raise EmergencyError(
            f"chain {chain_id} is not the devnet: the owner's --keystore is needed"
        )
    if args.devnet_account is None:
        return DevAccountSender(await executor_owner(client, args.executor))
    return DevAccountSender(_devnet_account(args.devnet_account, Path(args.manifest)))


def _devnet_account(name: str, manifest: Path) -> str:
    if is_hex_address(name):
        return str(to_checksum_address(name))
    try:
        accounts = json.loads(manifest.read_text())["accounts"]
    except (OSError, ValueError, KeyError) as exc:
        raise EmergencyError(f"cannot read devnet accounts from {manifest}: {exc}") from None
    if name not in accounts:
        raise EmergencyError(f"no account {name!r} in {manifest} ({', '.join(sorted(accounts))})")
    return str(to_checksum_address(accounts[name]["address"]))
