"""Venus's Liquidator contract on the devnet, as BNB Chain runs it (venus-protocol 10.x bytecode).

On mainnet the comptroller's `liquidatorContract` is set, so only the Liquidator may call
vToken.liquidateBorrow; it keeps `treasuryPercentMantissa` of the seized bonus for the
ProtocolShareReserve and hands the liquidator the rest. What it needs, all real bytecode:
  * a VAIController (VAIUnitroller -> VAIController, no VAI minted): the Liquidator's constructor
    reads comptroller.vaiController() and liquidateBorrow calls it (accrue, VAI debt) every time;
  * the ProtocolShareReserve (@venusprotocol/protocol-reserve) behind ERC1967: the treasury's cut
    is redeemed and sent there, and updateAssetsState is called;
  * vBNB: a real VBNB, not listed (no native market here); WBNB: the devnet's WETH9.
The default deploy does NOT set the Liquidator on the comptroller (existing tests and the demo
liquidate directly); `set_liquidator_contract` does it, as tests need.
"""

from __future__ import annotations

from typing import Any

from web3.contract import Contract

from tallyio.devnet.context import DeployContext
from tallyio.devnet.deployer import Deployer, load_artifact
from tallyio.devnet.venus_setup import ERC1967_PROXY, send_checked

_VENUS = "@venusprotocol/venus-protocol/artifacts/contracts"
LIQUIDATOR = f"{_VENUS}/Liquidator/Liquidator.sol/Liquidator.json"
VAI_UNITROLLER = f"{_VENUS}/Tokens/VAI/VAIUnitroller.sol/VAIUnitroller.json"
VAI_CONTROLLER = f"{_VENUS}/Tokens/VAI/VAIController.sol/VAIController.json"
VBNB = f"{_VENUS}/Tokens/VTokens/VBNB.sol/VBNB.json"
PROTOCOL_SHARE_RESERVE = (
    "@venusprotocol/protocol-reserve/artifacts/contracts/ProtocolReserve/"
    "ProtocolShareReserve.sol/ProtocolShareReserve.json"
)
# Half the bonus to the protocol: Venus's docs' example (repay $1,000, the liquidator gets $1,050).
TREASURY_PERCENT = 5 * 10**17
PSR_LOOPS_LIMIT = 20
VBNB_INITIAL_EXCHANGE_RATE = 2 * 10**26  # 0.02 BNB per vBNB (18 - 8 decimals), as vTokens here


def _behind_proxy(d: Deployer, path: str, ctor: tuple[Any, ...], init: tuple[Any, ...]) -> Contract:
    """Both disable initializers in their constructors: ERC1967 proxy, initialized on deploy."""
    artifact = load_artifact(path)
    impl = d.deploy(artifact, *ctor)
    data = impl.functions.initialize(*init)._encode_transaction_data()
    proxy = d.deploy(load_artifact(ERC1967_PROXY), impl.address, data)
    return d.at(artifact, proxy.address)


def _deploy_vai_controller(d: Deployer, comptroller: Contract) -> Contract:
    """VAIUnitroller -> VAIController, initialized, wired both ways; zero rates, none minted."""
    unitroller = d.deploy(load_artifact(VAI_UNITROLLER))
    impl = d.deploy(load_artifact(VAI_CONTROLLER))
    send_checked(d, unitroller.functions._setPendingImplementation(impl.address))
    d.send(impl.functions._become(unitroller.address))
    vai = d.at(load_artifact(VAI_CONTROLLER), unitroller.address)
    d.send(vai.functions.initialize())
    send_checked(d, vai.functions._setComptroller(comptroller.address))
    send_checked(d, comptroller.functions._setVAIController(vai.address))
    return vai


def deploy_liquidator(
    ctx: DeployContext, comptroller: Contract, acm: str, rate_model: str
) -> dict[str, Any]:
    """The Liquidator and what it needs; its manifest entries (not set on the comptroller)."""
    d = ctx.d
    vai = _deploy_vai_controller(d, comptroller)
    vbnb = d.deploy(
        load_artifact(VBNB),
        comptroller.address, rate_model, VBNB_INITIAL_EXCHANGE_RATE, "Venus BNB", "vBNB", 8,
        ctx.deployer,
    )  # fmt: skip
    wbnb = ctx.tokens["WETH"].address
    psr = _behind_proxy(
        d, PROTOCOL_SHARE_RESERVE, (comptroller.address, wbnb, vbnb.address), (acm, PSR_LOOPS_LIMIT)
    )
    liquidator = _behind_proxy(
        d,
        LIQUIDATOR,
        (comptroller.address, vbnb.address, wbnb),
        (TREASURY_PERCENT, acm, psr.address),
    )
    return {
        "liquidator": liquidator.address,
        "liquidator_treasury_percent": TREASURY_PERCENT,
        "protocol_share_reserve": psr.address,
        "vai_controller": vai.address,
        "vbnb": vbnb.address,
    }


def set_liquidator_contract(d: Deployer, comptroller: Contract, liquidator: str) -> None:
    """Comptroller._setLiquidatorContract by its admin: from now on only `liquidator` liquidates."""
    d.send(comptroller.functions._setLiquidatorContract(liquidator))
