"""Strategies: indicators (pandas-ta) → a state per candle → a vote with a reason in numbers.

A strategy works on one *contiguous* run of closed candles (no gap inside; see
`core.signals.history`) and is vectorised: it computes its indicator series over the whole run
at once. Each value at candle `t` depends only on candles up to `t` (no look-ahead): pandas-ta
indicators are causal, and nothing here shifts a series backwards.

A strategy's *state* at a candle is -1 (sell), 0 (neutral) or +1 (buy), NaN where its
indicators are not defined. Level strategies vote their state while it lasts; crossing
strategies (`crossing = True`, e.g. a MACD cross) vote only when the state has just turned.

Adding a strategy: write a class with the members of `Strategy` and call `register(MyClass())`;
its name can then be listed in the `strategies` setting.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd
import pandas_ta as ta

from core.config.settings import SettingsError, SignalSettings

FloatArray = npt.NDArray[np.float64]


class Strategy(Protocol):
    """What the signal engine needs from a strategy."""

    name: str
    """The name used in settings and votes (e.g. `rsi`)."""

    crossing: bool
    """True: vote on the candle the state turns (an event); False: vote while the state lasts."""

    def label(self, settings: SignalSettings) -> str:
        """The strategy with its parameters, as reasons show it (e.g. `RSI(14)`)."""
        ...

    def candles_needed(self, settings: SignalSettings) -> int:
        """How many contiguous closed candles its state needs to be defined."""
        ...

    def compute(self, candles: pd.DataFrame, settings: SignalSettings) -> dict[str, FloatArray]:
        """Indicator series over a contiguous run of candles (columns open…volume, at least
        `candles_needed` rows), keyed as the signals JSON names them; NaN where undefined."""
        ...

    def states(
        self, indicators: Mapping[str, FloatArray], close: FloatArray, settings: SignalSettings
    ) -> FloatArray:
        """The state per candle: -1, 0, +1, or NaN where the indicators are undefined."""
        ...

    def explain(
        self,
        values: Mapping[str, float],
        close: float,
        state: int,
        crossed: bool,
        settings: SignalSettings,
    ) -> str:
        """The numbers behind a state at one candle; `crossed`: the state has just turned."""
        ...


STRATEGIES: dict[str, Strategy] = {}
"""Registered strategies by name."""


def register(strategy: Strategy) -> Strategy:
    """Make `strategy` available under its name (replacing one of the same name)."""
    STRATEGIES[strategy.name] = strategy
    return strategy


def selected_strategies(settings: SignalSettings) -> tuple[Strategy, ...]:
    """The strategies named in `settings.strategies`, in that order.

    Raises `SettingsError` naming an unknown strategy.
    """
    chosen = []
    for name in settings.strategies:
        strategy = STRATEGIES.get(name)
        if strategy is None:
            known = ", ".join(sorted(STRATEGIES))
            raise SettingsError(f"strategies = {name!r}: unknown strategy (known: {known})")
        chosen.append(strategy)
    return tuple(chosen)


def num(value: float, digits: int = 6) -> str:
    """A number with `digits` significant digits and no exponent (`59012.3`, `0.0000123457`)."""
    if not np.isfinite(value):
        return str(value)
    return np.format_float_positional(
        value, precision=digits, unique=False, fractional=False, trim="-"
    )


# Differences within this fraction of the price are rounding, not a signal (a flat market's
# Bollinger mean can come out one bit above its closes).
_ROUNDING = 1e-9


def _sign(difference: FloatArray, price: FloatArray) -> FloatArray:
    """-1, 0 or +1 by the sign of `difference`, 0 within rounding of `price`; NaN stays NaN."""
    sign = np.sign(difference)
    return np.where(np.abs(difference) <= _ROUNDING * np.abs(price), 0.0, sign)


def _array(series: pd.Series | None, size: int) -> FloatArray:
    if series is None:
        return np.full(size, np.nan)
    values: FloatArray = series.to_numpy(dtype=np.float64, copy=True)
    return values


def _blas_ddot() -> Callable[..., float]:
    """scipy's BLAS `ddot` (the one numba's `np.dot` calls), without `scipy.linalg`'s `__init__`.

    `scipy.linalg.blas.ddot` is the function of the extension module `scipy.linalg._fblas`, but
    importing it runs `scipy.linalg/__init__.py`, which imports all of scipy.linalg: +16 MB of
    RSS in the bot against +5 MB for the extension alone. So when scipy.linalg is not loaded
    yet, a bare `scipy.linalg` package (its spec, nothing run) stands in `sys.modules` while
    `_fblas` loads and is removed after: a later `import scipy.linalg` runs the real `__init__`,
    which takes the already loaded `_fblas`, so `scipy.linalg.blas.ddot` is this very function
    (tests/test_signals_pandas_ta.py checks both).
    """
    if "scipy.linalg" in sys.modules:
        fblas: Any = importlib.import_module("scipy.linalg._fblas")
        return fblas.ddot  # type: ignore[no-any-return]
    scipy = importlib.import_module("scipy")
    spec = importlib.machinery.PathFinder.find_spec("linalg", list(scipy.__path__))
    if spec is None:
        raise ImportError("scipy.linalg is not installed")
    sys.modules["scipy.linalg"] = importlib.util.module_from_spec(spec)
    try:
        fblas = importlib.import_module("scipy.linalg._fblas")
    finally:
        del sys.modules["scipy.linalg"]
        if "linalg" in vars(scipy):
            delattr(scipy, "linalg")
    return fblas.ddot  # type: ignore[no-any-return]


ddot = _blas_ddot()


def _sma(values: FloatArray, length: int) -> FloatArray:
    """pandas-ta's `sma(close, length, talib=False)`, bit for bit, without running numba.

    `ta.sma` calls a numba kernel (`nb_sma`): `np.convolve(ones(n) / n, x)`, which numba
    computes window by window as `np.dot`, i.e. BLAS `ddot` from `scipy.linalg.cython_blas`
    over the window and the reversed weights. Here each window calls that same `ddot` (see
    `_blas_ddot`) — the same routine on the same numbers, so the same bits
    (tests/test_signals_pandas_ta.py compares them over real candles). Calling any numba kernel
    initialises LLVM and loads its code: ~42 MB of RSS in the bot for this one average.
    """
    out = np.full(values.size, np.nan)
    if values.size < length:
        return out  # where `ta.sma` returns None
    weights = (np.ones(length) / length)[::-1].copy()
    window = np.ascontiguousarray(values, dtype=np.float64)
    if values.size == length:
        # numba's `np.convolve` keeps its first argument first when both are as long, so it
        # sums this one window over the values reversed.
        out[-1] = ddot(weights, window[::-1].copy())
        return out
    out[length - 1:] = np.fromiter(
        (ddot(window[i:i + length], weights) for i in range(values.size - length + 1)),
        dtype=np.float64, count=values.size - length + 1)
    return out


def _seeded(values: FloatArray, length: int, start: int = 0) -> pd.Series:
    """`values` ready for a smoothing that starts from the mean of `values[start:start+length]`:
    NaN up to the last of those, their mean in its place, the values after it unchanged."""
    seeded = np.full(values.size, np.nan)
    first = start + length - 1
    if first < values.size:
        seeded[first] = values[start:first + 1].mean()
        seeded[first + 1:] = values[first + 1:]
    return pd.Series(seeded)


def _ema(values: FloatArray, length: int) -> FloatArray:
    """pandas-ta's EMA of `values` (finite), seeded with the SMA of the first `length`.

    The same numbers as `ta.ema(..., presma=True)`, but seeded here in numpy: pandas-ta seeds
    by writing into a copy of the Series, which costs as much as the smoothing itself.
    """
    return _array(ta.ema(_seeded(values, length), length=length, presma=False, talib=False),
                  values.size)


def _wilder_average(values: FloatArray, period: int) -> FloatArray:
    """Wilder's smoothing of `values[1:]`: the mean of the first `period`, then pandas-ta's rma."""
    return _array(ta.rma(_seeded(values, period, start=1), length=period), values.size)


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

    def label(self, settings: SignalSettings) -> str:
        return f"RSI({settings.rsi_period})"

    def candles_needed(self, settings: SignalSettings) -> int:
        return settings.rsi_period + 1

    def compute(self, candles: pd.DataFrame, settings: SignalSettings) -> dict[str, FloatArray]:
        period = settings.rsi_period
        close = candles["close"].to_numpy(dtype=np.float64)
        change = np.diff(close, prepend=np.nan)
        gain = _wilder_average(np.clip(change, 0.0, None), period)
        loss = _wilder_average(np.clip(-change, 0.0, None), period)
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


class MacdCross:
    """MACD crossing its signal line: a cross above buys, a cross below sells (an event)."""

    name = "macd"
    crossing = True

    def label(self, settings: SignalSettings) -> str:
        return f"MACD({settings.macd_fast},{settings.macd_slow},{settings.macd_signal})"

    def candles_needed(self, settings: SignalSettings) -> int:
        return settings.macd_slow + settings.macd_signal - 1

    def compute(self, candles: pd.DataFrame, settings: SignalSettings) -> dict[str, FloatArray]:
        # Built from pandas-ta's EMA exactly as `ta.macd` builds it (same values), without the
        # histogram and the DataFrame it assembles, which cost three times as much.
        close = candles["close"].to_numpy(dtype=np.float64)
        size = close.size
        macd = _ema(close, settings.macd_fast) - _ema(close, settings.macd_slow)
        signal = np.full(size, np.nan)
        defined = np.flatnonzero(np.isfinite(macd))
        if defined.size:
            # The signal line is the EMA of the MACD line from its first value on.
            start = int(defined[0])
            signal[start:] = _ema(macd[start:], settings.macd_signal)
        return {"macd": macd, "macd_signal": signal}

    def states(
        self, indicators: Mapping[str, FloatArray], close: FloatArray, settings: SignalSettings
    ) -> FloatArray:
        return _sign(indicators["macd"] - indicators["macd_signal"], close)

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

    def label(self, settings: SignalSettings) -> str:
        return f"EMA({settings.ema_fast}/{settings.ema_slow})"

    def candles_needed(self, settings: SignalSettings) -> int:
        return settings.ema_slow

    def compute(self, candles: pd.DataFrame, settings: SignalSettings) -> dict[str, FloatArray]:
        close = candles["close"].to_numpy(dtype=np.float64)
        return {
            f"ema_{settings.ema_fast}": _ema(close, settings.ema_fast),
            f"ema_{settings.ema_slow}": _ema(close, settings.ema_slow),
        }

    def states(
        self, indicators: Mapping[str, FloatArray], close: FloatArray, settings: SignalSettings
    ) -> FloatArray:
        return _sign(indicators[f"ema_{settings.ema_fast}"]
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


class BollingerBreak:
    """Bollinger band break: a close above the upper band sells, below the lower band buys.

    Mean reversion, like the RSI: a close outside the bands is stretched. The bands use the
    population standard deviation, as Bollinger defines them.
    """

    name = "bollinger"
    crossing = False

    def label(self, settings: SignalSettings) -> str:
        return f"BB({settings.bb_period},{settings.bb_std:g})"

    def candles_needed(self, settings: SignalSettings) -> int:
        return settings.bb_period

    def compute(self, candles: pd.DataFrame, settings: SignalSettings) -> dict[str, FloatArray]:
        # Built from pandas-ta's `sma` (see `_sma`) and `stdev` exactly as `ta.bbands` builds the
        # bands (same values), without its bandwidth and %B columns, which cost four times as much.
        close, size = candles["close"], len(candles)
        period = settings.bb_period
        mid = _sma(close.to_numpy(dtype=np.float64), period)
        deviation = _array(ta.stdev(close, length=period, ddof=0, talib=False), size)
        width = settings.bb_std * deviation
        return {"bb_upper": mid + width, "bb_lower": mid - width}

    def states(
        self, indicators: Mapping[str, FloatArray], close: FloatArray, settings: SignalSettings
    ) -> FloatArray:
        upper, lower = indicators["bb_upper"], indicators["bb_lower"]
        above = _sign(close - upper, close) > 0
        below = _sign(close - lower, close) < 0
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


register(Rsi())
register(MacdCross())
register(EmaTrend())
register(BollingerBreak())
