"""The arbitrage early pass on the devnet's real pools: after a real dislocation, `early` gives
the best plan `process` alone gives (the same plan, the same profit), `process` after it gives
nothing sharing a key with it, and the early plan, sent to a real TallyExecutor, earns exactly
what it expected.

The deltas are those between two snapshots of every pool around the dislocating swap, as in
test_arbitrage_devnet.py (whose helpers this uses), with the strategy's default search limits.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import pytest
from test_arbitrage_devnet import _block, _config, _deltas, _send, _snapshot

from tallyio.chain import ChainClient
from tallyio.core.opportunity import Opportunity
from tallyio.devnet.deployer import load_forge_artifact
from tallyio.devnet.scenarios import random_dislocations
from tallyio.strategies.arbitrage import ArbitrageConfig, ArbitrageStrategy

if TYPE_CHECKING:
    from conftest import Devnet

pytestmark = pytest.mark.devnet

SEEDS = (7, 19, 41)


def _same(a: Opportunity, b: Opportunity) -> bool:
    return (a.plan, a.expected_profit, a.touches) == (b.plan, b.expected_profit, b.touches)


@pytest.mark.parametrize("seed", SEEDS)
async def test_early_gives_the_best_plan_and_process_does_not_repeat_it(
    chain: Devnet, node: ChainClient, seed: int
) -> None:
    default = ArbitrageConfig()
    config = replace(_config(chain.manifest), max_candidates=default.max_candidates,
                     max_opportunities=default.max_opportunities)  # fmt: skip
    before = await _snapshot(chain, node)
    alone = ArbitrageStrategy.from_entries(config, before.entries)
    ahead = ArbitrageStrategy.from_entries(config, before.entries)
    random_dislocations(chain.context(), seed, 1)
    after = await _snapshot(chain, node)
    block, deltas, view = _block(chain), _deltas(before, after), after.market_state().view

    want = alone.process(deltas, view, block)
    early = ahead.early(deltas, view, block)
    rest = ahead.process(deltas, view, block)
    assert want, f"seed {seed}: the dislocation left nothing to take"
    assert len(early) == 1 and _same(early[0], want[0]), (early, want[0])
    assert all(o.touches.isdisjoint(early[0].touches) for o in rest), rest
    kept = [o for o in want if o.touches.isdisjoint(early[0].touches)]
    assert all(any(_same(o, r) for r in rest) for o in kept), (kept, rest)

    searcher, weth = chain.account("searcher"), chain.manifest["tokens"]["WETH"]
    executor = chain.d.deploy(load_forge_artifact("TallyExecutor"), searcher, weth,
                              sender=searcher).address  # fmt: skip
    assert _send(chain, executor, early[0]) == early[0].expected_profit, early[0].detail
