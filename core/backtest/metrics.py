"""Performance metrics of an equity curve (docs/formats.md). Pure: arrays in, numbers out.

Conventions, chosen once so that Ballast and both benchmarks are measured the same way:

- The equity curve holds one value per candle close on the backtest clock, the first being the
  starting value before any trade. Per-candle returns are ``e[i] / e[i-1] - 1``.
- Crypto trades every day, so a year is 365 days and a 1h timeframe has 8,760 periods a year.
- Sharpe = mean(r) / std(r, ddof=1) × √periods_per_year, risk-free rate 0.
- Sortino = mean(r) / DD × √periods_per_year, where DD is the downside deviation below a target
  of 0 taken over *all* periods (Sortino & Price): DD = √(mean(min(r, 0)²)). Periods with a gain
  count as zero downside rather than being dropped, so a curve that rarely loses scores high.
- A ratio whose denominator is zero (a flat curve, or no losing period for Sortino) is reported
  as 0.0: JSON has no infinity, and "undefined" should not read as "excellent".
- CAGR compounds the total return over the calendar span between the first and last equity
  points: (e_last / e_first) ** (1 / years) - 1.
- max_drawdown is the worst fall from a running peak, as a negative fraction (−0.35 = −35%).
- turnover is the total value traded (buys plus sells) divided by the average equity.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from core.market.candles import timeframe_ms

FloatArray = npt.NDArray[np.float64]

# Rounding noise in a "constant" return series leaves a spread around 1e-17; real per-candle
# returns spread by 1e-4 or more. Below this, a ratio's denominator counts as zero.
NUMERICALLY_ZERO = 1e-12

MS_PER_DAY = 24 * 3600 * 1000
MS_PER_YEAR = 365 * MS_PER_DAY
# Annualised figures (CAGR, Sharpe, Sortino) over fewer days than this say more about the
# arithmetic than the rules (a 2-day dip is "CAGR −99.9%"): summaries show them as n/a.
MIN_ANNUALISED_DAYS = 30
# A growth rate compounded up to a year from less than one is a forecast, not a result (a
# 30-day dip reads "CAGR −66.3%"): CAGR needs a year.
MIN_CAGR_DAYS = 365


def annualised_meaningful(days: float) -> bool:
    """Whether a period is long enough for annualised ratios (Sharpe, Sortino) to mean
    something."""
    return days >= MIN_ANNUALISED_DAYS


def cagr_meaningful(days: float) -> bool:
    """Whether a period is long enough for its CAGR to be a result rather than a forecast."""
    return days >= MIN_CAGR_DAYS


def periods_per_year(timeframe: str) -> float:
    """How many candles of `timeframe` a 365-day year holds (8,760 for 1h)."""
    return MS_PER_YEAR / timeframe_ms(timeframe)


def _as_array(values: Sequence[float] | FloatArray) -> FloatArray:
    return np.asarray(values, dtype=np.float64)


def period_returns(equity: Sequence[float] | FloatArray) -> FloatArray:
    """Per-candle simple returns of an equity curve (one fewer than the curve has points)."""
    curve = _as_array(equity)
    if curve.size < 2:
        return np.zeros(0, dtype=np.float64)
    return curve[1:] / curve[:-1] - 1.0


def total_return(equity: Sequence[float] | FloatArray) -> float:
    """Last value over first, minus one."""
    curve = _as_array(equity)
    if curve.size == 0 or curve[0] == 0:
        return 0.0
    return float(curve[-1] / curve[0] - 1.0)


def cagr(equity: Sequence[float] | FloatArray, years: float) -> float:
    """Compound annual growth rate over `years` (0.0 for an empty span or a wiped-out curve)."""
    curve = _as_array(equity)
    if curve.size == 0 or years <= 0 or curve[0] <= 0 or curve[-1] <= 0:
        return 0.0
    return float((curve[-1] / curve[0]) ** (1.0 / years) - 1.0)


def sharpe(returns: Sequence[float] | FloatArray, per_year: float) -> float:
    """Annualised Sharpe ratio of per-period returns, risk-free 0 (0.0 when undefined)."""
    r = _as_array(returns)
    if r.size < 2:
        return 0.0
    spread = float(np.std(r, ddof=1))
    if spread < NUMERICALLY_ZERO or not math.isfinite(spread):
        return 0.0
    return float(np.mean(r)) / spread * math.sqrt(per_year)


def sortino(returns: Sequence[float] | FloatArray, per_year: float) -> float:
    """Annualised Sortino ratio: mean over downside deviation below 0 (see module docs)."""
    r = _as_array(returns)
    if r.size == 0:
        return 0.0
    downside = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2)))
    if downside < NUMERICALLY_ZERO:
        return 0.0
    return float(np.mean(r)) / downside * math.sqrt(per_year)


def max_drawdown(equity: Sequence[float] | FloatArray) -> float:
    """The worst fall from a running peak, as a negative fraction (0.0 if it never fell)."""
    curve = _as_array(equity)
    if curve.size == 0:
        return 0.0
    peaks = np.maximum.accumulate(curve)
    with np.errstate(divide="ignore", invalid="ignore"):
        falls = np.where(peaks > 0, curve / peaks - 1.0, 0.0)
    return float(min(0.0, float(np.min(falls))))


@dataclass(frozen=True, slots=True)
class Metrics:
    """The figures of one strategy over one backtest (docs/formats.md)."""

    final_value: float
    total_return: float
    cagr: float
    sharpe: float
    sortino: float
    max_drawdown: float
    trades: int
    fees_paid: float
    turnover: float
    avg_cash: float

    def as_dict(self, *, trading: bool = True) -> dict[str, float | int]:
        """The JSON shape of docs/formats.md; `trading=False` leaves out the trading figures
        (hodl)."""
        shape: dict[str, float | int] = {
            "final_value": self.final_value,
            "total_return": self.total_return,
            "cagr": self.cagr,
            "sharpe": self.sharpe,
            "sortino": self.sortino,
            "max_drawdown": self.max_drawdown,
        }
        if trading:
            shape.update(
                trades=self.trades,
                fees_paid=self.fees_paid,
                turnover=self.turnover,
                avg_cash=self.avg_cash,
            )
        return shape


def measure(
    equity: Sequence[float] | FloatArray,
    timestamps: Sequence[int] | npt.NDArray[np.int64],
    timeframe: str,
    *,
    cash_share: Sequence[float] | FloatArray | None = None,
    traded_value: float = 0.0,
    fees_paid: float = 0.0,
    trades: int = 0,
) -> Metrics:
    """All metrics of one equity curve whose points sit at `timestamps` (epoch ms).

    `cash_share` is the cash fraction of equity at each point (for avg_cash); `traded_value`
    the total value of all fills, `fees_paid` their fees in the quote currency.
    """
    curve = _as_array(equity)
    times = np.asarray(timestamps, dtype=np.int64)
    if curve.size == 0:
        raise ValueError("an equity curve needs at least one point")
    if times.size != curve.size:
        raise ValueError(
            f"equity has {curve.size} points but timestamps has {times.size}: they must match"
        )
    years = float(times[-1] - times[0]) / MS_PER_YEAR
    returns = period_returns(curve)
    per_year = periods_per_year(timeframe)
    average_equity = float(np.mean(curve))
    shares = _as_array(cash_share) if cash_share is not None else np.zeros(0)
    return Metrics(
        final_value=float(curve[-1]),
        total_return=total_return(curve),
        cagr=cagr(curve, years),
        sharpe=sharpe(returns, per_year),
        sortino=sortino(returns, per_year),
        max_drawdown=max_drawdown(curve),
        trades=trades,
        fees_paid=fees_paid,
        turnover=traded_value / average_equity if average_equity > 0 else 0.0,
        avg_cash=float(np.mean(shares)) if shares.size else 0.0,
    )
