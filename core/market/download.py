"""Downloading an exchange's candles into candle files (`ballast candles download`).

Each market's closed candles are fetched page by page from `--from` on, as many per request as
the exchange gives (its own limit), into `<exchange>_<BASE>_<QUOTE>_<timeframe>.csv.gz` in the
format every `--candles` command reads (docs/formats.md). A download resumes: what the file
already holds is not fetched again, only the candles before its first and after its last. A
still-forming candle is never written. Candles the exchange does not have are not invented:
they are reported as gaps. Rate limits and retries are the feed's (the ccxt adapter waits out
429s and 5xx with Ballast's backoff).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pandas as pd

from core.domain.models import Candle, Market
from core.market.candles import (
    CandleError,
    Gap,
    candles_to_frame,
    empty_frame,
    find_gaps,
    last_closed_open,
    read_candle_file,
    timeframe_ms,
    write_candle_file,
)

_SYMBOL = re.compile(r"^[A-Z0-9]+/[A-Z0-9]+$")
# Said when a candle directory is empty: the command that fills it.
DOWNLOAD_HINT = ("ballast candles download --symbols BTC/USDT,ETH/USDT --timeframe 1h "
                 "--from 2024-01-01")


class CandleFeed(Protocol):
    """What a download needs of an exchange (`core.exchange.ccxt_exchange.CcxtExchange` is one)."""

    @property
    def name(self) -> str: ...

    @property
    def candle_limit(self) -> int: ...

    async def load_markets(self) -> Mapping[str, Market]: ...

    async def fetch_candles(
        self, symbol: str, timeframe: str, since: int | None = None, limit: int | None = None
    ) -> list[Candle]: ...


class UnknownMarket(CandleError):
    """A symbol the exchange does not list; the message names it."""


@dataclass(frozen=True, slots=True)
class Downloaded:
    """One market's download: its file, what was added, and what the exchange lacks.

    `first` and `last` are the open times of the file's candles within the period asked for;
    `gaps` are holes among them. A `first` later than the period's start means the exchange
    has nothing earlier (the market was listed later).
    """

    symbol: str
    path: Path
    new_candles: int
    requests: int
    first: int | None
    last: int | None
    gaps: tuple[Gap, ...]


# (symbol, candles done, candles to do) after each page
Progress = Callable[[str, int, int], None]


def default_candle_dir(setting: Path | None, environ: Mapping[str, str]) -> Path:
    """`BALLAST_CANDLES_DIR`, else `$XDG_DATA_HOME/ballast/candles`, else
    `~/.local/share/ballast/candles` (the XDG default)."""
    if setting is not None:
        return setting.expanduser()
    data_home = environ.get("XDG_DATA_HOME", "").strip()
    base = Path(data_home) if data_home else Path(environ.get("HOME") or Path.home()) / ".local" \
        / "share"
    return base / "ballast" / "candles"


def parse_symbols(text: str) -> list[str]:
    """`BTC/USDT,eth/usdt` → `["BTC/USDT", "ETH/USDT"]`; a CandleError names a malformed one."""
    symbols = [part.strip().upper() for part in text.split(",") if part.strip()]
    if not symbols:
        raise CandleError(f"--symbols {text!r}: expected markets like BTC/USDT,ETH/USDT")
    for symbol in symbols:
        if not _SYMBOL.match(symbol):
            raise CandleError(f"--symbols: {symbol!r} is not a market like BTC/USDT")
    return list(dict.fromkeys(symbols))


def candle_file(directory: Path, exchange: str, symbol: str, timeframe: str) -> Path:
    """Where a market's candles live: `<exchange>_<BASE>_<QUOTE>_<timeframe>.csv.gz`."""
    base, quote = symbol.split("/")
    return directory / f"{exchange}_{base}_{quote}_{timeframe}.csv.gz"


async def download_candles(
    feed: CandleFeed,
    symbols: Sequence[str],
    timeframe: str,
    *,
    start_ms: int,
    end_ms: int,
    now_ms: int,
    directory: Path,
    progress: Progress | None = None,
) -> list[Downloaded]:
    """Download the closed `timeframe` candles opening in [start_ms, end_ms) of each symbol.

    Every symbol is checked against the exchange's markets first (`UnknownMarket` names the
    ones it lacks; nothing is fetched then). Exchange errors propagate; whatever was fetched
    before one is written, so running again resumes there.
    """
    length = timeframe_ms(timeframe)
    if end_ms <= start_ms:
        raise CandleError("the period is empty: --to must be after --from")
    markets = await feed.load_markets()
    unknown = [symbol for symbol in symbols if symbol not in markets]
    if unknown:
        raise UnknownMarket(f"{feed.name} has no market {', '.join(unknown)}; nothing was "
                            "downloaded")
    first_open = -(-start_ms // length) * length  # the first candle opening at or after start
    # The last candle opening before end_ms, if it has closed by now.
    last_open = min(last_closed_open(now_ms, timeframe), (end_ms - 1) // length * length)
    directory.mkdir(parents=True, exist_ok=True)
    return [await _download_market(feed, symbol, timeframe, first_open, last_open,
                                   candle_file(directory, feed.name, symbol, timeframe),
                                   progress)
            for symbol in symbols]


def missing_ranges(held: Sequence[int], first_open: int, last_open: int,
                   length: int) -> list[tuple[int, int]]:
    """The open-time ranges [lo, hi] of the period a file does not cover yet: before its first
    candle and after its last (holes inside are the exchange's gaps, not asked for again)."""
    if first_open > last_open:
        return []
    if not held:
        return [(first_open, last_open)]
    ranges = []
    if first_open < held[0]:
        ranges.append((first_open, min(last_open, held[0] - length)))
    if held[-1] < last_open:
        ranges.append((max(first_open, held[-1] + length), last_open))
    return [(lo, hi) for lo, hi in ranges if lo <= hi]


async def _download_market(feed: CandleFeed, symbol: str, timeframe: str, first_open: int,
                           last_open: int, path: Path, progress: Progress | None) -> Downloaded:
    length = timeframe_ms(timeframe)
    held = read_candle_file(path) if path.exists() else empty_frame()
    ranges = missing_ranges([int(t) for t in held.index], first_open, last_open, length)
    to_do = sum((hi - lo) // length + 1 for lo, hi in ranges)
    limit = max(1, feed.candle_limit)
    fetched: list[Candle] = []
    requests = 0
    try:
        for lo, hi in ranges:
            since = lo
            while since <= hi:
                page = await feed.fetch_candles(symbol, timeframe, since, limit)
                requests += 1
                fetched.extend(c for c in page if since <= c.timestamp <= hi)
                if progress is not None:
                    progress(symbol, min(len(fetched), to_do), to_do)
                # Only an empty page says the exchange has nothing more: some give fewer
                # candles than asked even mid-history, and a page is cut at `hi` anyway.
                if not page or page[-1].timestamp < since:
                    break
                since = page[-1].timestamp + length
    finally:
        merged = _merge(held, fetched)
        if fetched:
            _write_atomically(path, merged)
    window = merged.index[(merged.index >= first_open) & (merged.index <= last_open)]
    times = window.to_numpy()
    return Downloaded(symbol, path, len(merged) - len(held), requests,
                      int(times[0]) if times.size else None,
                      int(times[-1]) if times.size else None,
                      tuple(find_gaps(times, timeframe)))


def _merge(held: pd.DataFrame, fetched: list[Candle]) -> pd.DataFrame:
    if not fetched:
        return held
    both = pd.concat([held, candles_to_frame(fetched)])
    return both[~both.index.duplicated(keep="last")].sort_index()


def _write_atomically(path: Path, frame: pd.DataFrame) -> None:
    """Write beside the file, then rename: an interrupted download never leaves half a file."""
    partial = path.with_name(f".{path.name}.part.gz")
    write_candle_file(partial, frame)
    os.replace(partial, path)
