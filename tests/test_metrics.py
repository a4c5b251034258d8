"""Metrics on constructed equity curves whose answers are known in closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.backtest.metrics import (
    MS_PER_DAY,
    MS_PER_YEAR,
    max_drawdown,
    measure,
    period_returns,
    periods_per_year,
    sharpe,
    sortino,
)

HOUR = 3_600_000


def curve_from_returns(start: float, returns: list[float]) -> list[float]:
    curve = [start]
    for r in returns:
        curve.append(curve[-1] * (1 + r))
    return curve


def test_a_year_of_hourly_candles_has_8760_periods() -> None:
    assert periods_per_year("1h") == 8760
    assert periods_per_year("1d") == 365


def test_unknown_timeframe_is_named() -> None:
    with pytest.raises(ValueError, match="'7h'"):
        periods_per_year("7h")


def test_steady_growth_compounds_to_the_closed_form() -> None:
    growth = 0.0001
    n = 8760  # one year of hourly candles
    curve = [1000 * (1 + growth) ** i for i in range(n + 1)]
    m = measure(curve, [i * HOUR for i in range(n + 1)], "1h")
    expected = (1 + growth) ** n - 1
    assert m.total_return == pytest.approx(expected, rel=1e-9)
    # exactly one year elapsed, so CAGR equals the total return
    assert m.cagr == pytest.approx(expected, rel=1e-9)
    assert m.final_value == pytest.approx(1000 * (1 + growth) ** n)
    assert m.max_drawdown == 0.0
    # constant returns have no spread and no downside: the ratios are undefined, reported as 0
    assert m.sharpe == 0.0
    assert m.sortino == 0.0


def test_cagr_over_two_years_is_the_square_root_of_the_growth() -> None:
    m = measure([100.0, 121.0], [0, 2 * MS_PER_YEAR], "1d")
    assert m.total_return == pytest.approx(0.21)
    assert m.cagr == pytest.approx(0.10)


def test_sharpe_of_alternating_returns() -> None:
    # +2%, -1% repeated k times: mean 0.005, each return 0.015 from the mean
    k = 50
    returns = [0.02, -0.01] * k
    expected_std = math.sqrt(2 * k * 0.015**2 / (2 * k - 1))
    expected = 0.005 / expected_std * math.sqrt(8760)
    assert sharpe(returns, 8760) == pytest.approx(expected, rel=1e-12)
    curve = curve_from_returns(1000.0, returns)
    m = measure(curve, [i * HOUR for i in range(len(curve))], "1h")
    assert m.sharpe == pytest.approx(expected, rel=1e-9)


def test_sortino_uses_downside_deviation_over_all_periods() -> None:
    returns = [0.03, -0.01, 0.02, -0.02]
    # DD = sqrt((0.01² + 0.02²) / 4): gains count as zero downside, not dropped
    downside = math.sqrt((0.0001 + 0.0004) / 4)
    expected = 0.005 / downside * math.sqrt(365)
    assert sortino(returns, 365) == pytest.approx(expected, rel=1e-12)
    curve = curve_from_returns(500.0, returns)
    m = measure(curve, [i * MS_PER_DAY for i in range(5)], "1d")
    assert m.sortino == pytest.approx(expected, rel=1e-9)
    assert m.sortino == pytest.approx(8.5440037, rel=1e-6)


def test_max_drawdown_is_the_worst_fall_from_a_running_peak() -> None:
    # peaks 100,120,120,150,150,150 → falls 0, 0, -25%, 0, -50%, -46.7%
    assert max_drawdown([100, 120, 90, 150, 75, 80]) == pytest.approx(-0.5)


def test_period_returns() -> None:
    assert period_returns([100, 110, 99]).tolist() == pytest.approx([0.1, -0.1])


def test_turnover_and_average_cash() -> None:
    curve = [100.0, 100.0, 100.0, 100.0]
    m = measure(
        curve,
        [0, HOUR, 2 * HOUR, 3 * HOUR],
        "1h",
        cash_share=[0.1, 0.2, 0.3, 0.4],
        traded_value=250.0,
        fees_paid=0.25,
        trades=3,
    )
    assert m.turnover == pytest.approx(2.5)
    assert m.avg_cash == pytest.approx(0.25)
    assert m.fees_paid == 0.25
    assert m.trades == 3
    assert set(m.as_dict()) == {
        "final_value", "total_return", "cagr", "sharpe", "sortino", "max_drawdown",
        "trades", "fees_paid", "turnover", "avg_cash",
    }
    assert set(m.as_dict(trading=False)) == {
        "final_value", "total_return", "cagr", "sharpe", "sortino", "max_drawdown",
    }


def test_mismatched_timestamps_are_refused() -> None:
    with pytest.raises(ValueError, match="3 points but timestamps has 2"):
        measure([1.0, 2.0, 3.0], [0, 1], "1h")


@given(st.lists(st.floats(min_value=0.01, max_value=1e6), min_size=1, max_size=50))
def test_drawdown_is_between_minus_one_and_zero(values: list[float]) -> None:
    dd = max_drawdown(values)
    assert -1.0 <= dd <= 0.0
    # scaling the whole curve changes no ratio
    assert max_drawdown(np.array(values) * 3.7) == pytest.approx(dd, abs=1e-12)
