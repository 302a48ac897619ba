"""Run the engine over a devnet until told to stop, with a scenario driving the market.

Shared by `tallyio run` (no scenario: follow the chain until Ctrl-C or --blocks) and
`make demo` (price shocks step by step while the engine runs).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from tallyio.app.report import LiveReport
from tallyio.app.runner import EngineOptions, Running, build_devnet_engine
from tallyio.state.store import StateInvariantError

Beside = Callable[[Running], AbstractAsyncContextManager[Any]]  # runs beside the engine


class StateDriftError(RuntimeError):
    """The market state fell out of step with the chain (an event it cannot apply exactly: a
    price source it never saw, a reorg deeper than it keeps, a market it does not know). The
    run stops rather than act on a wrong state; a restart loads a fresh snapshot."""


async def settle(running: Running, *, grace: float = 0.3, limit: float = 30.0) -> None:
    """Wait until the engine has seen the chain's head and nothing is in flight."""
    deadline = time.monotonic() + limit
    quiet_since = None
    while time.monotonic() < deadline:
        head = int(await running.client.request("eth_blockNumber"), 16)
        idle = running.engine.state.block >= head and not running.engine.busy()
        if idle:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= grace:
                return
        else:
            quiet_since = None
        await asyncio.sleep(0.05)


async def run_session(
    manifest: dict[str, Any], options: EngineOptions, report: LiveReport,
    scenario: Callable[[Running], Awaitable[None]] | None = None, *,
    blocks: int | None = None, beside: Beside | None = None,
    build: Callable[[EngineOptions], Awaitable[Running]] | None = None,
) -> Running:  # fmt: skip
    """Build the engine, run it (and the scenario beside it), and stop it cleanly. `beside`
    (the API server, alerts) is entered once the engine is built, left before it is closed.
    `build` builds it instead of the devnet's `manifest` (a chain config: app/chain_run.py)."""
    options.listeners = [*options.listeners, report]
    running = await (build(options) if build else build_devnet_engine(manifest, options))
    view, market = running.engine.state.view, running.market
    report.usd = lambda token, amount: market.usd(view, token, amount)
    until = running.engine.state.block + blocks if blocks else None
    try:
        async with contextlib.AsyncExitStack() as stack:
            if beside is not None:
                await stack.enter_async_context(beside(running))
            await _drive(running, scenario, until)
    except StateInvariantError as exc:
        raise StateDriftError(
            f"the market state fell out of step with the chain at block "
            f"{running.engine.state.block} ({exc}); restart to load a fresh snapshot: "
            "the journal keeps everything recorded so far"
        ) from exc
    finally:
        await running.close()  # in-flight submissions land and are journaled first
    return running


async def _drive(
    running: Running, scenario: Callable[[Running], Awaitable[None]] | None, until: int | None
) -> None:
    task = asyncio.create_task(running.engine.run(running.events(), until_block=until))
    try:
        if scenario is not None:
            await scenario(running)
            await settle(running)
        else:
            await task
    finally:
        if not task.done():
            task.cancel()
        (ended,) = await asyncio.gather(task, return_exceptions=True)
    if isinstance(ended, Exception):  # the engine failed while a scenario ran: say so
        raise ended
