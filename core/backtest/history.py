"""Aligned market history for a backtest: every asset's opens and closes on one clock.

The clock is the union of all assets' candle open times. A candle an asset is missing (an
exchange outage, or the file ending early) repeats its previous close as open and close, so a
holding keeps its last value; but `traded` marks the candle as not real, and nothing is priced
for a decision or filled at it (docs/rules.md: a stale price makes the asset unpriced). Before an
asset's first candle its prices are NaN: it is unpriced, and nothing involving it can be valued
or traded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
import pandas as pd

from core.market.candles import timeframe_ms

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class AssetCandles:
    """One asset's candles as columns: open times (epoch ms), opens and closes."""

    times: IntArray
    opens: FloatArray
    closes: FloatArray


@dataclass(frozen=True, slots=True)
class MarketHistory:
    """Opens and closes of `assets` (columns) at `times` (rows, candle open in epoch ms).

    `traded[row, column]` is True where the asset has a real candle with usable prices.
    """

    timeframe: str
    assets: tuple[str, ...]
    times: IntArray
    opens: FloatArray
    closes: FloatArray
    traded: BoolArray

    @classmethod
    def align(cls, timeframe: str, candles: Mapping[str, AssetCandles]) -> MarketHistory:
        """Put every asset's candles on the union of their open times (see module docs)."""
        step = timeframe_ms(timeframe)
        assets = tuple(sorted(candles))
        if not assets:
            raise ValueError("no candles to replay: the candle set is empty")
        for asset in assets:
            times = candles[asset].times
            if times.size and np.any(times % step):
                raise ValueError(
                    f"{asset} candles are not on the {timeframe} grid: is the timeframe right?"
                )
        union = np.unique(np.concatenate([candles[a].times for a in assets])).astype(np.int64)
        opens = np.full((union.size, len(assets)), np.nan)
        closes = np.full((union.size, len(assets)), np.nan)
        for column, asset in enumerate(assets):
            series = candles[asset]
            if series.times.size == 0:
                continue
            rows = np.searchsorted(union, series.times)
            opens[rows, column] = series.opens
            closes[rows, column] = series.closes
        traded = np.isfinite(opens) & np.isfinite(closes) & (opens > 0) & (closes > 0)
        opens[~traded] = np.nan
        closes[~traded] = np.nan
        for column in range(len(assets)):
            real = np.nonzero(traded[:, column])[0]
            if real.size:
                _fill_gaps(opens[real[0]:, column], closes[real[0]:, column])
        return cls(timeframe, assets, union, opens, closes, traded)

    @classmethod
    def from_frames(cls, timeframe: str, frames: Mapping[str, pd.DataFrame]) -> MarketHistory:
        """Align candle frames (as `core.market.candles.read_candle_dir` returns them)."""
        return cls.align(
            timeframe,
            {
                asset: AssetCandles(
                    frame.index.to_numpy(dtype=np.int64),
                    frame["open"].to_numpy(dtype=np.float64),
                    frame["close"].to_numpy(dtype=np.float64),
                )
                for asset, frame in frames.items()
            },
        )

    @property
    def candle_ms(self) -> int:
        """The length of one candle in milliseconds."""
        return timeframe_ms(self.timeframe)

    def column(self, asset: str) -> int:
        """The column of `asset`; a clear error names an asset without candles."""
        try:
            return self.assets.index(asset)
        except ValueError:
            raise KeyError(
                f"no {self.timeframe} candles for {asset} (have: {', '.join(self.assets)})"
            ) from None

    def between(self, start_ms: int, end_ms: int) -> slice:
        """Rows of the candles that open in [start_ms, end_ms)."""
        first = int(np.searchsorted(self.times, start_ms, side="left"))
        last = int(np.searchsorted(self.times, end_ms, side="left"))
        return slice(first, last)

    def window(self, rows: slice) -> MarketHistory:
        """The same history cut to `rows`."""
        return MarketHistory(
            self.timeframe, self.assets, self.times[rows], self.opens[rows], self.closes[rows],
            self.traded[rows],
        )

    def curve_times(self) -> IntArray:
        """When each equity point is taken: the first open, then every candle's close."""
        return np.concatenate([self.times[:1], self.times + self.candle_ms]).astype(np.int64)


def _fill_gaps(opens: FloatArray, closes: FloatArray) -> None:
    """Forward-fill missing candles in place: open and close repeat the previous close."""
    missing = np.isnan(closes)
    if not missing.any():
        return
    index = np.where(~missing, np.arange(closes.size), 0)
    np.maximum.accumulate(index, out=index)
    closes[:] = closes[index]
    opens[missing] = closes[missing]


def to_datetime(ms: int) -> datetime:
    """Epoch milliseconds as an aware UTC datetime."""
    return datetime.fromtimestamp(ms / 1000, UTC)
