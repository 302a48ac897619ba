"""Which simulator a run gets: the pyrevm fork unless the node's eth_simulateV1 is asked for."""

from __future__ import annotations

import pytest

from tallyio.sim import ForkSimulator, NodeSimulator
from tallyio.sim.node import is_loopback, simulator_for


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://127.0.0.1:8545", True),
        ("http://localhost:8545", True),
        ("http://[::1]:8545", True),
        ("http://127.0.0.2:8545", True),
        ("http://10.0.0.5:8545", False),
        ("https://node.example:443/key", False),
    ],
)
def test_loopback_hosts(url: str, local: bool) -> None:
    assert is_loopback(url) is local


def test_default_is_the_fork_and_the_node_is_opt_in() -> None:
    assert isinstance(simulator_for("http://127.0.0.1:8545"), ForkSimulator)
    assert isinstance(simulator_for("http://10.0.0.5:8545"), ForkSimulator)
    assert isinstance(simulator_for("http://127.0.0.1:8545", "fork"), ForkSimulator)
    assert isinstance(simulator_for("http://10.0.0.5:8545", "node"), NodeSimulator)
    with pytest.raises(ValueError, match="node' or 'fork"):
        simulator_for("http://127.0.0.1:8545", "evm")
