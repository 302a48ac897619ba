"""Chain and app config: the shipped files load, and every kind of mistake is named clearly."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from eth_utils import is_checksum_address

from tallyio.app.config import (
    AppConfig,
    ChainConfig,
    ConfigError,
    DevnetConfig,
    DexConfig,
    devnet_chain,
    load_app_config,
    load_chain,
    load_chains,
    load_manifest,
)

REPO = Path(__file__).resolve().parents[3]
CHAINS_DIR = REPO / "config" / "chains"
MULTICALL3 = "0xcA11bde05977b3631167028862bE2a173976CA11"
BALANCER_VAULT = "0xBA12222222228d8Ba445958a75a0704d566BF2C8"
REAL_CHAIN_IDS = {
    "ethereum": 1,
    "bsc": 56,
    "polygon": 137,
    "arbitrum": 42161,
    "optimism": 10,
    "base": 8453,
    "avalanche": 43114,
}

# A small valid chain file; the malformed cases below each break one thing in it.
VALID = """\
name = "testchain"
chain_id = 56
native_symbol = "BNB"
block_time = 0.45
fee_model = "legacy"
wrapped_native = "0xbb4CdB9CBd36B01bD1cBaEBF2De08d9173bc095c"
multicall3 = "0xcA11bde05977b3631167028862bE2a173976CA11"
rpc_urls = []
ws_urls = []

[[dex]]
kind = "uniswap_v2"
name = "pancakeswap_v2"
factory = "0xcA143Ce32Fe78f1f7019d7d551a6402fC5350c73"
router = "0x10ED43C718714eb63d5aA57B78B54704E256024E"
fee_bps = 25

[[dex]]
kind = "uniswap_v2"
name = "sushiswap"
factory = "0xc35DADB65012eC5796536bD9864eD8773aBc74C4"
fee_bps = 30

[[lending]]
kind = "venus"
name = "venus_core"
comptroller = "0xfD36E2c2a6789Db23113685031d7F16329158384"

[[flash_loans]]
kind = "aave_v3"
address = "0x6807dc923806fE8Fd134338EABCA509979a7e0cB"
"""


def write(tmp_path: Path, text: str, name: str = "bsc.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def load_error(tmp_path: Path, text: str) -> ConfigError:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_chain(path)
    assert str(info.value).startswith(f"{path}: "), "every error names the file"
    return info.value


# ------------------------------------------------------------------------------- shipped files


def test_every_shipped_chain_file_loads_with_its_real_chain_id() -> None:
    chains = load_chains(CHAINS_DIR)
    assert {name: c.chain_id for name, c in chains.items()} == REAL_CHAIN_IDS
    for path in CHAINS_DIR.glob("*.toml"):
        assert load_chain(path).name == path.stem


@pytest.mark.parametrize("name", sorted(REAL_CHAIN_IDS))
def test_shipped_chain_is_consistent(name: str) -> None:
    chain = load_chain(CHAINS_DIR / f"{name}.toml")
    assert chain.multicall3 == MULTICALL3
    assert chain.rpc_urls == () and chain.ws_urls == (), "users bring their own nodes"
    assert chain.block_time > 0
    assert chain.dex and chain.lending and chain.flash_loans
    for source in chain.flash_loans:
        if source.kind == "balancer_v2":
            assert source.address == BALANCER_VAULT
            assert chain.dex_named("balancer_v2").vault == BALANCER_VAULT
        if source.kind == "aave_v3":
            assert source.address in {m.pool for m in chain.lending if m.kind == "aave_v3"}
    for dex in chain.dex:
        if dex.kind == "uniswap_v2":
            assert dex.fee_bps in (25, 30)


def test_shipped_addresses_are_written_checksummed() -> None:
    """Mixed case in the files means each address was checked against its EIP-55 checksum."""
    for path in CHAINS_DIR.glob("*.toml"):
        for found in re.findall(r'"(0x[0-9a-fA-F]{40})"', path.read_text()):
            assert is_checksum_address(found), f"{path.name}: {found}"


def test_known_addresses() -> None:
    chains = load_chains(CHAINS_DIR)
    assert chains["ethereum"].lending_named("aave_v3").pool == (
        "0x87870Bca3F3fD6335C3F4ce8392D69350B4fA4E2"
    )
    for name in ("polygon", "arbitrum", "optimism", "avalanche"):
        aave = chains[name].lending_named("aave_v3")
        assert aave.pool == "0x794a61358D6845594F94dc1DB02A252b5b4814aD"
        assert aave.addresses_provider == "0xa97684ead0e402dC232d5A977953DF7ECBaB3CDb"
    for name in ("ethereum", "polygon", "arbitrum", "optimism"):
        assert chains[name].dex_named("uniswap_v3").factory == (
            "0x1F98431c8aD98523631AE4a59f267346ea31F984"
        )
    bsc = chains["bsc"]
    assert bsc.lending_named("venus_core").comptroller == (
        "0xfD36E2c2a6789Db23113685031d7F16329158384"
    )
    pancake = bsc.dex_named("pancakeswap_v2")
    assert (pancake.kind, pancake.fee_bps) == ("uniswap_v2", 25)
    assert pancake.factory == "0xcA143Ce32Fe78f1f7019d7d551a6402fC5350c73"
    assert pancake.router == "0x10ED43C718714eb63d5aA57B78B54704E256024E"


def test_shipped_devnet_config() -> None:
    app = load_app_config(REPO / "config" / "devnet.toml")
    assert app.mode == "paper"
    assert app.chains == ()
    assert app.devnet == DevnetConfig(
        manifest=Path(".devnet/manifest.json"),
        chain_id=31337,
        block_time=1.0,
        fee_model="eip1559",
    )


# ------------------------------------------------------------------------------ malformed files


def test_valid_template_loads(tmp_path: Path) -> None:
    chain = load_chain(write(tmp_path, VALID))
    assert chain.dex_named("sushiswap") == DexConfig(
        kind="uniswap_v2",
        name="sushiswap",
        factory="0xc35DADB65012eC5796536bD9864eD8773aBc74C4",
        fee_bps=30,
    )
    assert chain.fee_model == "legacy"
    assert chain.lending_named("venus_core").liquidator is None


def test_bad_toml_syntax_reports_line_and_column(tmp_path: Path) -> None:
    err = load_error(tmp_path, VALID.replace('fee_model = "legacy"', "fee_model = legacy"))
    assert err.key_path == "line 5, column 13"
    assert "invalid TOML" in str(err)


def test_unknown_key_suggests_the_right_one(tmp_path: Path) -> None:
    err = load_error(tmp_path, VALID.replace("factory = ", "factroy = ", 1))
    assert err.key_path == "dex[0].factroy"
    assert "unknown key (did you mean 'factory'?)" in str(err)


def test_unknown_top_level_key(tmp_path: Path) -> None:
    err = load_error(tmp_path, VALID.replace("block_time", "blocktime"))
    assert err.key_path == "blocktime"
    assert "did you mean 'block_time'?" in err.message


def test_key_of_another_kind_is_named(tmp_path: Path) -> None:
    text = VALID.replace(
        'name = "venus_core"', 'name = "venus_core"\ncomet = "0x' + "ab" * 20 + '"'
    )
    err = load_error(tmp_path, text)
    assert err.key_path == "lending[0].comet"
    assert "does not apply to kind 'venus' (only to 'compound_v3')" in err.message


def test_bad_address(tmp_path: Path) -> None:
    err = load_error(tmp_path, VALID.replace("0xc35DADB65012eC5796536bD9864eD8773aBc74C4", "0x12"))
    assert str(err) == (
        f"{tmp_path / 'bsc.toml'}: dex[1].factory: '0x12' is not a valid address "
        "(0x and 40 hex digits)"
    )


def test_wrongly_checksummed_address_is_rejected(tmp_path: Path) -> None:
    typo = "0xCA143Ce32Fe78f1f7019d7d551a6402fC5350c73"  # one letter's case flipped
    err = load_error(tmp_path, VALID.replace("0xcA143Ce32Fe78f1f7019d7d551a6402fC5350c73", typo))
    assert err.key_path == "dex[0].factory"
    assert "checksum" in err.message


def test_lowercase_address_is_normalised_to_checksum(tmp_path: Path) -> None:
    checksummed = "0xcA143Ce32Fe78f1f7019d7d551a6402fC5350c73"
    chain = load_chain(write(tmp_path, VALID.replace(checksummed, checksummed.lower())))
    assert chain.dex[0].factory == checksummed


def test_zero_address_is_rejected(tmp_path: Path) -> None:
    zero = "0x" + "0" * 40
    err = load_error(tmp_path, VALID.replace("0xfD36E2c2a6789Db23113685031d7F16329158384", zero))
    assert err.key_path == "lending[0].comptroller"


def test_wrong_type(tmp_path: Path) -> None:
    err = load_error(tmp_path, VALID.replace("chain_id = 56", 'chain_id = "56"'))
    assert err.key_path == "chain_id"
    assert err.message == "expected an integer, got string '56'"


def test_boolean_is_not_an_integer(tmp_path: Path) -> None:
    err = load_error(tmp_path, VALID.replace("fee_bps = 25", "fee_bps = true"))
    assert err.key_path == "dex[0].fee_bps"


def test_missing_required_key(tmp_path: Path) -> None:
    err = load_error(
        tmp_path,
        VALID.replace('multicall3 = "' + "0xcA11bde05977b3631167028862bE2a173976CA11" + '"\n', ""),
    )
    assert err.key_path == "multicall3"
    assert err.message == "required key is missing"


def test_missing_required_key_of_a_kind(tmp_path: Path) -> None:
    err = load_error(tmp_path, VALID.replace("fee_bps = 30\n", ""))
    assert err.key_path == "dex[1].fee_bps"


def test_bad_fee_model(tmp_path: Path) -> None:
    err = load_error(tmp_path, VALID.replace('"legacy"', '"eip-1559"'))
    assert err.key_path == "fee_model"
    assert "'eip-1559' is not a valid choice (did you mean 'eip1559'?)" in err.message


def test_bad_kind(tmp_path: Path) -> None:
    err = load_error(tmp_path, VALID.replace('kind = "venus"', 'kind = "venus_v2"'))
    assert err.key_path == "lending[0].kind"
    assert "did you mean 'venus'?" in err.message


def test_duplicate_dex_name(tmp_path: Path) -> None:
    err = load_error(tmp_path, VALID.replace('name = "sushiswap"', 'name = "pancakeswap_v2"'))
    assert err.key_path == "dex[1].name"
    assert err.message == "duplicate dex name 'pancakeswap_v2' (also at dex[0].name)"


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("chain_id = 56", "chain_id = 0", "chain_id"),
        ("chain_id = 56", "chain_id = -1", "chain_id"),
        ("block_time = 0.45", "block_time = 0", "block_time"),
        ("block_time = 0.45", "block_time = nan", "block_time"),
        ("fee_bps = 25", "fee_bps = 10000", "dex[0].fee_bps"),
        ('name = "sushiswap"', 'name = "Sushi Swap"', "dex[1].name"),
        ("rpc_urls = []", 'rpc_urls = ["ftp://node.example"]', "rpc_urls[0]"),
        ("rpc_urls = []", 'rpc_urls = ["localhost:8545"]', "rpc_urls[0]"),
        ("ws_urls = []", 'ws_urls = ["https://node.example"]', "ws_urls[0]"),
        ("rpc_urls = []", 'rpc_urls = "https://node.example"', "rpc_urls"),
        ("[[lending]]", "[lending]", "lending"),
    ],
)
def test_bad_values(tmp_path: Path, old: str, new: str, key: str) -> None:
    assert old in VALID
    err = load_error(tmp_path, VALID.replace(old, new, 1))
    assert err.key_path == key


def test_urls_accept_the_four_schemes(tmp_path: Path) -> None:
    text = VALID.replace(
        "rpc_urls = []",
        'rpc_urls = ["http://127.0.0.1:8545", "https://a.example", "wss://b.example"]',
    )
    chain = load_chain(write(tmp_path, text))
    assert chain.rpc_urls == ("http://127.0.0.1:8545", "https://a.example", "wss://b.example")


def test_missing_file_and_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_chain(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match=r"no chain files"):
        load_chains(tmp_path)


def test_duplicate_chain_id_across_files(tmp_path: Path) -> None:
    write(tmp_path, VALID, "a.toml")
    write(tmp_path, VALID.replace('"testchain"', '"other"'), "b.toml")
    with pytest.raises(ConfigError) as info:
        load_chains(tmp_path)
    assert str(info.value) == f"{tmp_path / 'b.toml'}: chain_id: 56 is already used by a.toml"


# ------------------------------------------------------------------------------------- frozen


def test_config_objects_are_frozen(tmp_path: Path) -> None:
    chain = load_chain(write(tmp_path, VALID))
    with pytest.raises(dataclasses.FrozenInstanceError):
        chain.chain_id = 1  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        chain.dex[0].factory = "0x0"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        chain.flash_loans[0].fee_bps = 0  # type: ignore[misc]
    assert isinstance(chain.dex, tuple) and isinstance(chain.rpc_urls, tuple)
    assert not hasattr(chain, "__dict__"), "slots=True"


# --------------------------------------------------------------------------------- app config


def app_setup(tmp_path: Path, app_text: str) -> Path:
    chains = tmp_path / "chains"
    chains.mkdir()
    write(chains, VALID, "testchain.toml")
    return write(tmp_path, app_text, "app.toml")


def test_app_config_takes_nodes_from_rpc_table_and_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_NODE_KEY", "s3cret")
    path = app_setup(
        tmp_path,
        'mode = "live"\nchains = ["testchain"]\n\n[rpc.testchain]\n'
        'rpc_urls = ["https://node.example/${TEST_NODE_KEY}"]\nws_urls = ["wss://node.example"]\n',
    )
    app = load_app_config(path)
    assert isinstance(app, AppConfig) and app.mode == "live" and app.devnet is None
    chain = app.chain("testchain")
    assert isinstance(chain, ChainConfig)
    assert chain.rpc_urls == ("https://node.example/s3cret",)
    assert chain.ws_urls == ("wss://node.example",)
    with pytest.raises(KeyError, match="did you mean 'testchain'"):
        app.chain("testchian")


@pytest.mark.parametrize(
    ("text", "key", "needle"),
    [
        ('mode = "paper"\nchains = ["testchain"]\n', "rpc.testchain.rpc_urls", "bring your own"),
        ('mode = "paper"\nchains = ["testchian"]\n', "chains[0]", "did you mean 'testchain'"),
        ('mode = "paper"\n', "", "no chains"),
        ('mode = "dry"\nchains = ["testchain"]\n', "mode", "not a valid choice"),
        (
            'mode = "paper"\nchains = ["testchain", "testchain"]\n',
            "chains[1]",
            "listed twice",
        ),
        (
            'mode = "paper"\nchains = ["testchain"]\n[rpc.testchian]\nrpc_urls = ["http://a.b"]\n',
            "rpc.testchian",
            "not in chains",
        ),
        (
            'mode = "paper"\nchains = ["testchain"]\n[rpc.testchain]\nrpc_urls = ["http://${NO_SUCH_VAR_X}"]\n',
            "rpc.testchain.rpc_urls[0]",
            "NO_SUCH_VAR_X is not set",
        ),
        ('mode = "paper"\n[devnet]\nchain_id = 31337\n', "devnet.manifest", "required"),
        (
            'mode = "paper"\n[devnet]\nmanifest = "m.json"\nchainid = 1\n',
            "devnet.chainid",
            "chain_id",
        ),
    ],
)
def test_app_config_errors(tmp_path: Path, text: str, key: str, needle: str) -> None:
    path = app_setup(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_app_config(path)
    assert info.value.path == path
    assert info.value.key_path == key
    assert needle in info.value.message


# ------------------------------------------------------------------------------------- devnet

MANIFEST = {
    "rpc_url": "http://127.0.0.1:8545",
    "ws_url": "ws://127.0.0.1:8545",
    "chain_id": 31337,
    "tokens": {"WETH": "0x5fbdb2315678afecb367f032d93f642f64180aa3"},
    "multicall": "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
}


def test_devnet_chain_from_manifest(tmp_path: Path) -> None:
    devnet = DevnetConfig(manifest=tmp_path / "manifest.json")
    chain = devnet_chain(devnet, MANIFEST)
    assert chain.name == "devnet" and chain.chain_id == 31337
    assert chain.rpc_urls == ("http://127.0.0.1:8545",)
    assert chain.ws_urls == ("ws://127.0.0.1:8545",)
    assert chain.wrapped_native == "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def test_devnet_manifest_errors(tmp_path: Path) -> None:
    devnet = DevnetConfig(manifest=tmp_path / "manifest.json")
    with pytest.raises(ConfigError, match="tallyio devnet up"):
        load_manifest(devnet)
    with pytest.raises(ConfigError, match="chain_id: the manifest is for chain 1"):
        devnet_chain(devnet, {**MANIFEST, "chain_id": 1})
    with pytest.raises(ConfigError, match=r"tokens\.WETH: required key is missing"):
        devnet_chain(devnet, {**MANIFEST, "tokens": {}})
    (tmp_path / "manifest.json").write_text('{"chain_id": 31337,')
    with pytest.raises(ConfigError, match="line 1"):
        load_manifest(devnet)
