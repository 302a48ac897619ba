"""The dashboard in headless Chromium over the real engine running live on the devnet.

`run_session` (the code of `tallyio run` and `make demo`) builds the engine; `beside_engine`
(what `tallyio run --api-port ... --alerts ...` adds) serves the API on a free loopback port
over it, with an alert router posting to a local webhook receiver. The page opens before
anything has happened; then collateral prices fall until the engine liquidates, and the page
must show those liquidations arrive over the WebSocket (tx hash, included, exact profit), the
engine's strategies, breaker state and the node's head. The same run checks the control's
writes (disable/enable a strategy, reset the breaker), the executor's balances read from the
chain, and the large-win alert. The browser is Debian's chromium driven by Playwright. A
screenshot goes to the test's tmp dir (and to docs/img/ with TALLYIO_SAVE_SCREENSHOT=1).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from aiohttp import web
from playwright.async_api import Page, async_playwright

from tallyio.alerts import AlertRouter
from tallyio.api.auth import ApiKey, KeyRing, Role, hash_key
from tallyio.app.api_server import ApiServer
from tallyio.app.beside import beside_engine
from tallyio.app.control import strategy_kind
from tallyio.app.report import LiveReport
from tallyio.app.runner import EngineOptions, Running
from tallyio.app.session import run_session, settle
from tallyio.devnet.scenarios import price_shock
from tallyio.execution.pipeline import Status
from tallyio.paths import repo_root

if TYPE_CHECKING:
    from conftest import Devnet  # tests/conftest.py

pytestmark = pytest.mark.devnet

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip
KEYS = {Role.VIEWER: "tio_dashboard-viewer", Role.OPERATOR: "tio_dashboard-operator",
        Role.ADMIN: "tio_dashboard-admin"}  # fmt: skip
SHOCKS = (("WETH", -4.0), ("WBTC", -4.0), ("WETH", -4.0), ("WBTC", -4.0), ("WETH", -6.0))
DOC_IMAGE = Path(__file__).parents[2] / "docs" / "img" / "dashboard.png"


@contextlib.asynccontextmanager
async def webhook_receiver() -> AsyncIterator[tuple[str, list[Any]]]:
    """A local HTTP endpoint on 127.0.0.1 that records every JSON body posted to it."""
    received: list[Any] = []

    async def record(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/hook", record)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        yield f"http://127.0.0.1:{port}/hook", received
    finally:
        await runner.cleanup()


async def _shown(page: Page, selector: str, text: str, wait_ms: int = 20_000) -> None:
    await page.wait_for_function(
        "([s, t]) => document.querySelector(s)?.innerText.includes(t)", arg=[selector, text],
        timeout=wait_ms,
    )  # fmt: skip


def _landed(running: Running) -> list[tuple[Any, Any]]:
    return [(o, r) for o, r in running.engine.stats.results
            if getattr(r, "status", None) is Status.INCLUDED]  # fmt: skip


async def _writes(api: httpx.AsyncClient, running: Running) -> None:
    """Operator and admin writes reach the engine; a viewer's are refused."""
    op, admin = ({"Authorization": f"Bearer {KEYS[r]}"} for r in (Role.OPERATOR, Role.ADMIN))
    viewer = {"Authorization": f"Bearer {KEYS[Role.VIEWER]}"}
    name = running.engine.strategies[0].name
    assert (await api.post(f"/strategies/{name}/disable", headers=viewer)).status_code == 403
    assert (await api.post(f"/strategies/{name}/disable", headers=op)).status_code == 200
    assert running.engine.enabled[name] is False
    listed = (await api.get("/strategies", headers=viewer)).json()
    assert {"name": name, "kind": strategy_kind(name), "enabled": False} in listed
    assert (await api.post(f"/strategies/{name}/enable", headers=op)).status_code == 200
    assert running.engine.enabled[name] is True
    assert (await api.post("/strategies/nope/enable", headers=op)).status_code == 404
    reset = await api.post("/risk/breaker/reset", headers=admin, json={"scope": "all"})
    assert reset.status_code == 200, reset.text


async def _balances(api: httpx.AsyncClient, token: str, at_least: int) -> dict[str, Any]:
    """The executor's balance of `token`, read from the chain, once it shows the profit."""
    viewer = {"Authorization": f"Bearer {KEYS[Role.VIEWER]}"}
    for _ in range(100):
        rows = (await api.get("/balances", headers=viewer)).json()
        row = next(r for r in rows if r["token"].lower() == token.lower())
        if int(row["amount"]) >= at_least:
            return dict(row)
        await asyncio.sleep(0.1)
    raise AssertionError(f"balance of {token} never reached {at_least}: {row}")


def test_the_dashboard_shows_the_engine_live(chain: Devnet, tmp_path: Path) -> None:
    ctx = chain.context()
    keys = KeyRing(tuple(ApiKey(r.label, r, hash_key(k)) for r, k in KEYS.items()))
    options = EngineOptions(live=True, journal_path=tmp_path / "journal.db", state_dir=tmp_path,
                            risk_config=repo_root() / "config" / "risk" / "devnet.toml",
                            poll_interval=0.02)  # fmt: skip
    servers: list[ApiServer] = []
    shot = tmp_path / "dashboard.png"
    seen: dict[str, Any] = {}

    async def scenario(running: Running) -> None:
        url = servers[0].url
        async with async_playwright() as pw, httpx.AsyncClient(base_url=url) as api:
            browser = await pw.chromium.launch_persistent_context(
                str(tmp_path / "chromium-profile"), executable_path=CHROMIUM,
                args=CHROMIUM_ARGS, headless=True, viewport={"width": 1280, "height": 1000},
            )  # fmt: skip
            try:
                page = await browser.new_page()
                await page.goto(f"{url}/dashboard/#key={KEYS[Role.VIEWER]}")
                await page.wait_for_selector("body[data-ready='1']", timeout=20_000)
                await _shown(page, "#feed", "live")
                assert KEYS[Role.VIEWER] not in page.url  # the fragment left the address bar
                await _shown(page, "#mode", "live · running")
                for s in running.engine.strategies:
                    await _shown(page, "#strategies", s.name)
                await _shown(page, "#risk", "no breaker tripped")
                await _shown(page, "#risk", "global: armed")
                await _writes(api, running)

                # The market moves; the engine liquidates while the page watches.
                for symbol, pct in SHOCKS:
                    await settle(running)
                    await asyncio.to_thread(price_shock, ctx, symbol, pct)
                    await settle(running)
                    if _landed(running):
                        break
                landed = _landed(running)
                assert landed, running.engine.stats
                opp, result = landed[0]
                await _shown(page, "#trades", result.tx_hash[:18])  # over the WebSocket
                await _shown(page, "#trades", "included")
                await _shown(page, "#trades", f"{result.realised_profit:,}")  # exact
                await _shown(page, "#pnl-table", opp.strategy)
                head = int(await running.client.request("eth_blockNumber"), 16)
                await _shown(page, "#chains", str(head))  # the node's head, live
                await _shown(page, "#risk", "no breaker tripped")
                balance = await _balances(api, opp.profit_token, result.realised_profit)
                await _shown(page, "#balances", f"{int(balance['amount']):,}")
                await page.screenshot(path=str(shot), full_page=True)
                seen.update(strategy=opp.strategy, landed=len(landed))
            finally:
                await browser.close()

    async def main() -> list[Any]:
        async with webhook_receiver() as (hook, received):
            router = AlertRouter.from_config({
                "large_win_wei": 1,  # every winning trade is "large" here
                "notifiers": {"hook": {"kind": "webhook", "url": hook}},
                "routes": {"large_win": ["hook"], "breaker_tripped": ["hook"]},
            }, env={})  # fmt: skip
            beside = beside_engine(keys=keys, api_port=0, live=True, alerts=router,
                                   serving=servers.append)  # fmt: skip
            await run_session(chain.manifest, options, LiveReport(quiet=True), scenario,
                              beside=beside)  # fmt: skip
            return received

    received = asyncio.run(main())
    assert shot.stat().st_size > 10_000
    wins = [r for r in received if r.get("event") == "large_win"]
    assert wins and seen["strategy"] in str(wins[0]), received
    if os.environ.get("TALLYIO_SAVE_SCREENSHOT") == "1":
        DOC_IMAGE.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOC_IMAGE)
