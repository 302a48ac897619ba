"""`EngineControl` over a running engine: what the API and dashboard see and may change.

    control = RunningControl(running, live=False)   # hooks itself in as an engine listener
    create_app(running.journal, keys, control)

Reads: status (mode, the node's head, how far the engine is behind it, uptime), strategies
(`engine.enabled`), the executor contract's balance of each token (read from the chain on
every new head, served from that cache), risk limits and breaker state (the RiskGate). Writes:
enable/disable a strategy, reset a breaker. The live feed is the engine's own events, put in
the same shapes the REST reads use (a trade is the journal's row for its plan), through an
`EventHub`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict
from typing import Any

from tallyio.api.control import Event, EventHub, ReadOnlyError, UnknownNameError, poll_forever
from tallyio.api.journal_view import JournalView
from tallyio.api.tail import HeadWatcher
from tallyio.app.runner import Running
from tallyio.core.clock import Clock, SystemClock
from tallyio.risk.breaker import GLOBAL, metric_scope
from tallyio.risk.gate import RiskGate

log = logging.getLogger(__name__)
BALANCE_OF = "0x70a08231"  # ERC-20 balanceOf(address)
KINDS = ("liquidation", "arbitrage", "backrun", "cross_chain")
DEFAULT_LAG_BLOCKS = 3  # without a gate: behind the node by more than this is unhealthy


def strategy_kind(name: str) -> str:
    return next((k for k in KINDS if k in name), name)


def _texts(values: Any) -> dict[str, Any]:
    """A limits dataclass as JSON: wei amounts as exact decimal strings."""
    return {k: str(v) if isinstance(v, int) and not isinstance(v, bool) else v
            for k, v in asdict(values).items()}  # fmt: skip


class RunningControl:
    """The API's control over one `Running` engine (one chain)."""

    read_only = False

    def __init__(
        self, running: Running, *, live: bool, chain: str = "devnet", poll_interval: float = 1.0,
        clock: Clock | None = None,
    ) -> None:  # fmt: skip
        self.running, self.engine, self.live = running, running.engine, live
        self.chain, self.poll_interval = chain, poll_interval
        self.clock = clock or SystemClock()
        self.started = self.clock.now()
        self.hub = EventHub()
        self.view = JournalView(running.journal, chain=chain) if running.journal else None
        self.heads = HeadWatcher(str(running.market.manifest["rpc_url"]), self.clock)
        self.lag_listeners: list[Callable[[int], None]] = []  # alerts hear the lag in blocks
        self._balances: list[dict[str, Any]] = []
        self._pump: asyncio.Task[None] | None = None
        self.engine.listeners.append(self.on_event)

    @property
    def gate(self) -> RiskGate | None:
        gate = self.engine.gate
        return gate if isinstance(gate, RiskGate) else None

    # -- reads ------------------------------------------------------------------------------
    def chain_health(self) -> dict[str, Any]:
        engine_block = self.engine.state.block
        health = self.heads.health()
        head = max(health["head"] or 0, engine_block)
        lag_blocks = head - engine_block
        gate = self.gate
        limit = gate.config.breaker.max_head_lag_blocks if gate else DEFAULT_LAG_BLOCKS
        healthy = bool(health["healthy"]) and lag_blocks <= limit
        return {**health, "chain": self.chain, "chain_id": self.running.market.chain_id,
                "head": head, "engine_block": engine_block, "lag_blocks": lag_blocks,
                "healthy": healthy}  # fmt: skip

    def status(self) -> dict[str, Any]:
        stats = self.engine.stats
        return {
            "mode": "live" if self.live else "paper", "running": True, "read_only": False,
            "uptime_seconds": round(self.clock.now() - self.started, 3),
            "executor": self.running.executor_address, "chains": [self.chain_health()],
            "engine": {"blocks": stats.blocks, "opportunities": stats.opportunities,
                       "approved": stats.approved, "rejected": dict(stats.rejected),
                       "results": len(stats.results)},
        }  # fmt: skip

    def strategies(self) -> list[dict[str, Any]]:
        return [{"name": s.name, "kind": strategy_kind(s.name),
                 "enabled": self.engine.enabled.get(s.name, True)}
                for s in self.engine.strategies]  # fmt: skip

    def balances(self) -> list[dict[str, Any]]:
        return list(self._balances)

    def risk(self) -> dict[str, Any]:
        gate = self.gate
        if gate is None:
            return {"read_only": False, "note": "no risk gate: this engine runs without limits",
                    "limits": {}, "breaker": {}, "breakers": []}  # fmt: skip
        chain_id = self.running.market.chain_id
        limits = {"default": _texts(gate.config.limits)} | {
            s.name: _texts(gate.limits_for(s.name, chain_id)) for s in self.engine.strategies
        }
        trips = {t.scope: t for t in gate.breaker.status()}
        breakers = []
        for scope in (GLOBAL, *(s.name for s in self.engine.strategies)):
            trip = trips.get(scope)
            breakers.append({"scope": metric_scope(scope), "tripped": trip is not None,
                             "reason": trip.reason if trip else "",
                             "detail": trip.detail if trip else "",
                             "tripped_at": trip.tripped_at if trip else None})  # fmt: skip
        return {"read_only": False, "limits": limits, "breaker": _texts(gate.config.breaker),
                "breakers": breakers}  # fmt: skip

    # -- writes -----------------------------------------------------------------------------
    def set_enabled(self, name: str, enabled: bool) -> None:
        if name not in self.engine.enabled:
            raise UnknownNameError(name)
        self.engine.enabled[name] = enabled
        log.info("strategy %s %s by the API", name, "enabled" if enabled else "disabled")

    def reset_breaker(self, scope: str) -> None:
        gate = self.gate
        if gate is None:
            raise ReadOnlyError("no risk gate: there is no breaker to reset")
        if scope == "all":
            gate.breaker.reset(None)
        elif scope in ("global", GLOBAL):
            gate.breaker.reset(GLOBAL)
        elif scope in self.engine.enabled:
            gate.breaker.reset(scope)
        else:
            raise UnknownNameError(scope)
        gauge = getattr(self.engine.metrics, "breaker_open", None)
        if gauge is not None:
            gate.breaker.publish(gauge)

    # -- the live feed ----------------------------------------------------------------------
    async def subscribe(self) -> AsyncIterator[Event]:
        async for event in self.hub.subscribe():
            yield event

    def on_event(self, kind: str, data: dict[str, Any]) -> None:
        """The engine listener: its events, in the shapes the REST reads return."""
        now = self.clock.now()
        if kind == "block":
            self.hub.publish("block", self.chain_health())
        elif kind == "opportunity":
            self.hub.publish("opportunity", {
                "id": None, "plan_id": data.get("plan_id", ""), "recorded_at": now,
                "block": data.get("block"), "strategy": data.get("strategy", ""),
                "chain": self.chain, "expected_profit": data.get("expected_profit"),
                "status": "found", "reason": ""})  # fmt: skip
        elif kind == "decision":
            self._decision(data, now)
        elif kind == "trade":
            self._decision({**data, "approved": True}, now)  # the engine emits only refusals
            self.hub.publish("trade", self._trade(data, now))

    def _decision(self, data: dict[str, Any], now: float) -> None:
        self.hub.publish("decision", {"plan_id": data.get("plan_id", ""), "stage": "risk",
                                      "approved": bool(data.get("approved")),
                                      "reason": data.get("reason") or "",
                                      "recorded_at": now})  # fmt: skip

    def _trade(self, data: dict[str, Any], now: float) -> dict[str, Any]:
        plan_id = str(data.get("plan_id", ""))
        row = self.view.trade_of(plan_id) if self.view is not None and plan_id else None
        if row is not None:
            return row
        result = data.get("result") or {}
        profit = result.get("realised_profit")
        return {"plan_id": plan_id, "recorded_at": now, "strategy": data.get("strategy", ""),
                "chain": self.chain, "mode": "public" if self.live else "paper",
                "status": result.get("status") or "error", "tx_hash": result.get("tx_hash"),
                "block": result.get("block"), "target_block": None, "gas_used": None,
                "profit": None if profit is None else str(profit),
                "net_profit": None}  # fmt: skip

    # -- the node: head, lag and balances ----------------------------------------------------
    def start(self) -> None:
        """Follow the node's head (and refresh balances on each); the API's lifespan calls this."""
        if self._pump is None or self._pump.done():
            self._pump = asyncio.create_task(self._run_pump(), name="engine-control")

    async def _run_pump(self) -> None:
        await poll_forever(self.poll, self.poll_interval, "engine control")

    async def poll(self) -> None:
        moved = await self.heads.poll()
        health = self.chain_health()
        for hear in self.lag_listeners:
            hear(health["lag_blocks"])
        if moved or not self._balances:
            self._balances = await self.read_balances()
            self.hub.publish("block", health)

    async def read_balances(self) -> list[dict[str, Any]]:
        """The executor contract's balance of ETH and of every token the market knows."""
        market, holder = self.running.market, self.running.executor_address
        client = self.running.client
        tokens = sorted(market.manifest["tokens"].items())
        data = BALANCE_OF + holder.lower().removeprefix("0x").rjust(64, "0")
        calls = [client.request("eth_getBalance", [holder, "latest"])] + [
            client.request("eth_call", [{"to": address, "data": data}, "latest"])
            for _, address in tokens
        ]  # fmt: skip
        raw = await asyncio.gather(*calls)
        rows = [("ETH", "0x" + "0" * 40, 18, raw[0])] + [
            (symbol, address, market.decimals.get(address.lower(), 18), value)
            for (symbol, address), value in zip(tokens, raw[1:], strict=True)
        ]  # fmt: skip
        return [{"chain": self.chain, "token": address, "symbol": symbol, "decimals": decimals,
                 "amount": str(int(value or "0x0", 16)), "holder": holder}
                for symbol, address, decimals, value in rows]  # fmt: skip

    async def close(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
        with contextlib.suppress(ValueError):
            self.engine.listeners.remove(self.on_event)
        await self.heads.close()
