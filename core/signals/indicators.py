"""The arithmetic the strategies share: pandas-ta's SMA, EMA and Wilder smoothing, bit for bit
but without its numba kernels, signs that ignore rounding, and numbers as reasons show them.

Every series here is causal: its value at candle `t` depends only on candles up to `t`.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from core.signals.lazy_numba import import_pandas_ta

FloatArray = npt.NDArray[np.float64]
# pandas-ta, with numba imported only if one of its numba kernels is ever called; the
# strategies take it from here.
ta = import_pandas_ta()


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


def sign_beyond_rounding(difference: FloatArray, price: FloatArray) -> FloatArray:
    """-1, 0 or +1 by the sign of `difference`, 0 within rounding of `price`; NaN stays NaN."""
    sign = np.sign(difference)
    return np.where(np.abs(difference) <= _ROUNDING * np.abs(price), 0.0, sign)


def as_floats(series: pd.Series | None, size: int) -> FloatArray:
    """A pandas-ta result as a float array of `size` values (all NaN where it gave None)."""
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


def sma(values: FloatArray, length: int) -> FloatArray:
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


def ema(values: FloatArray, length: int) -> FloatArray:
    """pandas-ta's EMA of `values` (finite), seeded with the SMA of the first `length`.

    The same numbers as `ta.ema(..., presma=True)`, but seeded here in numpy: pandas-ta seeds
    by writing into a copy of the Series, which costs as much as the smoothing itself.
    """
    return as_floats(ta.ema(_seeded(values, length), length=length, presma=False, talib=False),
                     values.size)


def wilder_average(values: FloatArray, period: int) -> FloatArray:
    """Wilder's smoothing of `values[1:]`: the mean of the first `period`, then pandas-ta's rma."""
    return as_floats(ta.rma(_seeded(values, period, start=1), length=period), values.size)
