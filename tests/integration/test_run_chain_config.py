"""`tallyio run` over a chain config (not the devnet manifest) against a real node: the devnet.

The chain TOML names only the entry points the devnet deployed (Aave Pool and provider, Venus
Comptroller, Uniswap factories, Balancer vault, WETH, Multicall3) and its node; the run must
discover the market on chain, find the liquidation a price shock opens, simulate it in paper
mode (nothing sent) and land it live through a keystore that owns the executor.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from eth_utils import keccak

from tallyio.app.runner import deploy_executor
from tallyio.devnet.scenarios import block_time, price_shock
from tallyio.paths import repo_root

if TYPE_CHECKING:
    from conftest import Devnet

pytestmark = pytest.mark.devnet

ROOT = repo_root()
TALLYIO = str(ROOT / ".venv" / "bin" / "tallyio")
PASSWORD = "correct horse battery staple"
LIQUIDATION_CALL = (
    "0x"
    + keccak(text="LiquidationCall(address,address,address,uint256,uint256,address,bool)").hex()
)


def chain_toml(m: dict[str, Any], chain_id: int = 31337) -> str:
    v2 = "".join(
        f'[[dex]]\nkind = "uniswap_v2"\nname = "{v["name"]}"\nfactory = "{v["factory"]}"\n'
        f"fee_bps = {v['fee_bps']}\n\n"
        for v in m["uniswap_v2"]
    )
    return f"""name = "localnode"
chain_id = {chain_id}
native_symbol = "ETH"
block_time = 1.0
fee_model = "eip1559"
wrapped_native = "{m["tokens"]["WETH"]}"
multicall3 = "{m["multicall"]}"

{v2}[[dex]]
kind = "uniswap_v3"
name = "uniswap_v3"
factory = "{m["uniswap_v3"]["factory"]}"

[[dex]]
kind = "balancer_v2"
name = "balancer_v2"
vault = "{m["balancer_v2"]["vault"]}"

[[lending]]
kind = "aave_v3"
name = "aave_v3"
version = "3.0"
pool = "{m["aave_v3"]["pool"]}"
addresses_provider = "{m["aave_v3"]["addresses_provider"]}"

[[lending]]
kind = "venus"
name = "venus"
comptroller = "{m["venus"]["comptroller"]}"

[[flash_loans]]
kind = "balancer_v2"
address = "{m["balancer_v2"]["vault"]}"
"""


def write_config(tmp: Path, m: dict[str, Any], chain_id: int = 31337, mode: str = "paper") -> Path:
    (tmp / "chains").mkdir(exist_ok=True)
    (tmp / "chains" / "localnode.toml").write_text(chain_toml(m, chain_id))
    app = tmp / "app.toml"
    app.write_text(f'mode = "{mode}"\nchains = ["localnode"]\n\n'
                   f'[rpc.localnode]\nrpc_urls = ["{m["rpc_url"]}"]\n')  # fmt: skip
    return app


def tallyio(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TALLYIO, *args], cwd=ROOT, capture_output=True, text=True, timeout=90,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def run_args(app: Path, tmp: Path, executor: str, *mode: str) -> list[str]:
    return ["run", "--config", str(app), *mode, "--blocks", "3", "--json",
            "--executor", executor, "--state-dir", str(tmp / "state"),
            "--risk-config", str(ROOT / "config" / "risk" / "devnet.toml")]  # fmt: skip


@pytest.fixture
def shocked(chain: Devnet) -> Any:
    """The devnet with an executor, WETH down 8% (Aave borrowers now liquidatable) and 1 s
    blocks so that `--blocks 3` ends; automine again afterwards."""
    executor = deploy_executor(chain.manifest)
    price_shock(chain.context(), "WETH", -8.0)
    block_time(chain.d, 1)
    try:
        yield executor
    finally:
        block_time(chain.d, 0)


def _liquidations(chain: Devnet, from_block: int) -> list[dict[str, Any]]:
    flt = {"address": chain.manifest["aave_v3"]["pool"], "topics": [LIQUIDATION_CALL],
           "fromBlock": hex(from_block), "toBlock": "latest"}  # fmt: skip
    return list(chain.d.rpc("eth_getLogs", flt))


def _nonce(chain: Devnet, who: str) -> int:
    return int(chain.d.rpc("eth_getTransactionCount", chain.account(who), "latest"), 16)


def test_paper_run_over_chain_config_finds_and_simulates_liquidation(
    chain: Devnet, shocked: str, tmp_path: Path
) -> None:
    app = write_config(tmp_path, chain.manifest)
    nonce = _nonce(chain, "searcher")
    done = tallyio(*run_args(app, tmp_path, shocked, "--paper"))
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["mode"] == "paper" and out["executor"].lower() == shocked.lower()
    assert out["market"] == {"aave_reserves": 4, "venus_markets": 4, "price_targets": 8}
    aave = out["strategies"]["aave_v3_liquidation"]
    assert aave["found"] >= 1, out
    assert aave["sent"] == 0 and aave["landed"] == 0, out
    assert _nonce(chain, "searcher") == nonce  # paper: nothing signed or sent


def test_live_run_with_keystore_lands_the_liquidation(
    chain: Devnet, shocked: str, tmp_path: Path
) -> None:
    key_file = tmp_path / "key.hex"
    key_file.write_text(chain.manifest["accounts"]["searcher"]["private_key"])
    imported = tallyio("keystore", "import", "--key-file", str(key_file), "--password-env",
                       "TEST_PW", "--light-kdf", "--dir", str(tmp_path / "keys"), "--json",
                       env={"TEST_PW": PASSWORD})  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    keystore = json.loads(imported.stdout)["path"]
    app = write_config(tmp_path, chain.manifest)
    start = int(chain.d.rpc("eth_blockNumber"), 16)
    done = tallyio(*run_args(app, tmp_path, shocked, "--live", "--keystore", keystore),
                   env={"TALLYIO_KEYSTORE_PASSWORD": PASSWORD})  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["strategies"]["aave_v3_liquidation"]["landed"] >= 1, json.dumps(
        {k: v for k, v in out.items() if k != "manifest"}, default=str
    )[:3000]
    assert _liquidations(chain, start), "no LiquidationCall on the Aave pool"
    assert PASSWORD not in done.stdout + done.stderr
    assert chain.manifest["accounts"]["searcher"]["private_key"][2:] not in done.stderr


def test_live_without_keystore_off_devnet_is_refused(chain: Devnet, tmp_path: Path) -> None:
    app = write_config(tmp_path, chain.manifest, chain_id=1, mode="live")
    done = tallyio("run", "--config", str(app), "--executor", chain.account("searcher"))
    assert done.returncode != 0
    assert "needs an unlocked keystore" in done.stderr and "--keystore" in done.stderr


def test_executor_not_owned_by_the_key_is_refused(
    chain: Devnet, shocked: str, tmp_path: Path
) -> None:
    key_file = tmp_path / "key.hex"
    key_file.write_text(chain.manifest["accounts"]["trader"]["private_key"])
    imported = tallyio("keystore", "import", "--key-file", str(key_file), "--password-env",
                       "TEST_PW", "--light-kdf", "--dir", str(tmp_path / "keys"), "--json",
                       env={"TEST_PW": PASSWORD})  # fmt: skip
    keystore = json.loads(imported.stdout)["path"]
    app = write_config(tmp_path, chain.manifest)
    done = tallyio(*run_args(app, tmp_path, shocked, "--live", "--keystore", keystore),
                   env={"TALLYIO_KEYSTORE_PASSWORD": PASSWORD})  # fmt: skip
    assert done.returncode != 0
    assert "is owned by" in done.stderr, done.stderr
