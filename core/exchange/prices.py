"""Where the paper exchange gets its prices: a live public exchange, or candles on a clock.

Any `Exchange` is a `PriceSource` (the live ccxt adapter without keys reads public tickers and
candles). `ReplayPrices` reads a candle directory (docs/formats.md) and answers as of a clock's
time, for backtests and offline demos.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Protocol, runtime_checkable

import pandas as pd

from core.domain.models import Candle, Price, epoch_ms
from core.market.candles import (
    TIMEFRAME_MS,
    CandleError,
    CandleFileName,
    closed_candles,
    frame_to_candles,
    read_candle_file,
    timeframe_ms,
)
from core.market.resample import aggregate_candles

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The wall clock in UTC: the default clock of live and paper trading."""
    return datetime.now(UTC)


class ManualClock:
    """A clock that stands still until moved: replays, what-ifs and tests."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def set(self, now: datetime) -> None:
        """Move the clock to `now`."""
        self.now = now

    def advance(self, seconds: float) -> datetime:
        """Move the clock `seconds` forward; the new time."""
        self.now += timedelta(seconds=seconds)
        return self.now


@runtime_checkable
class PriceSource(Protocol):
    """Last prices and candles: the read-only market data half of `Exchange`."""

    async def fetch_prices(self, symbols: Sequence[str]) -> dict[str, Price]:
        """Last prices for many symbols in one batch; symbols without a price are omitted."""
        ...

    async def fetch_candles(
        self, symbol: str, timeframe: str, since: int | None = None, limit: int | None = None
    ) -> list[Candle]:
        """Candles from `since` (epoch ms of an open), oldest first."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class ReplayPrices:
    """Prices and candles from a candle directory (docs/formats.md), as of the clock's time.

    The price of `BASE/QUOTE` is the close of its last candle *closed* at the clock's time, and
    `Price.at` is when that candle closed; candles are only those closed by then. Nothing from
    the clock's future is ever returned: a backtest cannot look ahead through this source.
    Files are read on first use and kept.
    """

    def __init__(
        self,
        candles_dir: Path | str,
        clock: Clock,
        *,
        timeframe: str = "1h",
        exchange: str | None = None,
    ) -> None:
        self._dir = Path(candles_dir)
        if not self._dir.is_dir():
            raise CandleError(f"candle directory {self._dir} does not exist or is not a directory")
        timeframe_ms(timeframe)
        self._clock = clock
        self._timeframe = timeframe
        self._files = self._index(exchange)
        self._frames: dict[tuple[str, str, str], pd.DataFrame] = {}

    @property
    def timeframe(self) -> str:
        """The timeframe whose closes are the prices."""
        return self._timeframe

    def symbols(self) -> list[str]:
        """Every `BASE/QUOTE` with a candle file of the price timeframe."""
        return sorted(f"{b}/{q}" for b, q, tf in self._files if tf == self._timeframe)

    def latest_close(self) -> datetime | None:
        """When the newest candle of the price timeframe closed, over every file (None: none)."""
        length = timeframe_ms(self._timeframe)
        newest: int | None = None
        for symbol in self.symbols():
            frame = self._frame(symbol, self._timeframe)
            if frame is not None and not frame.empty:
                last = int(frame.index[-1])
                newest = last if newest is None else max(newest, last)
        return None if newest is None else datetime.fromtimestamp((newest + length) / 1000, UTC)

    async def fetch_prices(self, symbols: Sequence[str]) -> dict[str, Price]:
        """Closes of the last candles closed at the clock's time, for symbols with a file."""
        at_ms = epoch_ms(self._clock())
        length = timeframe_ms(self._timeframe)
        found: dict[str, Price] = {}
        for symbol in symbols:
            frame = self._frame(symbol, self._timeframe)
            if frame is None:
                continue
            closed = closed_candles(frame, self._timeframe, at_ms)
            if closed.empty:
                continue
            close = float(closed["close"].iloc[-1])
            if not math.isfinite(close) or close <= 0:
                continue
            closed_at = datetime.fromtimestamp((int(closed.index[-1]) + length) / 1000, UTC)
            base, quote = symbol.split("/")
            # repr is the shortest text that reads back as the same float: the file's digits.
            found[symbol] = Price(base, quote, Decimal(repr(close)), closed_at)
        return found

    async def fetch_candles(
        self, symbol: str, timeframe: str, since: int | None = None, limit: int | None = None
    ) -> list[Candle]:
        """Candles closed at the clock's time: from `since` (the first `limit`), else the last."""
        frame = self._frame(symbol, timeframe)
        if frame is None:
            return []
        closed = closed_candles(frame, timeframe, epoch_ms(self._clock()))
        if since is not None:
            closed = closed[closed.index >= since]
            if limit is not None:
                closed = closed.iloc[:limit]
        elif limit is not None:
            closed = closed.iloc[-limit:] if limit > 0 else closed.iloc[:0]
        return frame_to_candles(closed)

    async def close(self) -> None:
        """Nothing to release: files are read whole."""

    def _index(self, exchange: str | None) -> dict[tuple[str, str, str], Path]:
        files: dict[tuple[str, str, str], Path] = {}
        for path in sorted(self._dir.iterdir()):
            name = CandleFileName.parse(path.name)
            if name is None or (exchange is not None and name.exchange != exchange):
                continue
            key = (name.base, name.quote, name.timeframe)
            if key in files:
                raise CandleError(
                    f"two candle files for {name.base}/{name.quote} {name.timeframe} in "
                    f"{self._dir}: {files[key].name} and {path.name}; choose an exchange"
                )
            files[key] = path
        return files

    def _frame(self, symbol: str, timeframe: str) -> pd.DataFrame | None:
        base, _, quote = symbol.partition("/")
        key = (base, quote, timeframe)
        if key not in self._frames:
            if key in self._files:
                self._frames[key] = read_candle_file(self._files[key])
            else:
                # No file of this timeframe (e.g. the daily trend family's days beside 1h
                # files only): built from the longest shorter file it is a whole multiple of,
                # complete periods only, as `ballast backtest` builds them.
                source = self._source(base, quote, timeframe)
                if source is None:
                    return None
                shorter = self._frame(symbol, source)
                if shorter is None:
                    return None
                self._frames[key] = aggregate_candles(shorter, source, timeframe)
        return self._frames[key]

    def _source(self, base: str, quote: str, timeframe: str) -> str | None:
        length = timeframe_ms(timeframe)
        shorter = [tf for b, q, tf in self._files
                   if (b, q) == (base, quote) and tf in TIMEFRAME_MS and timeframe_ms(tf) < length
                   and length % timeframe_ms(tf) == 0]
        return max(shorter, key=timeframe_ms, default=None)
