"""What every devnet protocol deployer shares: the deployer, named accounts, tokens, feeds."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from typing import Any

from web3.contract import Contract

from tallyio.devnet.deployer import Deployer, DeployError, load_artifact, load_forge_artifact
from tallyio.paths import contracts_dir, foundry_bin

# Named dev accounts, by anvil account index. Borrowers get their own block of indices.
ACCOUNT_NAMES = ("deployer", "searcher", "lp", "trader", "competitor", "relay_signer")
AAVE_BORROWERS = range(6, 11)
VENUS_BORROWERS = range(11, 16)

# The devnet's token set and its starting USD prices (8 decimals, as Chainlink quotes them).
TOKENS: dict[str, tuple[str, int]] = {  # symbol -> (name, decimals)
    "USDC": ("USD Coin", 6),
    "WBTC": ("Wrapped BTC", 8),
    "DAI": ("Dai Stablecoin", 18),
}
PRICES_USD_8: dict[str, int] = {
    "WETH": 2_000 * 10**8,
    "WBTC": 60_000 * 10**8,
    "USDC": 1 * 10**8,
    "DAI": 1 * 10**8,
}
DECIMALS = {"WETH": 18, **{s: d for s, (_, d) in TOKENS.items()}}

WETH9 = "@uniswap/v2-periphery/build/WETH9.json"
MINTABLE_ERC20 = (
    "@aave/core-v3/artifacts/contracts/mocks/tokens/MintableERC20.sol/MintableERC20.json"
)


@dataclass(slots=True)
class DeployContext:
    d: Deployer
    accounts: dict[str, str]  # name -> address (borrowers as aave_borrower_0 ...)
    tokens: dict[str, Contract] = field(default_factory=dict)  # symbol -> token
    feeds: dict[str, Contract] = field(default_factory=dict)  # symbol -> SettableFeed (USD, 8 dp)
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def deployer(self) -> str:
        return self.accounts["deployer"]

    def units(self, symbol: str, amount: float | int) -> int:
        """Whole tokens -> base units (exact for the round numbers used in seeding)."""
        return round(amount * 10**6) * 10 ** DECIMALS[symbol] // 10**6

    def fund(self, symbol: str, to: str, amount: int) -> None:
        """Give `to` `amount` base units of a token (WETH by deposit, the rest by mint)."""
        token = self.tokens[symbol]
        if symbol == "WETH":
            # Wrap from the deployer and transfer, so contracts can be funded too.
            self.d.set_balance(self.deployer, amount + 10**24)
            self.d.send(token.functions.deposit(), sender=self.deployer, value=amount)
            self.d.send(token.functions.transfer(to, amount), sender=self.deployer)
        else:
            mint = token.get_function_by_signature("mint(address,uint256)")
            self.d.send(mint(to, amount))

    def approve(self, symbol: str, owner: str, spender: str, amount: int = 2**256 - 1) -> None:
        self.d.send(self.tokens[symbol].functions.approve(spender, amount), sender=owner)


def borrowers(accounts: dict[str, str], protocol: str) -> list[str]:
    return [a for n, a in accounts.items() if n.startswith(f"{protocol}_borrower_")]


def name_accounts(addresses: list[str]) -> dict[str, str]:
    named = {name: addresses[i] for i, name in enumerate(ACCOUNT_NAMES)}
    named |= {f"aave_borrower_{k}": addresses[i] for k, i in enumerate(AAVE_BORROWERS)}
    named |= {f"venus_borrower_{k}": addresses[i] for k, i in enumerate(VENUS_BORROWERS)}
    return named


def forge_build() -> None:
    """Compile our contracts (forge caches; a no-op when nothing changed)."""
    proc = subprocess.run(
        [str(foundry_bin("forge")), "build", "--quiet"],
        cwd=contracts_dir(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise DeployError(f"forge build failed:\n{proc.stdout}\n{proc.stderr}")


def deploy_tokens(ctx: DeployContext) -> dict[str, str]:
    """WETH9 plus 6-, 8- and 18-decimal ERC20s (Aave's published MintableERC20)."""
    ctx.tokens["WETH"] = ctx.d.deploy(load_artifact(WETH9))
    erc20 = load_artifact(MINTABLE_ERC20)
    for symbol, (name, decimals) in TOKENS.items():
        ctx.tokens[symbol] = ctx.d.deploy(erc20, name, symbol, decimals)
    return {s: t.address for s, t in ctx.tokens.items()}


def deploy_feeds(ctx: DeployContext) -> dict[str, str]:
    """One settable USD feed per token; both lending markets read these prices."""
    feed = load_forge_artifact("SettableFeed")
    for symbol, price in PRICES_USD_8.items():
        ctx.feeds[symbol] = ctx.d.deploy(feed, 8, f"{symbol} / USD", price)
    return {s: f.address for s, f in ctx.feeds.items()}


def deploy_multicall(ctx: DeployContext) -> str:
    return str(ctx.d.deploy(load_forge_artifact("Multicall")).address)


def attach(manifest: dict[str, Any]) -> DeployContext:
    """A DeployContext over an already running devnet, rebuilt from its manifest."""
    accounts = {name: str(a["address"]) for name, a in manifest["accounts"].items()}
    d = Deployer(manifest["rpc_url"], accounts["deployer"])
    ctx = DeployContext(d, accounts, manifest=manifest)
    for symbol, address in manifest["tokens"].items():
        path = WETH9 if symbol == "WETH" else MINTABLE_ERC20
        ctx.tokens[symbol] = d.at(load_artifact(path), address)
    feed = load_forge_artifact("SettableFeed")
    for symbol, address in manifest.get("price_feeds", {}).items():
        ctx.feeds[symbol] = d.at(feed, address)
    return ctx
