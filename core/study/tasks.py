"""One backtest of a study, as a worker process runs it.

The candles are read once by the parent into `SharedCandles` — one float64 array per asset,
columns `timestamp, open, high, low, close, volume` — and handed to every worker read-only:
loky maps the parent's memory-mapped files (`core.study.parallel`), Dask scatters one copy to
each worker. A task rebuilds pandas frames over those arrays (views, not copies) and calls the
ordinary replay loader and `run_backtest`: a study backtest is exactly `ballast backtest`.
Longer candles that daily strategies read (the directory's 1d files, or days built from the
hours) are packed beside the rest under their own (timeframe, quote).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import pandas as pd

from core.backtest.history import FloatArray
from core.backtest.replay import replay_from_frames
from core.backtest.runner import BacktestResult, run_backtest
from core.backtest.simulation import BacktestInput
from core.domain.models import Market
from core.signals import on_timeframe, timeframes

COLUMNS = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True, slots=True)
class SharedCandles:
    """Every asset's candles per (timeframe, quote), as arrays workers read and never change."""

    arrays: Mapping[tuple[str, str], Mapping[str, FloatArray]]

    @classmethod
    def from_frames(
        cls, frames: Mapping[tuple[str, str], Mapping[str, pd.DataFrame]]
    ) -> SharedCandles:
        """Pack candle frames (as `read_candle_dir` returns them) into one array per asset."""
        arrays: dict[tuple[str, str], dict[str, FloatArray]] = {}
        for key, assets in frames.items():
            arrays[key] = {}
            for asset, frame in assets.items():
                packed = np.empty((len(frame), 1 + len(COLUMNS)), dtype=np.float64)
                packed[:, 0] = frame.index.to_numpy(dtype=np.int64)
                packed[:, 1:] = frame[list(COLUMNS)].to_numpy(dtype=np.float64)
                arrays[key][asset] = packed
        return cls(arrays)

    @property
    def nbytes(self) -> int:
        """The candles' size in memory."""
        return sum(a.nbytes for assets in self.arrays.values() for a in assets.values())

    def frames(self, timeframe: str, quote: str, wanted: set[str]) -> dict[str, pd.DataFrame]:
        """Frames of the `wanted` assets (all of them if none is there), over the arrays."""
        assets = self.arrays[(timeframe, quote)]
        chosen = {a: v for a, v in assets.items() if a in wanted} or dict(assets)
        return {asset: _frame(packed) for asset, packed in chosen.items()}


def _frame(packed: FloatArray) -> pd.DataFrame:
    index = pd.Index(packed[:, 0].astype(np.int64), name="timestamp")
    return pd.DataFrame(packed[:, 1:], index=index, columns=list(COLUMNS), copy=False)


@dataclass(frozen=True, slots=True)
class Task:
    """One backtest: a configuration of one portfolio over one period."""

    key: tuple[int, int, int, int]
    """(portfolio, config, period, kind): kind 0 is a fold, 1 a shifted start."""
    timeframe: str
    start_ms: int
    end_ms: int
    inp: BacktestInput = field(repr=False)


@cache
def _markets() -> dict[str, Market]:
    # Read once per worker process: the shipped market rules never change during a study.
    from core.exchange.paper_markets import bundled_markets

    return bundled_markets()


def run_task(candles: SharedCandles, task: Task) -> tuple[tuple[int, int, int, int],
                                                           BacktestResult]:
    """Run one backtest (the fast driver, as `ballast backtest` does); return its key too."""
    inp = task.inp
    wanted = set(inp.start.amounts) | set(inp.watchlist)
    quote = inp.start.quote
    frames = candles.frames(task.timeframe, quote, wanted)
    signal = on_timeframe(inp.settings.signal, task.timeframe)
    longer = {tf: candles.frames(tf, quote, wanted) for tf in timeframes(signal)[1:]
              if (tf, quote) in candles.arrays}
    replay = replay_from_frames(frames, task.timeframe, quote, task.start_ms, task.end_ms,
                                signal, longer)
    result = asyncio.run(run_backtest(replay, inp, _markets()))
    return task.key, result
