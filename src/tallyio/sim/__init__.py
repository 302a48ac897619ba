"""Simulation before sending: a pyrevm fork of the latest block gives exact profit, gas, reverts."""

from tallyio.sim.fork import ForkSimulator, NextBlock, SimTx, SimulationError
from tallyio.sim.node import NodeSimulator, Simulator
from tallyio.sim.outcome import Outcome, SimLog, TxResult, decode_revert

__all__ = [
    "ForkSimulator",
    "NextBlock",
    "NodeSimulator",
    "Outcome",
    "SimLog",
    "SimTx",
    "SimulationError",
    "Simulator",
    "TxResult",
    "decode_revert",
]
