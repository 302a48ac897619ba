"""`tallyio run` over a chain config: discover the market on chain, then the same engine.

    config (chains = [...], [rpc.<chain>])  ->  ChainMarket (read at one block)  ->  build_engine

Paper needs no key: it simulates the executor's calls as its owner. Live needs an unlocked
keystore (`--keystore`; the password from $TALLYIO_KEYSTORE_PASSWORD or a prompt, never
logged) whose address owns the TallyExecutor given by `--executor`; anything else is refused
before the engine starts. The node must answer the chain id the config names.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the parser is built on every CLI start: heavy imports wait for a run
    from tallyio.app.config import AppConfig, ChainConfig
    from tallyio.app.runner import EngineOptions, Running
    from tallyio.chain import ChainClient
    from tallyio.execution.signer import Signer

PASSWORD_ENV = "TALLYIO_KEYSTORE_PASSWORD"  # noqa: S105 (the variable's name, not a password)
OWNER = "0x8da5cb5b"  # owner()
DEVNET_CHAIN_ID = 31337


class ChainRunError(RuntimeError):
    """The chain, the executor or the key is not what a run needs."""


def add_chain_arguments(p: argparse.ArgumentParser) -> None:
    """The options `run` takes for a chain config (ignored for a [devnet] config)."""
    p.add_argument("--chain", default=None, help="which of the config's chains (default: the one)")
    p.add_argument("--executor", default=None, metavar="ADDR",
                   help="the deployed TallyExecutor (owned by the keystore's address)")  # fmt: skip
    p.add_argument("--keystore", default=None, metavar="PATH",
                   help=f"key file for --live (password: ${PASSWORD_ENV} or a prompt)")  # fmt: skip
    p.add_argument("--scan-from", type=int, default=0, metavar="BLOCK",
                   help="find borrowers in logs from this block (default 0)")  # fmt: skip


def pick_chain(config: AppConfig, name: str | None) -> ChainConfig:
    if name is not None:
        try:
            return config.chain(name)
        except KeyError as exc:
            raise ChainRunError(str(exc.args[0])) from None
    if len(config.chains) != 1:
        names = ", ".join(c.name for c in config.chains)
        raise ChainRunError(f"the config names chains {names}: pick one with --chain")
    return config.chains[0]


def fee_chain(chain: ChainConfig) -> str:
    """The fee model's entry for a chain: by name, else the devnet's or its fee model's."""
    from tallyio.execution.fees import FEE_PARAMS

    if chain.name in FEE_PARAMS:
        return chain.name
    if chain.chain_id == DEVNET_CHAIN_ID:
        return "devnet"
    return "bsc" if chain.fee_model == "legacy" else "ethereum"


def unlock(keystore: str) -> Signer:
    from tallyio.execution.keystore import Keystore, KeystoreError, read_password

    try:
        password = read_password(env=PASSWORD_ENV if PASSWORD_ENV in os.environ else None)
        return Keystore(Path(keystore).expanduser().parent).unlock(keystore, password)
    except KeystoreError as exc:
        raise ChainRunError(str(exc)) from None


def check_mode(chain: ChainConfig, live: bool, keystore: str | None, executor: str | None) -> None:
    """Refuse what cannot run, before any node is asked."""
    if live and keystore is None:
        raise ChainRunError(
            f"live mode on chain {chain.name!r} (id {chain.chain_id}) needs an unlocked "
            "keystore: --keystore PATH (only a [devnet] config sends from the devnet's account)"
        )
    if executor is None:
        raise ChainRunError(
            "--executor ADDR is needed: the TallyExecutor whose calls are simulated (paper) "
            "or sent (live); deploy one owned by your key first"
        )


def relay_options(args: argparse.Namespace) -> tuple[tuple[str, ...], Signer | None]:
    """--relay URLs ("devnet" only with a [devnet] config) and the relay reputation key
    (--relay-key-keystore; None: a fresh key per run)."""
    relays = tuple(getattr(args, "relay", None) or ())
    if "devnet" in relays:
        raise ChainRunError("--relay devnet needs a [devnet] config: give the relay's URL")
    keystore = getattr(args, "relay_key_keystore", None)
    return relays, unlock(keystore) if keystore and relays else None


async def owner_of(client: ChainClient, executor: str) -> str:
    code = await client.request("eth_getCode", [executor, "latest"])
    if code in ("0x", "0x0", None):
        raise ChainRunError(f"no contract at executor {executor}")
    raw = str(await client.request("eth_call", [{"to": executor, "data": OWNER}, "latest"]))
    return "0x" + raw[-40:]


async def build_chain_engine(
    chain: ChainConfig, options: EngineOptions, *, executor: str, signer: Signer | None,
    scan_from: int = 0, relay_signer: Signer | None = None,
) -> Running:  # fmt: skip
    """The engine over `chain`'s market, through `executor` (owned by `signer` when live)."""
    from tallyio.app.chain_market import discover_market
    from tallyio.app.runner import build_engine
    from tallyio.chain import build_client

    client = build_client(list(chain.rpc_urls))
    try:
        chain_id = int(await client.request("eth_chainId"), 16)
        if chain_id != chain.chain_id:
            raise ChainRunError(f"the node answers chain id {chain_id}, not {chain.chain_id}")
        owner = await owner_of(client, executor)
        if signer is not None and owner.lower() != signer.address.lower():
            raise ChainRunError(f"executor {executor} is owned by {owner}, not {signer.address}")
        head = int(await client.request("eth_blockNumber"), 16)
        market = await discover_market(client, chain, head, scan_from=scan_from)
        return await build_engine(market, client, options, executor, signer, owner=owner,
                                  relay_signer=relay_signer)  # fmt: skip
    except BaseException:
        await client.close()
        raise


def handle_chain(args: argparse.Namespace, config: AppConfig) -> int:
    """`tallyio run` for a config that names chains."""
    from tallyio.app.chain_market import DiscoveryError
    from tallyio.app.report import LiveReport
    from tallyio.app.run_cli import _beside, _metrics
    from tallyio.app.runner import EngineOptions
    from tallyio.app.session import run_session
    from tallyio.chain.errors import ChainError
    from tallyio.cli import CliError

    live = bool(args.live) or (config.mode == "live" and not args.paper)
    try:
        chain = pick_chain(config, args.chain)
        check_mode(chain, live, args.keystore, args.executor)
        signer = unlock(args.keystore) if live else None
        relays, relay_signer = relay_options(args)
    except ChainRunError as exc:
        raise CliError(str(exc)) from None
    state_dir = Path(args.state_dir or ".tallyio") / chain.name
    state_dir.mkdir(parents=True, exist_ok=True)
    journal = Path(args.journal) if args.journal else state_dir / "journal.db"
    options = EngineOptions(live=live, journal_path=journal, strategies=args.strategy,
                            priority_fee=int(args.priority_fee_gwei * 10**9),
                            risk_config=Path(args.risk_config or "config/risk/default.toml"),
                            state_dir=state_dir, metrics=_metrics(args.metrics_port),
                            fee_chain=fee_chain(chain), relay_urls=relays,
                            block_time=chain.block_time)  # fmt: skip
    beside, report = _beside(args, live), LiveReport(quiet=args.json)
    if not args.json:
        print(f"tallyio run: {'LIVE' if live else 'paper'} on {chain.name} "
              f"({len(chain.rpc_urls)} node(s)); journal {journal}; Ctrl-C stops",
              file=sys.stderr)  # fmt: skip

    async def build(opts: EngineOptions) -> Running:
        return await build_chain_engine(chain, opts, executor=args.executor, signer=signer,
                                        scan_from=args.scan_from,
                                        relay_signer=relay_signer)  # fmt: skip

    try:
        running = asyncio.run(run_session({}, options, report, blocks=args.blocks,
                                          beside=beside, build=build))  # fmt: skip
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
        return 130
    except (ChainRunError, DiscoveryError, ChainError) as exc:
        raise CliError(f"{chain.name}: {exc}") from None
    print(json.dumps(_summary(running, live, report), indent=2) if args.json
          else "\n" + report.summary_table())  # fmt: skip
    return 0


def _summary(running: Running, live: bool, report: Any) -> dict[str, Any]:
    market: Any = running.market
    return {"mode": "live" if live else "paper", "chain_id": market.chain_id,
            "executor": running.executor_address, "notes": list(getattr(market, "notes", ())),
            "market": {"aave_reserves": len(market.aave.reserves),
                       "venus_markets": len(market.venus.markets),
                       "price_targets": len(market.targets)},
            **report.as_dict()}  # fmt: skip
