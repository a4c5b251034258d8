"""Long-horizon trend: time-series momentum on daily candles, the family that votes on months.

The hourly strategies see hours; a falling market is a matter of months. Three bodies of
evidence say that an asset's own past months forecast its next ones:

- Moskowitz, Ooi & Pedersen (2012), "Time series momentum", Journal of Financial Economics
  104(2): in 58 futures and forward markets, the sign of an asset's past 12-month excess
  return predicts its next month's, and holding each asset long or short by that sign earned
  a positive return in every asset class, largest in the extreme markets (it did well in
  2008), with returns that partly reverse only after a year.
- Faber (2007), "A quantitative approach to tactical asset allocation", Journal of Wealth
  Management 9(4): hold an asset while its month-end price is above its 10-month simple moving
  average (about 200 trading days), cash otherwise — about the same return as holding, with
  much lower volatility and drawdowns (1901–2012 updates).
- Liu & Tsyvinski (2021), "Risks and returns of cryptocurrency", Review of Financial Studies
  34(6): Bitcoin, Ethereum and Ripple returns load on no stock, currency or commodity factor,
  but show strong time-series momentum — past returns over days to weeks predict returns over
  the following days to weeks (1–8 weeks ahead for Bitcoin).

So two strategies, each read from `trend_timeframe` candles (default `1d`), lengths in days:

`MovingAverageBand` (`trend_ma`, Faber's rule with a band): BUY while the close is above its
`trend_ma_days` simple moving average by more than `trend_band` (close > MA × (1 + band)), SELL
while it is below by more (close < MA × (1 − band)). Inside the band the side of the latest
break *within the last `trend_ma_days`* holds (a band stops a close hovering on the average from
flipping the vote every day); with no break in that window the vote is HOLD. The memory is
bounded on purpose: the vote is a pure function of the last 2 × `trend_ma_days` − 1 candles,
so a live engine with a few hundred daily candles and a backtest with years of them agree.

`LookbackScore` (`trend_score`, time-series momentum over several horizons): the return over
each of `trend_lookbacks` days (default 20, 60, 120, 200: a month to most of a year); BUY
when at least `trend_share` of them are positive, SELL when at least that share is negative,
HOLD otherwise. Several horizons instead of MOP's single 12 months: crypto's momentum is
strongest at weeks (Liu & Tsyvinski), and the share says how broad the trend is.

Indicators (in `ballast signals --json`): `ma_<N>d` (the average), `ma_<N>d_gap` (close / MA −
1), `ma_<N>d_side` (+1 / −1: the latest band break in the window was above / below, 0: none),
`return_<L>d` per lookback and `trend_share` (the share of lookbacks up).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from core.config.rules import SignalSettings
from core.market.candles import timeframe_ms
from core.signals.indicators import FloatArray, num, sma


def candles_per_day(settings: SignalSettings) -> int:
    """How many `trend_timeframe` candles make a day (1 for `1d`, 24 for `1h`)."""
    return timeframe_ms("1d") // timeframe_ms(settings.trend_timeframe)


def _percent(fraction: float) -> str:
    return f"{abs(fraction) * 100:.1f}%"


def _signed_percent(fraction: float) -> str:
    return f"{fraction * 100:+.1f}%".replace("-", "−")


class MovingAverageBand:
    """Close against its long simple moving average, with a band (module docs)."""

    name = "trend_ma"
    crossing = False

    def timeframe(self, settings: SignalSettings) -> str:
        return settings.trend_timeframe

    def label(self, settings: SignalSettings) -> str:
        return f"MA({settings.trend_ma_days}d, ±{settings.trend_band * 100:g}%)"

    def _length(self, settings: SignalSettings) -> int:
        return settings.trend_ma_days * candles_per_day(settings)

    def candles_needed(self, settings: SignalSettings) -> int:
        # The average needs its window; a break is remembered for one window more.
        return 2 * self._length(settings) - 1

    def compute(self, candles: pd.DataFrame, settings: SignalSettings) -> dict[str, FloatArray]:
        close = candles["close"].to_numpy(dtype=np.float64)
        length = self._length(settings)
        average = sma(close, length)
        with np.errstate(invalid="ignore"):
            above = close > average * (1 + settings.trend_band)
            below = close < average * (1 - settings.trend_band)
        index = np.arange(close.size)
        last_break = np.maximum.accumulate(np.where(above | below, index, -1))
        recent = (last_break >= 0) & (index - last_break < length)
        side = np.where(recent, np.where(above[np.maximum(last_break, 0)], 1.0, -1.0), 0.0)
        key = f"ma_{settings.trend_ma_days}d"
        return {
            key: average,
            f"{key}_gap": close / average - 1,
            f"{key}_side": np.where(np.isnan(average), np.nan, side),
        }

    def states(
        self, indicators: Mapping[str, FloatArray], close: FloatArray, settings: SignalSettings
    ) -> FloatArray:
        return indicators[f"ma_{settings.trend_ma_days}d_side"]

    def explain(
        self,
        values: Mapping[str, float],
        close: float,
        state: int,
        crossed: bool,
        settings: SignalSettings,
    ) -> str:
        days, band = settings.trend_ma_days, settings.trend_band
        key = f"ma_{days}d"
        gap = values[f"{key}_gap"]
        where = (f"price {_percent(gap)} {'above' if gap >= 0 else 'below'} its {days}-day "
                 f"average {num(values[key])}")
        if abs(gap) > band:
            return where
        if state == 0:
            return f"{where}: inside the ±{band * 100:g}% band, no break in {days} days"
        side = "above" if state > 0 else "below"
        return f"{where}: inside the ±{band * 100:g}% band, last broke out {side} it"


class LookbackScore:
    """The share of several lookbacks with a positive return (module docs)."""

    name = "trend_score"
    crossing = False

    def timeframe(self, settings: SignalSettings) -> str:
        return settings.trend_timeframe

    def label(self, settings: SignalSettings) -> str:
        days = "/".join(str(d) for d in settings.trend_lookbacks)
        return f"momentum({days}d)"

    def candles_needed(self, settings: SignalSettings) -> int:
        return max(settings.trend_lookbacks) * candles_per_day(settings) + 1

    def compute(self, candles: pd.DataFrame, settings: SignalSettings) -> dict[str, FloatArray]:
        close = candles["close"].to_numpy(dtype=np.float64)
        per_day = candles_per_day(settings)
        values: dict[str, FloatArray] = {}
        ups = np.zeros(close.size)
        for days in settings.trend_lookbacks:
            back = days * per_day
            change = np.full(close.size, np.nan)
            change[back:] = close[back:] / close[:-back] - 1
            values[f"return_{days}d"] = change
            ups += change > 0
        share = ups / len(settings.trend_lookbacks)
        share[:max(settings.trend_lookbacks) * per_day] = np.nan  # until every return is known
        values["trend_share"] = share
        return values

    def states(
        self, indicators: Mapping[str, FloatArray], close: FloatArray, settings: SignalSettings
    ) -> FloatArray:
        count = len(settings.trend_lookbacks)
        downs = sum((indicators[f"return_{d}d"] < 0).astype(np.float64)
                    for d in settings.trend_lookbacks)
        share_up = indicators["trend_share"]
        # Shares are k / count: compare with a little slack for the float division.
        state = np.where(share_up >= settings.trend_share - 1e-9, 1.0,
                         np.where(downs / count >= settings.trend_share - 1e-9, -1.0, 0.0))
        return np.where(np.isnan(share_up), np.nan, state)

    def explain(
        self,
        values: Mapping[str, float],
        close: float,
        state: int,
        crossed: bool,
        settings: SignalSettings,
    ) -> str:
        lookbacks = settings.trend_lookbacks
        changes = [values[f"return_{d}d"] for d in lookbacks]
        up = sum(1 for change in changes if change > 0)
        each = ", ".join(f"{d}d {_signed_percent(c)}" for d, c in zip(lookbacks, changes,
                                                                      strict=True))
        return f"{up} of {len(lookbacks)} lookbacks up ({each})"
