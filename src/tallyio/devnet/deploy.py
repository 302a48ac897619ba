"""Bring the devnet up (anvil + every protocol, seeded) and down; write the manifest."""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tallyio.devnet.context import (
    DeployContext,
    deploy_feeds,
    deploy_multicall,
    deploy_tokens,
    forge_build,
    name_accounts,
)
from tallyio.devnet.deployer import Deployer
from tallyio.devnet.node import DevnetError, start_anvil, stop_pid

DEFAULT_STATE_DIR = Path(".devnet")

# Deployed in this order; each module exposes `deploy(ctx) -> manifest section`.
PROTOCOLS: tuple[str, ...] = ("uniswap_v2", "uniswap_v3", "balancer_v2", "aave_v3", "venus")

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


def deploy_all(ctx: DeployContext, protocols: Sequence[str], progress: Progress = _quiet) -> None:
    ctx.manifest["tokens"] = deploy_tokens(ctx)
    ctx.manifest["price_feeds"] = deploy_feeds(ctx)
    ctx.manifest["multicall"] = deploy_multicall(ctx)
    borrowers: dict[str, list[str]] = {}
    for name in protocols:
        if name not in PROTOCOLS:
            raise DevnetError(f"unknown protocol {name!r}; known: {', '.join(PROTOCOLS)}")
        started = time.monotonic()
        module = importlib.import_module(f"tallyio.devnet.{name}")
        section: dict[str, Any] = module.deploy(ctx)
        if "borrowers" in section:
            borrowers[name] = section.pop("borrowers")
        ctx.manifest[name] = section
        progress(f"deployed {name} in {time.monotonic() - started:.1f}s")
    ctx.manifest["borrowers"] = borrowers


def up(
    state_dir: Path = DEFAULT_STATE_DIR,
    *,
    port: int | None = None,
    chain_id: int = 31337,
    protocols: Sequence[str] = PROTOCOLS,
    progress: Progress = _quiet,
) -> dict[str, Any]:
    """Start anvil, deploy and seed everything, write `<state_dir>/manifest.json`, return it."""
    state_dir = Path(state_dir)
    manifest_path = state_dir / "manifest.json"
    if manifest_path.is_file():
        old = json.loads(manifest_path.read_text())
        from tallyio.devnet.node import pid_alive

        if pid_alive(int(old.get("pid", 0)) or -1):
            raise DevnetError(
                f"a devnet is already running from {state_dir} (pid {old['pid']}); "
                "run `tallyio devnet down` first"
            )
    progress("compiling contracts (forge build)")
    forge_build()
    node = start_anvil(state_dir, port=port, chain_id=chain_id)
    progress(f"anvil pid {node.pid} on {node.rpc_url}")
    try:
        accounts = name_accounts([a.address for a in node.accounts])
        keys = {a.address: a.private_key for a in node.accounts}
        ctx = DeployContext(Deployer(node.rpc_url, accounts["deployer"]), accounts)
        ctx.manifest.update(
            rpc_url=node.rpc_url,
            ws_url=node.ws_url,
            chain_id=node.chain_id,
            pid=node.pid,
            state_dir=str(state_dir.resolve()),
            accounts={n: {"address": a, "private_key": keys[a]} for n, a in accounts.items()},
        )
        deploy_all(ctx, protocols, progress)
        ctx.manifest["block_number"] = ctx.d.block_number()
    except BaseException:
        stop_pid(node.pid)
        raise
    manifest_path.write_text(json.dumps(ctx.manifest, indent=2) + "\n")
    return ctx.manifest


def down(state_dir: Path = DEFAULT_STATE_DIR) -> int | None:
    """Stop the devnet recorded in `state_dir`; returns the PID stopped, or None if none ran."""
    pid_file = Path(state_dir) / "anvil.pid"
    if not pid_file.is_file():
        return None
    pid = int(pid_file.read_text().strip())
    stop_pid(pid)
    pid_file.unlink()
    return pid


def load_manifest(state_dir: Path = DEFAULT_STATE_DIR) -> dict[str, Any]:
    path = Path(state_dir) / "manifest.json"
    if not path.is_file():
        raise DevnetError(f"no devnet manifest at {path}; run `tallyio devnet up`")
    data: dict[str, Any] = json.loads(path.read_text())
    return data
