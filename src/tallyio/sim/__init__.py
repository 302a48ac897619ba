"""Simulation before sending: a pyrevm fork of the latest block gives exact profit, gas, reverts."""

from tallyio.sim.fork import ForkSimulator, NextBlock, SimTx, SimulationError
from tallyio.sim.outcome import Outcome, SimLog, TxResult, decode_revert

__all__ = [
    "ForkSimulator",
    "NextBlock",
    "Outcome",
    "SimLog",
    "SimTx",
    "SimulationError",
    "TxResult",
    "decode_revert",
]
