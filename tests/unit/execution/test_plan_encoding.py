"""plan.py: Plans encode to TallyExecutor.execute calldata and decode back to the same values."""

from __future__ import annotations

import re

import pytest
from eth_abi import decode
from eth_utils import keccak, to_checksum_address
from hypothesis import given
from hypothesis import strategies as st

from tallyio.core.plan import (
    ALL_BALANCE,
    EXECUTE_ARGS,
    EXECUTE_SELECTOR,
    NO_LOAN,
    AaveLiquidation,
    ActionKind,
    BalancerSwap,
    FlashLoan,
    FlashSource,
    Plan,
    UniswapV2Swap,
    UniswapV3Swap,
    VenusLiquidation,
    decode_plan,
    encode_plan,
)
from tallyio.paths import contracts_dir

WETH = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
USDC = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
PAIR = "0x5cFE9a2F0aB9638d87141669EFbAfCd18f317800"
V3_POOL = "0x6Aad5f32032621888e8A20562D3520E322dA5d90"
V3_LENDER = "0x277246CE649fa0A703cbD7082F4D915622042253"
VAULT = "0x2bdCC0de6bE1f7D2ee689a0342D76F52E8EFABa3"
POOL_ID = bytes.fromhex("3056a5f9c067a69622fc301a0b8a279efa73c24b000200000000000000000000")
AAVE_POOL = "0x86699f95700424A20eDf530041f3869480604aC9"
BORROWER = "0x976EA74026E726554dB657fA54763abd0C3a0aa9"
V_USDC = "0x63fea6E447F120B8Faf85B53cdaD8348e645D80E"
V_WETH = "0x5133BBdfCCa3Eb4F739D599ee4eC45cBCD0E16c5"

ALL_ACTIONS = (
    AaveLiquidation(AAVE_POOL, WETH, USDC, BORROWER, 5_000 * 10**6),
    VenusLiquidation(V_USDC, USDC, BORROWER, V_WETH),
    UniswapV2Swap(PAIR, WETH, USDC, ALL_BALANCE, 25),
    BalancerSwap(VAULT, POOL_ID, USDC, WETH, 123),
    UniswapV3Swap(V3_POOL, WETH, USDC, ALL_BALANCE, 4295128740),
)
LOANS = (
    NO_LOAN,
    FlashLoan(FlashSource.BALANCER, "0x" + "11" * 20, USDC, 10**10),  # not VAULT: see below
    FlashLoan(FlashSource.UNISWAP_V3, V3_LENDER, WETH, 10**19),
    FlashLoan(FlashSource.AAVE_V3, AAVE_POOL, USDC, 1),
)


def _words(name: str) -> str:
    """Solidity CamelCase enum member -> UPPER_SNAKE (UniswapV2Swap -> UNISWAP_V2_SWAP)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).upper()


def _solidity_enum(name: str) -> list[str]:
    source = (contracts_dir() / "src" / "TallyExecutor.sol").read_text()
    match = re.search(rf"enum {name} \{{(.*?)\}}", source, re.S)
    assert match, f"enum {name} not found in TallyExecutor.sol"
    body = re.sub(r"//[^\n]*", "", match.group(1))
    return [_words(m.strip()) for m in body.split(",") if m.strip()]


# -- the ABI ------------------------------------------------------------------------------------
def test_selector_is_the_contracts() -> None:
    signature = (
        "execute((uint8,address,address,uint256),(uint8,address,address,uint256,bytes)[],"
        "address,uint256,uint256)"
    )
    assert keccak(text=signature)[:4] == EXECUTE_SELECTOR
    # `forge inspect TallyExecutor methodIdentifiers`
    assert EXECUTE_SELECTOR.hex() == "93fd9944"


def test_enums_follow_the_contracts_order() -> None:
    assert [s.name for s in FlashSource] == _solidity_enum("Source")
    assert [k.name for k in ActionKind] == _solidity_enum("Kind")


def test_encoding_decodes_with_eth_abi_field_by_field() -> None:
    loan = FlashLoan(FlashSource.AAVE_V3, AAVE_POOL, USDC, 20_000 * 10**6)
    plan = Plan(ALL_ACTIONS, USDC, 300 * 10**6, loan, tip_bps=0)
    calldata = encode_plan(plan)
    assert calldata[:4] == EXECUTE_SELECTOR
    raw_loan, actions, profit_token, min_profit, tip_bps = decode(EXECUTE_ARGS, calldata[4:])
    assert raw_loan == (3, AAVE_POOL.lower(), USDC.lower(), 20_000 * 10**6)
    assert (profit_token, min_profit, tip_bps) == (USDC.lower(), 300 * 10**6, 0)
    assert [a[0] for a in actions] == [3, 4, 0, 2, 1]

    aave, venus, v2, balancer, v3 = actions
    assert aave[1:4] == (AAVE_POOL.lower(), USDC.lower(), 5_000 * 10**6)  # target, debt, cover
    assert decode(["address", "address"], aave[4]) == (WETH.lower(), BORROWER.lower())
    assert venus[1:4] == (V_USDC.lower(), USDC.lower(), 0)  # 0: all of my USDC
    assert decode(["address", "address"], venus[4]) == (BORROWER.lower(), V_WETH.lower())
    assert v2[1:4] == (PAIR.lower(), WETH.lower(), 0)
    assert decode(["address", "uint256"], v2[4]) == (USDC.lower(), 25)
    assert balancer[1:4] == (VAULT.lower(), USDC.lower(), 123)
    assert decode(["bytes32", "address"], balancer[4]) == (POOL_ID, WETH.lower())
    assert v3[1:4] == (V3_POOL.lower(), WETH.lower(), 0)
    assert decode(["address", "uint160"], v3[4]) == (USDC.lower(), 4295128740)


# -- round trips --------------------------------------------------------------------------------
@pytest.mark.parametrize("loan", LOANS, ids=lambda loan: loan.source.name)
def test_every_action_and_loan_round_trips(loan: FlashLoan) -> None:
    plan = Plan(ALL_ACTIONS, WETH, 10**15, loan, tip_bps=9_000)
    assert decode_plan(encode_plan(plan)) == plan


@pytest.mark.parametrize("action", ALL_ACTIONS, ids=lambda a: type(a).__name__)
def test_single_action_round_trips(action: object) -> None:
    plan = Plan((action,), USDC, 0)  # type: ignore[arg-type]
    assert decode_plan(encode_plan(plan)) == plan


@given(
    amount=st.integers(0, 2**256 - 1),
    fee_bps=st.integers(0, 9_999),
    minimum=st.integers(0, 2**256 - 1),
    tip=st.integers(0, 10_000),
    raw=st.binary(min_size=20, max_size=20),
)
def test_v2_swap_round_trips_any_values(
    amount: int, fee_bps: int, minimum: int, tip: int, raw: bytes
) -> None:
    token = to_checksum_address(raw)
    plan = Plan((UniswapV2Swap(PAIR, token, USDC, amount, fee_bps),), token, minimum, tip_bps=tip)
    assert decode_plan(encode_plan(plan)) == plan


def test_addresses_are_checksummed_so_casing_does_not_matter() -> None:
    lower = UniswapV2Swap(PAIR.lower(), WETH.lower(), USDC.lower())
    assert lower == UniswapV2Swap(PAIR, WETH, USDC)
    assert lower.pair == PAIR
    assert encode_plan(Plan((lower,), USDC.lower(), 1)) == encode_plan(
        Plan((UniswapV2Swap(PAIR, WETH, USDC),), USDC, 1)
    )


def test_all_balance_is_a_zero_amount() -> None:
    assert ALL_BALANCE == 0
    assert UniswapV3Swap(V3_POOL, WETH, USDC).raw()[3] == 0


def test_actions_may_be_any_sequence_but_are_stored_as_a_tuple() -> None:
    plan = Plan([UniswapV2Swap(PAIR, WETH, USDC)], USDC, 0)  # type: ignore[arg-type]
    assert isinstance(plan.actions, tuple)


# -- invalid plans fail loudly ----------------------------------------------------------------
@pytest.mark.parametrize(
    "build",
    [
        lambda: UniswapV2Swap("0x1234", WETH, USDC),
        lambda: UniswapV2Swap(PAIR, WETH, USDC, -1),
        lambda: UniswapV2Swap(PAIR, WETH, USDC, 2**256),
        lambda: UniswapV2Swap(PAIR, WETH, USDC, 1, 10_000),
        lambda: UniswapV3Swap(V3_POOL, WETH, USDC, 2**255),
        lambda: UniswapV3Swap(V3_POOL, WETH, USDC, 1, 2**160),
        lambda: BalancerSwap(VAULT, POOL_ID[:31], USDC, WETH),
        lambda: AaveLiquidation(AAVE_POOL, WETH, USDC, "not an address"),
        lambda: VenusLiquidation(V_USDC, USDC, BORROWER, V_WETH, True),
        lambda: FlashLoan(FlashSource.NONE, "0x" + "00" * 20, USDC, 5),
        lambda: FlashLoan(FlashSource.BALANCER, VAULT, USDC, 0),
        lambda: FlashLoan(FlashSource.AAVE_V3, "0x" + "00" * 20, USDC, 5),
        lambda: Plan((), USDC, 0),
        lambda: Plan((UniswapV2Swap(PAIR, WETH, USDC),), USDC, -1),
        lambda: Plan((UniswapV2Swap(PAIR, WETH, USDC),), USDC, 0, tip_bps=10_001),
    ],
)
def test_invalid_values_raise(build: object) -> None:
    with pytest.raises(ValueError):
        build()  # type: ignore[operator]


def test_non_actions_are_refused() -> None:
    with pytest.raises(TypeError):
        Plan(("swap",), USDC, 0)  # type: ignore[arg-type]


def test_balancer_swap_inside_a_loan_from_the_same_vault_is_refused() -> None:
    loan = FlashLoan(FlashSource.BALANCER, VAULT, USDC, 10**9)
    with pytest.raises(ValueError, match="locked while lending"):
        Plan((BalancerSwap(VAULT, POOL_ID, USDC, WETH),), USDC, 0, loan)
    other_vault = FlashLoan(FlashSource.AAVE_V3, AAVE_POOL, USDC, 10**9)
    assert Plan((BalancerSwap(VAULT, POOL_ID, USDC, WETH),), USDC, 0, other_vault)


def test_swap_on_the_lending_v3_pool_is_refused() -> None:
    loan = FlashLoan(FlashSource.UNISWAP_V3, V3_LENDER, USDC, 10**9)
    with pytest.raises(ValueError, match="locked while lending"):
        Plan((UniswapV3Swap(V3_LENDER, USDC, WETH),), USDC, 0, loan)
    assert Plan((UniswapV3Swap(V3_POOL, USDC, WETH),), USDC, 0, loan)


def test_decode_refuses_other_calldata() -> None:
    with pytest.raises(ValueError, match="selector"):
        decode_plan(bytes.fromhex("a9059cbb") + bytes(64))
