"""The vectorised sweep against a plain loop, incremental re-screens, and at_risk."""

from __future__ import annotations

import numpy as np

from tallyio.state.health import HealthBook, sweep


def book(n: int = 400, m: int = 4, seed: int = 1) -> HealthBook:
    rng = np.random.default_rng(seed)
    amounts = rng.uniform(0, 100, (n, 2 * m)) * (rng.random((n, 2 * m)) < 0.6)
    amounts[0, m:] = 0  # no debt
    return HealthBook(
        [f"0x{i:040x}" for i in range(n)],
        [f"asset{j}" for j in range(m)],
        np.ascontiguousarray(amounts.T),
        rng.uniform(0.5, 0.9, m),
        rng.uniform(1.0, 1.2, m),
        rng.uniform(1, 100, m),
    )


def reference(b: HealthBook, prices: np.ndarray) -> np.ndarray:
    m = len(prices)
    out = []
    for row in b.amounts.T:
        coll = sum(row[j] * b.coll_factor[j] * prices[j] for j in range(m))
        debt = sum(row[m + j] * b.debt_factor[j] * prices[j] for j in range(m))
        out.append(coll / debt if debt > 0 else np.inf)
    return np.array(out)


def test_sweep_equals_the_loop() -> None:
    b = book()
    np.testing.assert_allclose(sweep(b, b.prices), reference(b, b.prices), rtol=1e-12)
    assert np.isinf(b.hf[0])


def test_price_update_rescreens_only_holders_and_matches_a_full_sweep() -> None:
    b = book()
    untouched = b.holders(2)
    b.set_price("asset2", float(b.prices[2] * 0.5))
    np.testing.assert_allclose(b.hf, sweep(b, b.prices), rtol=1e-12)
    assert len(untouched) < len(b.accounts)


def test_rows_factors_and_at_risk() -> None:
    b = book(50)
    row = np.zeros(8)
    row[0], row[4] = 1.0, 10.0
    b.set_row("0xnew", row)
    b.set_factors("asset1", 0.1, 2.0)
    np.testing.assert_allclose(b.hf, sweep(b, b.prices), rtol=1e-12)
    risky = b.at_risk(1.0)
    assert "0xnew" in risky
    assert set(risky) == {a for a, h in zip(b.accounts, b.hf, strict=True) if h < 1.0}
