"""Bring the devnet up (anvil + every protocol, seeded) and down; write the manifest."""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tallyio.devnet.cache import DeployCache
from tallyio.devnet.context import (
    DeployContext,
    deploy_feeds,
    deploy_multicall,
    deploy_tokens,
    forge_build,
    name_accounts,
)
from tallyio.devnet.deployer import Deployer
from tallyio.devnet.node import DevnetError, pid_alive, start_anvil, stop_pid

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
        started = time.monotonic()
        module = importlib.import_module(f"tallyio.devnet.{name}")
        section: dict[str, Any] | list[Any] = module.deploy(ctx)
        if isinstance(section, dict) and "borrowers" in section:
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
    use_cache: bool = True,
) -> dict[str, Any]:
    """Start anvil, deploy and seed everything, write `<state_dir>/manifest.json`, return it.

    A deployment is cached as an anvil state dump keyed by everything that shapes it, so a
    later `up` loads the state instead of deploying again.
    """
    state_dir = Path(state_dir)
    unknown = [p for p in protocols if p not in PROTOCOLS]
    if unknown:
        raise DevnetError(f"unknown protocol {unknown[0]!r}; known: {', '.join(PROTOCOLS)}")
    _refuse_if_running(state_dir)
    progress("compiling contracts (forge build)")
    forge_build()
    cache = DeployCache.for_inputs(chain_id, protocols) if use_cache else None
    load_state = cache.state_path if cache is not None and cache.hit() else None
    node = start_anvil(state_dir, port=port, chain_id=chain_id, load_state=load_state)
    progress(f"anvil pid {node.pid} on {node.rpc_url}")
    try:
        accounts = name_accounts([a.address for a in node.accounts])
        d = Deployer(node.rpc_url, accounts["deployer"])
        if cache is not None and load_state is not None:
            manifest = cache.manifest(d)
            progress(f"loaded cached deployment {cache.key[:12]}")
        else:
            ctx = DeployContext(d, accounts)
            deploy_all(ctx, protocols, progress)
            manifest = ctx.manifest
            manifest["block_number"] = d.block_number()
            if cache is not None:
                cache.store(d, manifest)
        keys = {a.address: a.private_key for a in node.accounts}
        manifest.update(
            rpc_url=node.rpc_url,
            ws_url=node.ws_url,
            chain_id=node.chain_id,
            pid=node.pid,
            state_dir=str(state_dir.resolve()),
            accounts={n: {"address": a, "private_key": keys[a]} for n, a in accounts.items()},
        )
    except BaseException:
        stop_pid(node.pid)
        (state_dir / "anvil.pid").unlink(missing_ok=True)
        raise
    (state_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _refuse_if_running(state_dir: Path) -> None:
    pid_file = state_dir / "anvil.pid"
    if pid_file.is_file() and pid_alive(int(pid_file.read_text().strip() or 0)):
        raise DevnetError(
            f"a devnet is already running from {state_dir} (pid {pid_file.read_text().strip()}); "
            "run `tallyio devnet down` first"
        )


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
