"""Protocol families: exact on-chain math and ABI fragments, one module each, listed once here.

A fork with the same math (SushiSwap, PancakeSwap, QuickSwap, TraderJoe v1 ...) is a config
entry of its family's kind, never a module of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class Family:
    kind: str  # the `kind` used in config/chains/*.toml
    module: str  # tallyio.protocols.<module>
    category: Literal["amm", "lending"]
    bytecode_checked: bool  # True: tested wei-exact against real bytecode on the devnet


REGISTRY: tuple[Family, ...] = (
    Family("uniswap_v2", "uniswap_v2", "amm", bytecode_checked=True),
    Family("uniswap_v3", "uniswap_v3", "amm", bytecode_checked=True),
    Family("balancer_v2", "balancer", "amm", bytecode_checked=True),
    Family("curve", "curve", "amm", bytecode_checked=False),
    Family("solidly", "solidly", "amm", bytecode_checked=False),
    Family("aave_v3", "aave_v3", "lending", bytecode_checked=True),
    Family("venus", "venus", "lending", bytecode_checked=True),
    Family("compound_v3", "compound_v3", "lending", bytecode_checked=False),
)


def family(kind: str) -> Family:
    for f in REGISTRY:
        if f.kind == kind:
            return f
    raise KeyError(f"no protocol family of kind {kind!r}; known: {[f.kind for f in REGISTRY]}")
