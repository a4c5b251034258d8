"""EMA, MACD and Bollinger, built from pandas-ta's `ema`/`sma`/`stdev` for speed, equal pandas-ta's
own `ema`, `macd` and `bbands` exactly (same bits, same NaNs), on real candles and odd settings.

The textbook values are checked in `test_signals_reference.py`; this pins that the faster
construction is the very indicator the library computes, not merely close to it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pandas_ta as ta
import pytest

from core.config.rules import SignalSettings
from core.market.candles import read_candle_file
from core.signals.indicators import FloatArray, sma
from core.signals.strategies import STRATEGIES

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures" / "candles"


def run_frame(name: str, rows: int) -> pd.DataFrame:
    """The last `rows` candles of a fixture, as the history hands a run to a strategy."""
    frame = read_candle_file(FIXTURES / name).iloc[-rows:]
    return pd.DataFrame({column: frame[column].to_numpy() for column in frame.columns})


def same(ours: FloatArray, theirs: pd.Series) -> None:
    reference = theirs.to_numpy(dtype=np.float64)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(reference))
    np.testing.assert_array_equal(ours[~np.isnan(ours)], reference[~np.isnan(reference)])


CASES = [
    ("binance_BTC_USDT_1h.csv.gz", 500, SignalSettings()),
    ("binance_ETH_USDT_1d.csv.gz", 300, SignalSettings()),
    ("binance_AVAX_USDT_1d.csv.gz", 120, SignalSettings(
        macd_fast=5, macd_slow=35, macd_signal=5, bb_period=10, bb_std=1.5)),
    # The bare minimum of candles each strategy needs (26 + 9 - 1 = 34 for the MACD).
    ("binance_BTC_USDT_1d.csv.gz", 34, SignalSettings()),
]


@pytest.mark.parametrize(("name", "rows", "settings"), CASES)
def test_macd_equals_pandas_ta_macd(name: str, rows: int, settings: SignalSettings) -> None:
    candles = run_frame(name, rows)
    ours = STRATEGIES["macd"].compute(candles, settings)
    frame = ta.macd(candles["close"], fast=settings.macd_fast, slow=settings.macd_slow,
                    signal=settings.macd_signal, talib=False)
    same(ours["macd"], frame.iloc[:, 0])
    same(ours["macd_signal"], frame.iloc[:, 2])
    assert np.isfinite(ours["macd_signal"][-1])


@pytest.mark.parametrize(("name", "rows", "settings"), CASES)
def test_bollinger_equals_pandas_ta_bbands(
    name: str, rows: int, settings: SignalSettings
) -> None:
    candles = run_frame(name, rows)
    ours = STRATEGIES["bollinger"].compute(candles, settings)
    frame = ta.bbands(candles["close"], length=settings.bb_period, lower_std=settings.bb_std,
                      upper_std=settings.bb_std, ddof=0, talib=False)
    same(ours["bb_lower"], frame.iloc[:, 0])
    same(ours["bb_upper"], frame.iloc[:, 2])
    assert np.isfinite(ours["bb_upper"][-1])


@pytest.mark.parametrize(("name", "rows", "settings"), CASES)
def test_ema_equals_pandas_ta_ema(name: str, rows: int, settings: SignalSettings) -> None:
    candles = run_frame(name, rows)
    ours = STRATEGIES["ema"].compute(candles, settings)
    for length in (settings.ema_fast, settings.ema_slow):
        theirs = ta.ema(candles["close"], length=length, talib=False)
        if theirs is None:  # fewer candles than the EMA's length: nothing to compare
            assert np.isnan(ours[f"ema_{length}"]).all()
            continue
        same(ours[f"ema_{length}"], theirs)


SMA_FILES = sorted(FIXTURES.glob("*.csv.gz"))


@pytest.mark.parametrize("path", SMA_FILES, ids=lambda p: p.name)
def test_sma_equals_pandas_ta_sma_bit_for_bit(path: Path) -> None:
    # `sma` replaces pandas-ta's numba kernel by the BLAS `ddot` that kernel calls: whole
    # files, window lengths either side of BLAS's unrolled block sizes, and the shortest runs.
    close = read_candle_file(path)["close"].reset_index(drop=True)
    for length in (2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 20, 31, 32, 33, 50, 64, 100, 200):
        if length <= close.size:
            same(sma(close.to_numpy(), length), ta.sma(close, length=length, talib=False))
        for rows in (length - 1, length, length + 1):
            short = close.iloc[:rows]
            ours = sma(short.to_numpy(), length)
            theirs = ta.sma(short, length=length, talib=False)
            if theirs is None:  # fewer candles than the length
                assert short.size < length and np.isnan(ours).all() and ours.size == short.size
            else:
                same(ours, theirs)


def test_the_signals_load_no_numba() -> None:
    # numba and llvmlite cost ~0.2 s and 55-70 MB of RSS to import, and a kernel run initialises
    # LLVM on top: every strategy on a run of candles, in a fresh interpreter, must leave numba
    # unloaded (pandas-ta's kernels are only recorded, core/signals/lazy_numba.py).
    code = f"""
import json, sys
from pathlib import Path
from core.market.candles import read_candle_file
from core.config.rules import SignalSettings
from core.signals.strategies import STRATEGIES
frame = read_candle_file(Path({str(FIXTURES / "binance_BTC_USDT_1h.csv.gz")!r})).iloc[-500:]
frame = frame.reset_index(drop=True)
for strategy in STRATEGIES.values():
    indicators = strategy.compute(frame, SignalSettings())
    strategy.states(indicators, frame["close"].to_numpy(), SignalSettings())
print(json.dumps([len(STRATEGIES), [m for m in ("numba", "llvmlite") if m in sys.modules]]))
"""
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, check=True)
    count, loaded = json.loads(result.stdout.splitlines()[-1])
    assert count >= 4
    assert loaded == []


def test_the_ddot_is_scipys_and_scipy_linalg_still_imports_whole() -> None:
    # `_blas_ddot` loads scipy.linalg's BLAS extension alone; scipy.linalg imported afterwards
    # (as `ballast study` does through scipy.stats) must be the whole package, sharing it.
    code = """
import json, sys
import numpy as np
import core.signals.indicators as indicators
light = "scipy.linalg" in sys.modules
import scipy.linalg
from scipy.stats import norm
solved = scipy.linalg.solve(np.array([[2.0, 0.0], [0.0, 4.0]]), np.array([1.0, 1.0]))
print(json.dumps([light, scipy.linalg.blas.ddot is indicators.ddot, float(norm.cdf(0.0)),
                  solved.tolist()]))
"""
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, check=True)
    assert json.loads(result.stdout.splitlines()[-1]) == [False, True, 0.5, [0.5, 0.25]]
