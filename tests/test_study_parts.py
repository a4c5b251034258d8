"""The study's pure parts: the grid, the folds, chaining curves and walk-forward choice."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.backtest.benchmarks import EquityCurve
from core.backtest.metrics import Metrics
from core.config.settings import Settings
from core.study.folds import DAY_MS, WEEK_MS, Period, shifted_starts, split_folds
from core.study.grid import config_name, expand_grid
from core.study.selection import chain, choose, on_clock, sampled_returns

KNOWN = set(Settings.model_fields)
HOUR = 3_600_000


def test_the_grid_is_the_cartesian_product_named_in_file_order() -> None:
    configs = expand_grid({"sell_rule": ["any", "majority"], "timeframe": ["1h", "1d"]}, KNOWN)
    assert [c.name for c in configs] == [
        "sell_rule=any,timeframe=1h", "sell_rule=any,timeframe=1d",
        "sell_rule=majority,timeframe=1h", "sell_rule=majority,timeframe=1d",
    ]
    assert configs[3].settings == {"sell_rule": "majority", "timeframe": "1d"}


def test_no_grid_is_the_defaults_alone() -> None:
    assert [(c.name, dict(c.settings)) for c in expand_grid({}, KNOWN)] == [("defaults", {})]


def test_values_read_plainly_in_names() -> None:
    name = config_name({"sell_on_signal": False, "strategies": ["rsi", "macd"], "min_cash": 0.25})
    assert name == "sell_on_signal=false,strategies=rsi+macd,min_cash=0.25"


def test_an_unknown_grid_key_is_named() -> None:
    with pytest.raises(ValueError, match="'sell_rules' is not a setting"):
        expand_grid({"sell_rules": ["any"]}, KNOWN)
    with pytest.raises(ValueError, match="'min_cash': give a non-empty list"):
        expand_grid({"min_cash": 0.2}, KNOWN)


@given(st.integers(1, 12), st.integers(30, 3000))
def test_folds_cover_the_period_back_to_back(folds: int, days: int) -> None:
    start = 1_609_459_200_000 + 5 * HOUR
    end = start + days * DAY_MS
    periods = split_folds(start, end, folds)
    assert len(periods) == folds
    assert periods[0].start_ms == start and periods[-1].end_ms == end
    for before, after in itertools.pairwise(periods):
        assert before.end_ms == after.start_ms
        assert after.start_ms % DAY_MS == 0
    lengths = [p.end_ms - p.start_ms for p in periods]
    assert max(lengths) - min(lengths) <= 2 * DAY_MS


def test_too_many_folds_are_refused() -> None:
    with pytest.raises(ValueError, match="shorter than a day"):
        split_folds(0, 3 * DAY_MS, 5)


def test_shifted_starts_keep_the_end() -> None:
    periods = shifted_starts(0, 100 * DAY_MS, (0, 2, 4))
    assert periods == [Period(0, 100 * DAY_MS), Period(2 * WEEK_MS, 100 * DAY_MS),
                       Period(4 * WEEK_MS, 100 * DAY_MS)]


def curve(start: int, values: list[float], trades: int = 0, fees: float = 0.0) -> EquityCurve:
    times = np.arange(start, start + len(values) * HOUR, HOUR, dtype=np.int64)
    return EquityCurve(times, np.array(values), np.full(len(values), 0.25), trades=trades,
                       fees_paid=fees, traded_value=fees * 1000)


def test_chained_folds_read_as_one_account() -> None:
    # Fold 1 doubles 100 → 200; fold 2 restarts at 100 and gains 10%: the account ends at 220
    # and fold 2's fees are money of an account twice the size.
    first = curve(0, [100, 150, 200], trades=2, fees=1.0)
    second = curve(2 * HOUR, [100, 105, 110], trades=3, fees=0.5)
    joined = chain([first, second])
    assert joined.times.tolist() == [0, HOUR, 2 * HOUR, 3 * HOUR, 4 * HOUR]
    assert joined.equity.tolist() == pytest.approx([100, 150, 200, 210, 220])
    assert joined.trades == 5
    assert joined.fees_paid == pytest.approx(1.0 + 0.5 * 2)
    assert joined.traded_value == pytest.approx(2000.0)


def test_sampled_returns_read_the_last_value_on_a_coarser_clock() -> None:
    hourly = curve(0, [100, 101, 102, 110, 120])
    clock = np.array([0, 2 * HOUR, 4 * HOUR], dtype=np.int64)
    assert sampled_returns(hourly, clock).tolist() == pytest.approx([0.02, 120 / 102 - 1])


def metrics(sharpe: float, trades: int) -> Metrics:
    return Metrics(0, 0, 0, sharpe, 0, 0, trades, 0, 0, 0)


def test_the_criterion_takes_the_best_sharpe_under_the_trades_cap() -> None:
    fold = [metrics(2.0, 500), metrics(1.2, 150), metrics(1.5, 199), metrics(1.5, 120)]
    # One year allows 200 trades: config 0 trades too much; 2 and 3 tie on Sharpe, 3 trades
    # less. Three years allow 600: config 0 qualifies and wins.
    assert choose(fold, years=1.0) == 3
    assert choose(fold, years=3.0) == 0


def test_when_every_config_trades_too_much_the_best_sharpe_wins() -> None:
    assert choose([metrics(0.5, 900), metrics(0.9, 1000)], years=1.0) == 1


def test_on_clock_reads_a_curve_at_coarser_points_with_its_costs() -> None:
    hourly = curve(0, [100, 101, 102, 110, 120], trades=4, fees=2.0)
    daily = on_clock(hourly, np.array([0, 2 * HOUR, 4 * HOUR], dtype=np.int64))
    assert daily.equity.tolist() == [100, 102, 120]
    assert daily.times.tolist() == [0, 2 * HOUR, 4 * HOUR]
    assert (daily.trades, daily.fees_paid) == (4, 2.0)
