"""Transaction fees: the next block's base fee, per-strategy priority fees, caps, replacement bumps.

`next_base_fee` computes the EIP-1559 base fee of the block after `parent` exactly as the
protocol does (go-ethereum `eip1559.CalcBaseFee`, the execution-specs'
`calculate_base_fee_per_gas`): integer math, gas target = gas limit // elasticity, a change of
at most 1/denominator per block, and at least +1 wei when the parent was above target. Chains
differ only in the `FeeParams` they run with (`FEE_PARAMS`, overridable per chain).

`FeePolicy.quote` turns a base fee, the expected profit and gas of an opportunity, and the risk
caps into `Fees`; `bump` raises fees for a same-nonce replacement.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

GWEI = 10**9
BPS = 10_000
# geth's txpool (--txpool.pricebump) needs +10% on both fee fields to replace a transaction;
# we bump by 12.5% so a node with a slightly stricter rule, or our own rounding, never rejects us.
REPLACEMENT_BUMP_BPS = 1_250

BaseFeeModel = Literal["eip1559", "op_stack", "floor"]


@dataclass(frozen=True, slots=True)
class FeeParams:
    """How one chain prices gas.

    base_fee_model:
      "eip1559"   the London rule over the parent header with `elasticity` and `denominator`.
      "op_stack"  the same rule, but Holocene+ blocks carry (denominator, elasticity) in the
                  parent's extraData (version 0: 9 bytes) and Jovian+ blocks also a minimum base
                  fee (version 1: 17 bytes) and meter max(gasUsed, blobGasUsed); those values win
                  over the ones here (which are the pre-Holocene Canyon constants).
      "floor"     no per-block rule we can reproduce from a header (Arbitrum's ArbOS prices by
                  backlog, not per block; BSC's base fee is 0): the parent's base fee, at least
                  `min_base_fee`. An estimate, not a prediction.
    legacy_tx: send legacy `gasPrice` transactions (chains whose block builders rank by gas price).
    min_priority_fee: the tip validators require to consider a transaction at all.
    """

    name: str
    base_fee_model: BaseFeeModel = "eip1559"
    elasticity: int = 2
    denominator: int = 8
    min_base_fee: int = 0
    min_priority_fee: int = 0
    legacy_tx: bool = False

    def __post_init__(self) -> None:
        if self.elasticity <= 0 or self.denominator <= 0:
            raise ValueError(f"{self.name}: elasticity and denominator must be positive")
        if self.min_base_fee < 0 or self.min_priority_fee < 0:
            raise ValueError(f"{self.name}: fee floors cannot be negative")


# Per chain, keyed like config/chains/<name>.toml. Sources: EIP-1559; OP Stack Canyon
# (denominator 250, elasticity 6) then Holocene/Jovian extraData; Arbitrum's DAO-set minimum
# L2 base fee (0.02 gwei since ArbOS 51); Polygon PoS PIP-58 (denominator 64) and the bor
# txpool's 25 gwei minimum tip (PIP-35); BSC prices by gasPrice with a zero base fee.
# Avalanche's C-Chain (ACP-176) prices by a gas-excess window the header alone does not give.
FEE_PARAMS: Mapping[str, FeeParams] = {
    "ethereum": FeeParams("ethereum"),
    "devnet": FeeParams("devnet"),
    "optimism": FeeParams("optimism", "op_stack", elasticity=6, denominator=250),
    "base": FeeParams("base", "op_stack", elasticity=6, denominator=250),
    "arbitrum": FeeParams("arbitrum", "floor", min_base_fee=GWEI // 50),
    "polygon": FeeParams("polygon", denominator=64, min_priority_fee=25 * GWEI),
    "bsc": FeeParams("bsc", "floor", legacy_tx=True),
    "avalanche": FeeParams("avalanche", "floor"),
}


def fee_params(chain: str, **overrides: Any) -> FeeParams:
    """The parameters of `chain` (see FEE_PARAMS), with any field overridden."""
    try:
        params = FEE_PARAMS[chain]
    except KeyError:
        known = ", ".join(sorted(FEE_PARAMS))
        raise ValueError(f"no fee parameters for chain {chain!r} (known: {known})") from None
    return replace(params, **overrides) if overrides else params


# -- the base fee --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParentHeader:
    """The header fields the next base fee depends on."""

    base_fee_per_gas: int
    gas_used: int
    gas_limit: int
    extra_data: bytes = b""
    blob_gas_used: int = 0

    @classmethod
    def from_rpc(cls, block: Mapping[str, Any]) -> ParentHeader:
        """From an eth_getBlockByNumber answer (hex quantities)."""
        base_fee = block.get("baseFeePerGas")
        if base_fee is None:
            raise ValueError(f"block {block.get('number')} has no baseFeePerGas (pre-London?)")
        return cls(
            base_fee_per_gas=int(base_fee, 16),
            gas_used=int(block["gasUsed"], 16),
            gas_limit=int(block["gasLimit"], 16),
            extra_data=bytes.fromhex(str(block.get("extraData") or "0x")[2:]),
            blob_gas_used=int(block.get("blobGasUsed") or "0x0", 16),
        )


def calc_base_fee(
    parent_base_fee: int, gas_used: int, gas_limit: int, elasticity: int = 2, denominator: int = 8
) -> int:
    """go-ethereum `CalcBaseFee` for a London parent; integer math throughout."""
    target = gas_limit // elasticity
    if target == 0:
        raise ValueError(f"gas limit {gas_limit} is below the elasticity {elasticity}")
    if gas_used == target:
        return parent_base_fee
    if gas_used > target:
        delta = parent_base_fee * (gas_used - target) // target // denominator
        return parent_base_fee + max(delta, 1)
    delta = parent_base_fee * (target - gas_used) // target // denominator
    return max(parent_base_fee - delta, 0)


def decode_op_extra_data(extra: bytes) -> tuple[int, int, int] | None:
    """(denominator, elasticity, min_base_fee) from an OP Stack Holocene (v0) or Jovian (v1)
    extraData, or None for a pre-Holocene header (or a zero "use the defaults" encoding)."""
    if len(extra) == 9 and extra[0] == 0:
        denominator, elasticity, min_base_fee = _u32(extra, 1), _u32(extra, 5), 0
    elif len(extra) == 17 and extra[0] == 1:
        denominator, elasticity = _u32(extra, 1), _u32(extra, 5)
        min_base_fee = int.from_bytes(extra[9:17], "big")
    else:
        return None
    if denominator == 0 or elasticity == 0:
        return None
    return denominator, elasticity, min_base_fee


def _u32(raw: bytes, at: int) -> int:
    return int.from_bytes(raw[at : at + 4], "big")


def next_base_fee(parent: ParentHeader, params: FeeParams) -> int:
    """The base fee per gas of the block that follows `parent` on a chain run with `params`."""
    if params.base_fee_model == "floor":
        return max(parent.base_fee_per_gas, params.min_base_fee)
    elasticity, denominator, floor = params.elasticity, params.denominator, params.min_base_fee
    gas_used = parent.gas_used
    if params.base_fee_model == "op_stack":
        decoded = decode_op_extra_data(parent.extra_data)
        if decoded is not None:
            denominator, elasticity, floor = decoded
            if parent.extra_data[0] == 1:  # Jovian meters the DA footprint as well
                gas_used = max(gas_used, parent.blob_gas_used)
    fee = calc_base_fee(
        parent.base_fee_per_gas, gas_used, parent.gas_limit, elasticity, denominator
    )
    return max(fee, floor)


def max_base_fee_after(base_fee: int, blocks: int, denominator: int = 8) -> int:
    """The highest base fee `blocks` full blocks can reach from `base_fee` (+1/denominator each,
    rounded up): the headroom a transaction needs to stay includable that long."""
    for _ in range(blocks):
        base_fee += max(-(-base_fee // denominator), 1)
    return base_fee


# -- fees of one transaction ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fees:
    """The fee fields of one transaction: EIP-1559 (both max fields) or legacy (`gas_price`)."""

    max_fee_per_gas: int | None = None
    max_priority_fee_per_gas: int | None = None
    gas_price: int | None = None

    def __post_init__(self) -> None:
        max_fee, tip = self.max_fee_per_gas, self.max_priority_fee_per_gas
        if self.gas_price is not None:
            if (max_fee, tip) != (None, None):
                raise ValueError(f"give EIP-1559 fields or gas_price, not both: {self}")
            if self.gas_price < 0:
                raise ValueError(f"negative fee: {self}")
            return
        if max_fee is None or tip is None:
            raise ValueError(f"give max_fee_per_gas and max_priority_fee_per_gas: {self}")
        if tip < 0 or max_fee < tip:
            raise ValueError(f"need 0 <= max_priority_fee_per_gas <= max_fee_per_gas: {self}")

    @classmethod
    def legacy(cls, gas_price: int) -> Fees:
        return cls(gas_price=gas_price)

    @property
    def is_legacy(self) -> bool:
        return self.gas_price is not None

    def tx_fields(self) -> dict[str, int]:
        """The fields to merge into an eth-account style transaction dict."""
        if self.gas_price is not None:
            return {"gasPrice": self.gas_price}
        assert self.max_fee_per_gas is not None and self.max_priority_fee_per_gas is not None
        return {
            "maxFeePerGas": self.max_fee_per_gas,
            "maxPriorityFeePerGas": self.max_priority_fee_per_gas,
        }

    @classmethod
    def of_tx(cls, tx: Mapping[str, Any]) -> Fees:
        if "gasPrice" in tx:
            return cls.legacy(int(tx["gasPrice"]))
        return cls(int(tx["maxFeePerGas"]), int(tx["maxPriorityFeePerGas"]))

    def at_least(self, other: Fees) -> Fees:
        """Field-wise maximum of two fees of the same kind."""
        if self.is_legacy != other.is_legacy:
            raise ValueError("cannot combine legacy and EIP-1559 fees")
        if self.gas_price is not None:
            return Fees.legacy(max(self.gas_price, other.gas_price or 0))
        return Fees(
            max(self.max_fee_per_gas or 0, other.max_fee_per_gas or 0),
            max(self.max_priority_fee_per_gas or 0, other.max_priority_fee_per_gas or 0),
        )


def _bumped(value: int, bps: int) -> int:
    # Rounded up, and never equal: a replacement at the same price is always refused.
    return max(-(-value * (BPS + bps) // BPS), value + 1)


def bump(fees: Fees, bps: int = REPLACEMENT_BUMP_BPS) -> Fees:
    """Fees for a same-nonce replacement: every field raised by `bps` (default 12.5%),
    rounded up and by at least 1 wei (geth wants >= +10% on both fields and strictly more)."""
    if fees.gas_price is not None:
        return Fees.legacy(_bumped(fees.gas_price, bps))
    assert fees.max_fee_per_gas is not None and fees.max_priority_fee_per_gas is not None
    return Fees(_bumped(fees.max_fee_per_gas, bps), _bumped(fees.max_priority_fee_per_gas, bps))


# -- policy --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeeCaps:
    """Hard limits from the risk config, in wei per gas."""

    max_fee_per_gas: int
    max_priority_fee_per_gas: int


@dataclass(frozen=True, slots=True)
class FeePolicy:
    """How one strategy bids for inclusion.

    The tip is `priority_fee` (fixed, wei per gas) or, when `profit_share_bps` is set, that
    share of the expected profit spread over the gas used — whichever is higher — then held
    to the chain's minimum tip and the caps. `headroom_blocks` full blocks of base-fee rise
    are covered by max_fee_per_gas (0 for a bundle aimed at exactly the next block).
    """

    priority_fee: int = 0
    profit_share_bps: int = 0
    headroom_blocks: int = 2

    def __post_init__(self) -> None:
        if self.priority_fee < 0 or not 0 <= self.profit_share_bps <= BPS:
            raise ValueError(f"bad fee policy: {self}")
        if self.headroom_blocks < 0:
            raise ValueError(f"bad fee policy: {self}")

    def tip(self, expected_profit: int, gas: int) -> int:
        share = expected_profit * self.profit_share_bps // BPS // gas if gas > 0 else 0
        return max(self.priority_fee, share, 0)

    def quote(
        self,
        next_base: int,
        *,
        params: FeeParams,
        caps: FeeCaps,
        expected_profit: int = 0,
        gas: int = 0,
    ) -> Fees | None:
        """Fees for a transaction aimed at the block whose base fee is `next_base`; None when
        the caps cannot pay that base fee plus the chain's minimum tip (skip it: normal)."""
        tip = min(max(self.tip(expected_profit, gas), params.min_priority_fee),
                  caps.max_priority_fee_per_gas)  # fmt: skip
        if tip < params.min_priority_fee or next_base + tip > caps.max_fee_per_gas:
            return None
        if params.legacy_tx:
            return Fees.legacy(next_base + tip)
        headroom = max_base_fee_after(next_base, self.headroom_blocks, params.denominator)
        return Fees(min(headroom + tip, caps.max_fee_per_gas), tip)
