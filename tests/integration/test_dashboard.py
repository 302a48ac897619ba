"""The dashboard in headless Chromium, showing a devnet run as it happens.

A real TallyExecutor arbitrage on the devnet (the shape of test_executors.py): the paper
executor journals one trade before the page opens; then, with the page open, the public
executor lands the same arbitrage on the devnet and the page must show it arrive over the
WebSocket, with its exact profit, the PnL per strategy and the node's head block. The API is
uvicorn on a free loopback port; the browser is Debian's chromium driven by Playwright.
A screenshot goes to the test's tmp dir (and to docs/img/ with TALLYIO_SAVE_SCREENSHOT=1).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import uvicorn
from playwright.async_api import Page, async_playwright
from prometheus_client import CollectorRegistry

from tallyio.api.app import create_app
from tallyio.api.auth import ApiKey, KeyRing, Role, hash_key
from tallyio.api.control import StaticControl
from tallyio.chain import ChainClient, build_client
from tallyio.chain.middleware import RetryPolicy, RpcMetrics
from tallyio.core.plan import Plan, UniswapV2Swap
from tallyio.devnet.context import forge_build
from tallyio.devnet.deployer import load_artifact, load_forge_artifact
from tallyio.devnet.scenarios import V2_PAIR, dislocate, v2_amount_out
from tallyio.execution.executors import Approved, PaperExecutor, PublicMempoolExecutor, Status
from tallyio.execution.fees import FeeCaps, FeePolicy, fee_params
from tallyio.execution.nonce import NonceManager
from tallyio.execution.signer import SecretKey, Signer
from tallyio.execution.submit import ExecutionMetrics
from tallyio.journal import JournalStore
from tallyio.sim import ForkSimulator

if TYPE_CHECKING:
    from conftest import Devnet  # tests/conftest.py

pytestmark = pytest.mark.devnet

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip
VIEWER_KEY = "tio_dashboard-test-viewer"
GWEI, USDC = 10**9, 10**6
CAPS = FeeCaps(max_fee_per_gas=1_000 * GWEI, max_priority_fee_per_gas=200 * GWEI)
DOC_IMAGE = Path(__file__).parents[2] / "docs" / "img" / "dashboard.png"


def _reserves(chain: Devnet, pair: str, usdc: str) -> tuple[int, int]:
    contract = chain.d.at(load_artifact(V2_PAIR), pair)
    r0, r1, _ = contract.functions.getReserves().call()
    return (r0, r1) if contract.functions.token0().call() == usdc else (r1, r0)


def _arbitrage(chain: Devnet) -> tuple[str, Plan, int, int]:
    """(executor, plan, expected profit in USDC units, ETH price in USDC units): buy WETH on
    SushiSwap, sell it on a Uniswap pair 3% dearer, from the contract's own USDC."""
    forge_build()
    ctx, manifest, searcher = chain.context(), chain.manifest, chain.account("searcher")
    weth, usdc = manifest["tokens"]["WETH"], manifest["tokens"]["USDC"]
    contract = chain.d.deploy(load_forge_artifact("TallyExecutor"), searcher, weth,
                              sender=searcher)  # fmt: skip
    uni, sushi = (manifest["uniswap_v2"][i]["pairs"][0]["address"] for i in (0, 1))
    dislocate(ctx, uni, 3.0)
    cheap, dear = _reserves(chain, sushi, usdc), _reserves(chain, uni, usdc)
    amount, profit = max(
        (
            (a, v2_amount_out(v2_amount_out(a, *cheap), dear[1], dear[0]) - a)
            for a in range(500 * USDC, 100_000 * USDC, 500 * USDC)
        ),
        key=lambda t: t[1],
    )  # the best round trip on a 500 USDC grid (UniswapV2Library math)
    assert profit > 10 * USDC
    ctx.fund("USDC", contract.address, amount)
    plan = Plan((UniswapV2Swap(sushi, usdc, weth, amount), UniswapV2Swap(uni, weth, usdc)),
                profit_token=usdc, min_profit=1)  # fmt: skip
    eth_usd_8 = int(ctx.feeds["WETH"].functions.latestAnswer().call())
    return contract.address, plan, profit, eth_usd_8 * USDC // 10**8


@contextlib.asynccontextmanager
async def serving(app: object) -> AsyncIterator[str]:
    """uvicorn on 127.0.0.1 and a free port, in this event loop; stopped on exit."""
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=0, log_level="warning", access_log=False, lifespan="on"
        )
    )  # type: ignore[arg-type]
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not task.done(), "uvicorn did not start"
            await asyncio.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@pytest.fixture
async def node(chain: Devnet) -> AsyncIterator[ChainClient]:
    client = build_client(chain.rpc_url, retry_policy=RetryPolicy(attempts=1),
                          rpc_metrics=RpcMetrics(CollectorRegistry()))  # fmt: skip
    try:
        yield client
    finally:
        await client.close()


async def _shown(page: Page, selector: str, text: str) -> None:
    await page.wait_for_function(
        "([s, t]) => document.querySelector(s)?.innerText.includes(t)", arg=[selector, text],
        timeout=20_000,
    )  # fmt: skip


async def test_the_dashboard_shows_a_devnet_run_live(
    chain: Devnet, node: ChainClient, tmp_path: Path
) -> None:
    executor, plan, profit, eth_price = _arbitrage(chain)
    searcher = chain.account("searcher")
    signer = Signer(SecretKey.from_hex(chain.manifest["accounts"]["searcher"]["private_key"]))
    common = {"fee_params": fee_params("devnet"), "caps": CAPS, "poll_interval": 0.02,
              "metrics": ExecutionMetrics(CollectorRegistry())}  # fmt: skip

    def approved(plan_id: str) -> Approved:
        return Approved(plan, executor, profit, 150_000, chain.d.block_number() + 1,
                        eth_price=eth_price, strategy="arbitrage", plan_id=plan_id,
                        fee_policy=FeePolicy(priority_fee=GWEI))  # fmt: skip

    journal = JournalStore(tmp_path / "journal.db")
    paper_run = approved("paper-run")
    # What the engine journals before an executor runs (the engine lands separately).
    journal.record_opportunity(paper_run.plan_id, block=chain.d.block_number(),
                               strategy="arbitrage", expected_profit=profit)  # fmt: skip
    paper = PaperExecutor(
        node, ForkSimulator(chain.rpc_url), owner=searcher, journal=journal, **common
    )  # type: ignore[arg-type]
    assert (await paper.execute(paper_run)).status is Status.SIMULATED

    keys = KeyRing((ApiKey("dashboard-test", Role.VIEWER, hash_key(VIEWER_KEY)),))
    control = StaticControl(journal, chain="devnet", rpc_url=chain.rpc_url, poll_interval=0.2)
    app = create_app(journal, keys, control)
    shot = tmp_path / "dashboard.png"
    async with serving(app) as url, async_playwright() as pw:
        browser = await pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, args=CHROMIUM_ARGS,
            headless=True, viewport={"width": 1280, "height": 900},
        )  # fmt: skip
        try:
            page = await browser.new_page()
            await page.goto(f"{url}/dashboard/#key={VIEWER_KEY}")
            await page.wait_for_selector("body[data-ready='1']", timeout=20_000)
            await _shown(page, "#feed", "live")
            assert VIEWER_KEY not in page.url  # the fragment was taken out of the address bar
            await _shown(page, "#trades", "simulated")  # the paper trade, from the journal

            # Live: with the page open, the public executor lands the arbitrage on the devnet.
            nonces = NonceManager(node, chain_id=chain.manifest["chain_id"],
                                  address=signer.address, sign=signer.sign_transaction,
                                  send_raw=lambda raw: node.request(
                                      "eth_sendRawTransaction", ["0x" + raw.hex()]))  # fmt: skip
            public = PublicMempoolExecutor(
                node, ForkSimulator(chain.rpc_url), nonces, journal=journal, **common
            )  # type: ignore[arg-type]
            live_run = approved("live-run")
            journal.record_opportunity(live_run.plan_id, block=chain.d.block_number(),
                                       strategy="arbitrage", expected_profit=profit)  # fmt: skip
            landed = await public.execute(live_run)
            assert landed.status is Status.INCLUDED and landed.realised_profit == profit
            assert landed.tx_hash is not None

            await _shown(page, "#trades", landed.tx_hash[:18])  # arrived over the WebSocket
            await _shown(page, "#trades", "included")
            await _shown(page, "#trades", f"{profit:,}")  # exact, in USDC base units
            await _shown(page, "#chains", str(landed.block))  # the node's head, live
            await _shown(page, "#pnl-table", "arbitrage")
            await _shown(page, "#pnl-table", f"{2 * profit:,}")  # paper + mined, exact
            await _shown(page, "#risk", "no breaker tripped")
            await page.screenshot(path=str(shot), full_page=True)
        finally:
            await browser.close()
    journal.close()
    assert shot.stat().st_size > 10_000
    if os.environ.get("TALLYIO_SAVE_SCREENSHOT") == "1":
        DOC_IMAGE.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOC_IMAGE)
