"""Chaining fold curves, sampling them on one clock, and walk-forward selection. Pure.

Every fold restarts from the starting portfolio's quantities. Chained, fold k's curve is scaled
to begin where fold k−1's ended, so the chain reads as one account that lived through all the
folds; its fees and traded value scale with it (they are money of that account).

Walk-forward selection (`CRITERION`): on fold k−1, among configurations that traded at most
`MAX_TRADES_PER_YEAR` times a year (all of them if none did), take the highest Sharpe ratio
(after fees: the equity curve pays them); ties go to fewer trades, then to the earlier config
in the grid. That choice is reported on fold k, which it never saw.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.backtest.benchmarks import EquityCurve
from core.backtest.history import FloatArray, IntArray
from core.backtest.metrics import Metrics

MAX_TRADES_PER_YEAR = 200
CRITERION = (
    f"highest Sharpe ratio after fees on fold k-1 among configurations with at most "
    f"{MAX_TRADES_PER_YEAR} trades a year (all of them if none), fewer trades on a tie; "
    "reported on fold k"
)


def chain(curves: Sequence[EquityCurve]) -> EquityCurve:
    """The folds' curves as one account: each fold starts at the value the previous ended."""
    if not curves:
        raise ValueError("nothing to chain: no fold curves")
    times: list[IntArray] = [curves[0].times]
    equity: list[FloatArray] = [curves[0].equity]
    cash: list[FloatArray] = [curves[0].cash_share]
    trades = curves[0].trades
    fees = curves[0].fees_paid
    traded = curves[0].traded_value
    buys = [c.buy_times for c in curves]
    sells = [c.sell_times for c in curves]
    level = float(curves[0].equity[-1])
    for curve in curves[1:]:
        scale = level / float(curve.equity[0]) if curve.equity[0] > 0 else 0.0
        times.append(curve.times[1:])
        equity.append(curve.equity[1:] * scale)
        cash.append(curve.cash_share[1:])
        trades += curve.trades
        fees += curve.fees_paid * scale
        traded += curve.traded_value * scale
        level = float(curve.equity[-1]) * scale
    return EquityCurve(np.concatenate(times), np.concatenate(equity), np.concatenate(cash),
                       trades=trades, fees_paid=fees, traded_value=traded,
                       buy_times=np.concatenate(buys), sell_times=np.concatenate(sells))


def on_clock(curve: EquityCurve, clock: IntArray) -> EquityCurve:
    """The curve read at the points of `clock` (epoch ms), each as its last value by then.

    Configurations with different timeframes (or candle gaps) meet on one clock this way.
    """
    index = np.clip(np.searchsorted(curve.times, clock, side="right") - 1, 0,
                    curve.times.size - 1)
    return EquityCurve(clock, curve.equity[index], curve.cash_share[index], trades=curve.trades,
                       fees_paid=curve.fees_paid, traded_value=curve.traded_value,
                       buy_times=curve.buy_times, sell_times=curve.sell_times)


def sampled_returns(curve: EquityCurve, clock: IntArray) -> FloatArray:
    """Returns between the points of `clock`, the curve read with `on_clock`."""
    values = on_clock(curve, clock).equity
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = np.where(values[:-1] > 0, values[1:] / values[:-1] - 1.0, 0.0)
    return np.asarray(returns, dtype=np.float64)


def choose(fold: Sequence[Metrics], years: float) -> int:
    """The index of the configuration `CRITERION` picks from one fold's metrics."""
    if not fold:
        raise ValueError("no configurations to choose from")
    cap = MAX_TRADES_PER_YEAR * max(years, 1e-9)
    eligible = [i for i, m in enumerate(fold) if m.trades <= cap] or list(range(len(fold)))
    return min(eligible, key=lambda i: (-fold[i].sharpe, fold[i].trades, i))

