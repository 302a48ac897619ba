"""Venus core pool plumbing from published bytecode: ACM, Diamond comptroller, oracle stack.

Everything here is Venus's own bytecode (venus-protocol 10.x, oracle 2.x, governance-contracts):
  * AccessControlManager gates the comptroller's, vTokens' and oracles' admin functions.
  * Unitroller (proxy, holds storage) -> Diamond (implementation) -> five facets by selector.
  * ChainlinkOracle reads our SettableFeeds; ResilientOracle fronts it (main oracle only, no pivot);
    DeviationBoundedOracle wraps the ResilientOracle for the CF path (bounded pricing left off,
    so it returns the spot price until someone enables it for an asset).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any

from eth_utils import keccak
from web3.contract import Contract
from web3.contract.contract import ContractFunction

from tallyio.devnet.context import DeployContext
from tallyio.devnet.deployer import Artifact, Deployer, DeployError, load_artifact

_VENUS = "@venusprotocol/venus-protocol/artifacts/contracts"
_ORACLE = "@venusprotocol/oracle/artifacts"
UNITROLLER = f"{_VENUS}/Comptroller/Unitroller.sol/Unitroller.json"
DIAMOND = f"{_VENUS}/Comptroller/Diamond/Diamond.sol/Diamond.json"
FACETS = tuple(
    f"{_VENUS}/Comptroller/Diamond/facets/{name}.sol/{name}.json"
    for name in ("MarketFacet", "PolicyFacet", "SetterFacet", "RewardFacet", "FlashLoanFacet")
)
COMPTROLLER_LENS = f"{_VENUS}/Lens/ComptrollerLens.sol/ComptrollerLens.json"
VTOKEN_DELEGATE = f"{_VENUS}/Tokens/VTokens/VBep20Delegate.sol/VBep20Delegate.json"
VTOKEN_DELEGATOR = f"{_VENUS}/Tokens/VTokens/VBep20Delegator.sol/VBep20Delegator.json"
JUMP_RATE_MODEL = f"{_VENUS}/InterestRateModels/JumpRateModel.sol/JumpRateModel.json"
ACM = (
    "@venusprotocol/governance-contracts/artifacts/contracts/Governance/"
    "AccessControlManager.sol/AccessControlManager.json"
)
CHAINLINK_ORACLE = f"{_ORACLE}/contracts/oracles/ChainlinkOracle.sol/ChainlinkOracle.json"
RESILIENT_ORACLE = f"{_ORACLE}/contracts/ResilientOracle.sol/ResilientOracle.json"
BOUND_VALIDATOR = f"{_ORACLE}/contracts/oracles/BoundValidator.sol/BoundValidator.json"
BOUNDED_ORACLE = f"{_ORACLE}/contracts/DeviationBoundedOracle.sol/DeviationBoundedOracle.json"
ERC1967_PROXY = (
    f"{_ORACLE}/hardhat-deploy/solc_0.8/openzeppelin/proxy/ERC1967/ERC1967Proxy.sol/"
    "ERC1967Proxy.json"
)

# The oracles' "native token" sentinel; no vToken here is native, so it never matches a market.
NATIVE_SENTINEL = "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"
# Feeds move only when a test or scenario moves them, and scenarios warp time: never stale.
MAX_STALE_SECONDS = 100 * 365 * 24 * 3600

# Admin functions the deployer calls (or a scenario may: pausing, direct prices), granted via
# the ACM for any contract (address 0).
ACM_PERMISSIONS = (
    "_supportMarket(address)",
    "setCollateralFactor(address,uint256,uint256)",
    "setLiquidationIncentive(address,uint256)",
    "setIsBorrowAllowed(uint96,address,bool)",
    "_setMarketSupplyCaps(address[],uint256[])",
    "_setMarketBorrowCaps(address[],uint256[])",
    "_setActionsPaused(address[],uint8[],bool)",
    "setDeviationBoundedOracle(address)",
    "_setReserveFactor(uint256)",
    "setReduceReservesBlockDelta(uint256)",
    "setTokenConfig(TokenConfig)",  # ChainlinkOracle and ResilientOracle spell it this way
    "setTokenConfig((address,uint64,uint256,uint256,bool,bool))",  # DeviationBoundedOracle
    "setDirectPrice(address,uint256)",
)
ANY_CONTRACT = "0x0000000000000000000000000000000000000000"

_FAILURE_TOPIC = "0x" + keccak(text="Failure(uint256,uint256,uint256)").hex()


def send_checked(d: Deployer, fn: ContractFunction, *, sender: str | None = None) -> dict[str, Any]:
    """Send; raise if Venus reported a failure code (Compound v2 returns errors, not reverts)."""
    receipt = d.send(fn, sender=sender)
    for log in receipt["logs"]:
        if log["topics"] and log["topics"][0].lower() == _FAILURE_TOPIC:
            data = bytes.fromhex(log["data"].removeprefix("0x"))
            error, info, detail = (int.from_bytes(data[i : i + 32], "big") for i in (0, 32, 64))
            raise DeployError(
                f"{fn.fn_name} on {fn.address} failed: error={error} info={info} detail={detail}"
            )
    return receipt


# -- comptroller -------------------------------------------------------------------------------


@cache
def comptroller_abi() -> tuple[dict[str, Any], ...]:
    """Unitroller + Diamond + every facet, deduplicated: the ABI the comptroller answers to."""
    entries: dict[tuple[str, str], dict[str, Any]] = {}
    for path in (UNITROLLER, DIAMOND, *FACETS):
        for entry in load_artifact(path).abi:
            key = (entry["type"], _signature(entry))
            entries.setdefault(key, entry)
    return tuple(entries.values())


def _signature(entry: dict[str, Any]) -> str:
    types = ",".join(_abi_type(i) for i in entry.get("inputs", ()))
    return f"{entry.get('name', '')}({types})"


def _abi_type(arg: dict[str, Any]) -> str:
    kind: str = arg["type"]
    if kind.startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in arg["components"]) + ")" + kind[len("tuple") :]
    return kind


def facet_cuts(facets: Sequence[tuple[Artifact, str]]) -> list[tuple[str, int, list[bytes]]]:
    """One Add cut per facet: its functions minus those the proxy or Diamond answer themselves.

    Every facet inherits FacetBase and the storage getters, so a selector goes to the first facet
    that has it (MarketFacet first); the code behind a shared selector is the same in each.
    """
    taken = set(_selectors(load_artifact(UNITROLLER).abi)) | set(
        _selectors(load_artifact(DIAMOND).abi)
    )
    cuts = []
    for artifact, address in facets:
        mine = [s for s in _selectors(artifact.abi) if s not in taken]
        taken.update(mine)
        cuts.append((address, 0, mine))  # 0 = FacetCutAction.Add
    return cuts


def _selectors(abi: Iterable[dict[str, Any]]) -> list[bytes]:
    return [keccak(text=_signature(e))[:4] for e in abi if e["type"] == "function"]


def deploy_acm(ctx: DeployContext) -> Contract:
    """The real AccessControlManager; the deployer may call every admin function we need."""
    acm = ctx.d.deploy(load_artifact(ACM))
    for sig in ACM_PERMISSIONS:
        ctx.d.send(acm.functions.giveCallPermission(ANY_CONTRACT, sig, ctx.deployer))
    return acm


def deploy_comptroller(ctx: DeployContext, acm: str) -> tuple[Contract, str]:
    """Unitroller -> Diamond with all five facets cut in; returns (comptroller, lens address)."""
    d = ctx.d
    unitroller = d.deploy(load_artifact(UNITROLLER))
    diamond = d.deploy(load_artifact(DIAMOND))
    send_checked(d, unitroller.functions._setPendingImplementation(diamond.address))
    d.send(diamond.functions._become(unitroller.address))
    comptroller = d.at(comptroller_abi(), unitroller.address)
    facets = [(load_artifact(p), d.deploy(load_artifact(p)).address) for p in FACETS]
    d.send(comptroller.functions.diamondCut(facet_cuts(facets)))
    send_checked(d, comptroller.functions._setAccessControl(acm))
    lens = d.deploy(load_artifact(COMPTROLLER_LENS)).address
    send_checked(d, comptroller.functions._setComptrollerLens(lens))
    return comptroller, str(lens)


# -- oracles -----------------------------------------------------------------------------------


def _behind_proxy(d: Deployer, path: str, acm: str, *ctor_args: Any) -> Contract:
    """Venus's oracles disable initializers in their constructors: deploy behind ERC1967."""
    artifact = load_artifact(path)
    impl = d.deploy(artifact, *ctor_args)
    init = impl.functions.initialize(acm)._encode_transaction_data()
    proxy = d.deploy(load_artifact(ERC1967_PROXY), impl.address, init)
    return d.at(artifact, proxy.address)


def deploy_oracles(ctx: DeployContext, acm: str) -> dict[str, Contract]:
    """ChainlinkOracle (reading ctx.feeds) <- ResilientOracle <- DeviationBoundedOracle."""
    d = ctx.d
    chainlink = _behind_proxy(d, CHAINLINK_ORACLE, acm)
    bound_validator = d.deploy(
        load_artifact(BOUND_VALIDATOR)
    )  # required, unused: no pivot/fallback
    resilient = _behind_proxy(
        d, RESILIENT_ORACLE, acm, NATIVE_SENTINEL, ANY_CONTRACT, bound_validator.address
    )
    bounded = _behind_proxy(
        d, BOUNDED_ORACLE, acm, resilient.address, NATIVE_SENTINEL, ANY_CONTRACT
    )
    for symbol, token in ctx.tokens.items():
        feed = ctx.feeds[symbol].address
        d.send(chainlink.functions.setTokenConfig((token.address, feed, MAX_STALE_SECONDS)))
        oracles = (chainlink.address, ANY_CONTRACT, ANY_CONTRACT)
        d.send(
            resilient.functions.setTokenConfig(
                (token.address, oracles, (True, False, False), False)
            )
        )
    return {"chainlink": chainlink, "resilient": resilient, "bounded": bounded}


def wire_oracles(d: Deployer, comptroller: Contract, oracles: dict[str, Contract]) -> None:
    send_checked(d, comptroller.functions._setPriceOracle(oracles["resilient"].address))
    send_checked(d, comptroller.functions.setDeviationBoundedOracle(oracles["bounded"].address))
