"""Trend-following strategies: moving averages that vote with the trend.

`MacdCross` (MACD crossing its signal line, voted on the candle it crosses) and `EmaTrend` (the
fast EMA above or below the slow one, voted while it lasts); `core.signals.strategies`
registers them.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from core.config.rules import SignalSettings
from core.signals.indicators import FloatArray, ema, num, sign_beyond_rounding


class MacdCross:
    """MACD crossing its signal line: a cross above buys, a cross below sells (an event)."""

    name = "macd"
    crossing = True

    def timeframe(self, settings: SignalSettings) -> str:
        return settings.timeframe

    def label(self, settings: SignalSettings) -> str:
        return f"MACD({settings.macd_fast},{settings.macd_slow},{settings.macd_signal})"

    def candles_needed(self, settings: SignalSettings) -> int:
        return settings.macd_slow + settings.macd_signal - 1

    def compute(self, candles: pd.DataFrame, settings: SignalSettings) -> dict[str, FloatArray]:
        # Built from pandas-ta's EMA exactly as `ta.macd` builds it (same values), without the
        # histogram and the DataFrame it assembles, which cost three times as much.
        close = candles["close"].to_numpy(dtype=np.float64)
        size = close.size
        macd = ema(close, settings.macd_fast) - ema(close, settings.macd_slow)
        signal = np.full(size, np.nan)
        defined = np.flatnonzero(np.isfinite(macd))
        if defined.size:
            # The signal line is the EMA of the MACD line from its first value on.
            start = int(defined[0])
            signal[start:] = ema(macd[start:], settings.macd_signal)
        return {"macd": macd, "macd_signal": signal}

    def states(
        self, indicators: Mapping[str, FloatArray], close: FloatArray, settings: SignalSettings
    ) -> FloatArray:
        return sign_beyond_rounding(indicators["macd"] - indicators["macd_signal"], close)

    def explain(
        self,
        values: Mapping[str, float],
        close: float,
        state: int,
        crossed: bool,
        settings: SignalSettings,
    ) -> str:
        label = self.label(settings)
        macd, signal = num(values["macd"]), num(values["macd_signal"])
        if state == 0:
            return f"{label} {macd} on its signal line"
        side = "above" if state > 0 else "below"
        if crossed:
            sign = ">" if state > 0 else "<"
            return f"{label} crossed {side} signal: {macd} {sign} {signal}"
        return f"{label} {macd} {side} signal {signal}, no fresh cross"


class EmaTrend:
    """EMA trend: the fast EMA above the slow one buys, below sells."""

    name = "ema"
    crossing = False

    def timeframe(self, settings: SignalSettings) -> str:
        return settings.timeframe

    def label(self, settings: SignalSettings) -> str:
        return f"EMA({settings.ema_fast}/{settings.ema_slow})"

    def candles_needed(self, settings: SignalSettings) -> int:
        return settings.ema_slow

    def compute(self, candles: pd.DataFrame, settings: SignalSettings) -> dict[str, FloatArray]:
        close = candles["close"].to_numpy(dtype=np.float64)
        return {
            f"ema_{settings.ema_fast}": ema(close, settings.ema_fast),
            f"ema_{settings.ema_slow}": ema(close, settings.ema_slow),
        }

    def states(
        self, indicators: Mapping[str, FloatArray], close: FloatArray, settings: SignalSettings
    ) -> FloatArray:
        return sign_beyond_rounding(indicators[f"ema_{settings.ema_fast}"]
                     - indicators[f"ema_{settings.ema_slow}"], close)

    def explain(
        self,
        values: Mapping[str, float],
        close: float,
        state: int,
        crossed: bool,
        settings: SignalSettings,
    ) -> str:
        fast, slow = settings.ema_fast, settings.ema_slow
        sign = ">" if state > 0 else "<" if state < 0 else "="
        return (f"EMA({fast}) {num(values[f'ema_{fast}'])} {sign} "
                f"EMA({slow}) {num(values[f'ema_{slow}'])}")
