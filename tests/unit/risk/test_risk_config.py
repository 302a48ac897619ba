"""Risk config: the shipped files load; every mistake names the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from risk_helpers import CONFIG, WETH, write_config

from tallyio.app.config_schema import ConfigError
from tallyio.core.opportunity import ETH
from tallyio.risk import load_risk_config

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("name", ["default", "devnet"])
def test_shipped_files_load(name: str) -> None:
    config = load_risk_config(ROOT / "config" / "risk" / f"{name}.toml")
    assert config.limits.max_gas_price > 0 and config.breaker.max_failures > 0


def test_units_layers_and_exposure(tmp_path: Path) -> None:
    config = load_risk_config(write_config(tmp_path))
    assert config.limits.max_gas_price == 100 * 10**9
    assert config.limits.min_profit == ETH // 100
    assert config.limits_for("arbitrage", 56).max_gas_price == 5 * 10**9
    assert config.limits_for("arbitrage", 1).max_gas_price == 50 * 10**9
    assert config.limits_for("other", 56).max_gas_price == 100 * 10**9
    (limit,) = config.exposure
    assert (limit.chain_id, limit.token.lower(), limit.max_amount) == (1, WETH, 10 * ETH)


def _error(tmp_path: Path, old: str, new: str) -> ConfigError:
    assert old in CONFIG
    path = write_config(tmp_path, CONFIG.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        load_risk_config(path)
    assert info.value.path == path
    return info.value


@pytest.mark.parametrize(
    ("old", "new", "key", "words"),
    [
        ("max_notional_usd = 100_000", "max_notional = 1", "limits.max_notional",
         "did you mean 'max_notional_usd'"),
        ("max_flash_loan_usd = 500_000\n", "", "limits.max_flash_loan_usd", "required"),
        ('max_gas_price = "100 gwei"', 'max_gas_price = "100 gwie"', "limits.max_gas_price",
         "unit"),
        ('max_gas_price = "100 gwei"', 'max_gas_price = "0.5 wei"', "limits.max_gas_price",
         "whole number of wei"),
        ('max_gas_price = "100 gwei"', "max_gas_price = 1.5", "limits.max_gas_price", "float"),
        ("max_slippage_bps = 200", "max_slippage_bps = 10001", "limits.max_slippage_bps", "bps"),
        ("max_failures = 3", "max_failures = 0", "breaker.max_failures", "positive"),
        ("[strategies.arbitrage.chains.bsc]", "[strategies.arbitrage.chains.polygon]",
         "strategies.arbitrage.chains.polygon", "no [chains.polygon]"),
        ("[chains.bsc]\nchain_id = 56", "[chains.bsc]\nchain_id = 1", "chains.bsc.chain_id",
         "also chains.ethereum"),
        ('max_amount = "10"', 'max_amount = "1e-30"', "exposure[0].max_amount", "base units"),
        ("min_profit = \"0.02 ether\"", "min_proft = 1", "strategies.arbitrage.min_proft",
         "did you mean 'min_profit'"),
    ],
)  # fmt: skip
def test_errors_name_the_key(tmp_path: Path, old: str, new: str, key: str, words: str) -> None:
    error = _error(tmp_path, old, new)
    assert error.key_path == key
    text = str(error).lower()
    assert str(error).startswith(str(tmp_path)) and words.lower() in text


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_risk_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_risk_config(write_config(tmp_path, "[limits\n"))
