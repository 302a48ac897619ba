"""`/graphql`: opportunities, trades and PnL as queries; live trades as a subscription.

Same auth as REST (the guard admits nobody without a key; every query is a read, so a viewer
may ask). Subscriptions speak graphql-transport-ws and the older graphql-ws. Amounts are
strings, exact, as in REST.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from enum import Enum
from typing import Any

import strawberry
from strawberry.fastapi import GraphQLRouter
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.types import Info

from tallyio.api.control import EngineControl
from tallyio.api.journal_view import JournalView

MAX_LIMIT = 1000


@strawberry.type
class Opportunity:
    id: int
    plan_id: str
    recorded_at: float
    block: int | None
    strategy: str
    chain: str
    expected_profit: str | None
    status: str
    reason: str


@strawberry.type
class Trade:
    plan_id: str
    recorded_at: float
    strategy: str
    chain: str
    mode: str
    status: str
    tx_hash: str | None
    block: int | None
    target_block: int | None
    gas_used: int | None
    profit: str | None
    net_profit: str | None


@strawberry.type
class Pnl:
    group: str
    profit: str
    net_profit: str
    trades: int


@strawberry.enum
class PnlGroup(Enum):
    STRATEGY = "strategy"
    CHAIN = "chain"
    DAY = "day"


def _state(info: Info) -> Any:
    return info.context["request"].app.state


def _view(info: Info) -> JournalView:
    view: JournalView = _state(info).view
    return view


def _page(limit: int, offset: int) -> tuple[int, int]:
    return min(max(limit, 1), MAX_LIMIT), max(offset, 0)


@strawberry.type
class Query:
    @strawberry.field
    def opportunities(
        self, info: Info, limit: int = 50, offset: int = 0, strategy: str | None = None,
        status: str | None = None, since: float | None = None,
    ) -> list[Opportunity]:  # fmt: skip
        rows = _view(info).opportunities(*_page(limit, offset), strategy=strategy,
                                         status=status, since=since)  # fmt: skip
        return [Opportunity(**row) for row in rows]

    @strawberry.field
    def trades(
        self, info: Info, limit: int = 50, offset: int = 0, strategy: str | None = None,
        status: str | None = None, since: float | None = None,
    ) -> list[Trade]:  # fmt: skip
        rows = _view(info).trades(*_page(limit, offset), strategy=strategy, status=status,
                                  since=since)  # fmt: skip
        return [Trade(**row) for row in rows]

    @strawberry.field
    def pnl(
        self, info: Info, group_by: PnlGroup = PnlGroup.STRATEGY, since: float | None = None
    ) -> list[Pnl]:
        return [Pnl(**row) for row in _view(info).pnl(group_by.value, since)]


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def trades(self, info: Info) -> AsyncGenerator[Trade, None]:
        control: EngineControl = _state(info).control
        async for event in control.subscribe():
            if event["type"] == "trade":
                yield Trade(**event["data"])


schema = strawberry.Schema(query=Query, subscription=Subscription)


def graphql_router() -> GraphQLRouter[Any, Any]:
    return GraphQLRouter(
        schema, graphql_ide=None,
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL),
    )  # fmt: skip
