"""Mean-reversion strategies: a price stretched too far votes against the stretch.

`Rsi` (overbought sells, oversold buys) and `BollingerBreak` (a close outside the bands). Both
vote their state while it lasts; `core.signals.strategies` registers them.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from core.config.rules import SignalSettings
from core.signals.indicators import (
    FloatArray,
    as_floats,
    num,
    sign_beyond_rounding,
    sma,
    ta,
    wilder_average,
)


class Rsi:
    """RSI overbought/oversold: above `rsi_overbought` sells, below `rsi_oversold` buys.

    Wilder's RSI, smoothed with pandas-ta's `rma` (alpha = 1/period) and seeded, as Wilder
    does, with the average of the first `period` gains and losses. (`pandas_ta.rsi` starts the
    smoothing from the first change instead: its RSI(14) is still 9% off the textbook 20
    candles in, a difference that only fades after ~200 candles; seeded, the values are the
    textbook ones from the first.)
    """

    name = "rsi"
    crossing = False

    def timeframe(self, settings: SignalSettings) -> str:
        return settings.timeframe

    def label(self, settings: SignalSettings) -> str:
        return f"RSI({settings.rsi_period})"

    def candles_needed(self, settings: SignalSettings) -> int:
        return settings.rsi_period + 1

    def compute(self, candles: pd.DataFrame, settings: SignalSettings) -> dict[str, FloatArray]:
        period = settings.rsi_period
        close = candles["close"].to_numpy(dtype=np.float64)
        change = np.diff(close, prepend=np.nan)
        gain = wilder_average(np.clip(change, 0.0, None), period)
        loss = wilder_average(np.clip(-change, 0.0, None), period)
        with np.errstate(invalid="ignore", divide="ignore"):
            # Without any move in the window (gain = loss = 0) the RSI is undefined: NaN.
            values = 100.0 * gain / (gain + loss)
        return {f"rsi_{period}": values}

    def states(
        self, indicators: Mapping[str, FloatArray], close: FloatArray, settings: SignalSettings
    ) -> FloatArray:
        rsi = indicators[f"rsi_{settings.rsi_period}"]
        state = np.where(rsi > settings.rsi_overbought, -1.0,
                         np.where(rsi < settings.rsi_oversold, 1.0, 0.0))
        return np.where(np.isnan(rsi), np.nan, state)

    def explain(
        self,
        values: Mapping[str, float],
        close: float,
        state: int,
        crossed: bool,
        settings: SignalSettings,
    ) -> str:
        rsi = values[f"rsi_{settings.rsi_period}"]
        label = self.label(settings)
        high, low = settings.rsi_overbought, settings.rsi_oversold
        if state < 0:
            return f"{label} {rsi:.1f} > {high:g}"
        if state > 0:
            return f"{label} {rsi:.1f} < {low:g}"
        return f"{label} {rsi:.1f} within {low:g}–{high:g}"


class BollingerBreak:
    """Bollinger band break: a close above the upper band sells, below the lower band buys.

    Mean reversion, like the RSI: a close outside the bands is stretched. The bands use the
    population standard deviation, as Bollinger defines them.
    """

    name = "bollinger"
    crossing = False

    def timeframe(self, settings: SignalSettings) -> str:
        return settings.timeframe

    def label(self, settings: SignalSettings) -> str:
        return f"BB({settings.bb_period},{settings.bb_std:g})"

    def candles_needed(self, settings: SignalSettings) -> int:
        return settings.bb_period

    def compute(self, candles: pd.DataFrame, settings: SignalSettings) -> dict[str, FloatArray]:
        # Built from pandas-ta's `sma` (`core.signals.indicators.sma`) and `stdev` exactly as
        # `ta.bbands` builds the bands (same values), without its bandwidth and %B columns,
        # which cost four times as much.
        close, size = candles["close"], len(candles)
        period = settings.bb_period
        mid = sma(close.to_numpy(dtype=np.float64), period)
        deviation = as_floats(ta.stdev(close, length=period, ddof=0, talib=False), size)
        width = settings.bb_std * deviation
        return {"bb_upper": mid + width, "bb_lower": mid - width}

    def states(
        self, indicators: Mapping[str, FloatArray], close: FloatArray, settings: SignalSettings
    ) -> FloatArray:
        upper, lower = indicators["bb_upper"], indicators["bb_lower"]
        above = sign_beyond_rounding(close - upper, close) > 0
        below = sign_beyond_rounding(close - lower, close) < 0
        state = np.where(above, -1.0, np.where(below, 1.0, 0.0))
        return np.where(np.isnan(upper) | np.isnan(lower), np.nan, state)

    def explain(
        self,
        values: Mapping[str, float],
        close: float,
        state: int,
        crossed: bool,
        settings: SignalSettings,
    ) -> str:
        label = self.label(settings)
        upper, lower = num(values["bb_upper"]), num(values["bb_lower"])
        if state < 0:
            return f"close {num(close)} > {label} upper {upper}"
        if state > 0:
            return f"close {num(close)} < {label} lower {lower}"
        return f"close {num(close)} within {label} {lower}–{upper}"
