"""Candles: timeframes, candle files and an incremental SQLite cache of exchange candles.

The candle file format: docs/formats.md.

A candle is keyed by the UTC epoch milliseconds of its *open*. A candle with open time `o` of a
timeframe `L` ms long is *closed* at `o + L`; until then it is still forming and its numbers
can change, so nothing here hands one out as closed before its time.

Candle frames are pandas DataFrames indexed by `timestamp` (int64, ascending, unique) with float
columns `open, high, low, close, volume` — the shape `read_candle_file` returns and
`core.signals` reads.
"""

from __future__ import annotations

import gzip
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import numpy as np
import numpy.typing as npt
import pandas as pd

from core.domain.models import Candle

COLUMNS = ("open", "high", "low", "close", "volume")
HEADER = ("timestamp", *COLUMNS)

# Only timeframes whose candles sit on a grid counted from the epoch (weeks start on Mondays,
# months vary in length), so "the last candle closed at or before T" is plain arithmetic.
TIMEFRAME_MS: dict[str, int] = {
    "1m": 60_000,
    "3m": 3 * 60_000,
    "5m": 5 * 60_000,
    "15m": 15 * 60_000,
    "30m": 30 * 60_000,
    "1h": 3_600_000,
    "2h": 2 * 3_600_000,
    "4h": 4 * 3_600_000,
    "6h": 6 * 3_600_000,
    "8h": 8 * 3_600_000,
    "12h": 12 * 3_600_000,
    "1d": 86_400_000,
}

# Timestamps below this are seconds, not milliseconds (1e11 ms is 1973; 1e11 s is year 5138).
_MIN_EPOCH_MS = 100_000_000_000

_FILE_NAME = re.compile(
    r"^(?P<exchange>[A-Za-z0-9]+)_(?P<base>[A-Za-z0-9]+)_(?P<quote>[A-Za-z0-9]+)_"
    r"(?P<timeframe>\d+[mhdwM])\.csv(?:\.gz)?$"
)


class CandleError(ValueError):
    """Candles could not be read or fetched; the message names the file or market and why."""


def timeframe_ms(timeframe: str) -> int:
    """The length of one candle of `timeframe` (e.g. `1h`) in milliseconds."""
    try:
        return TIMEFRAME_MS[timeframe]
    except KeyError:
        known = ", ".join(TIMEFRAME_MS)
        raise CandleError(f"unknown timeframe {timeframe!r} (known: {known})") from None


def last_closed_open(at_ms: int, timeframe: str, phase_ms: int = 0) -> int:
    """Open time of the last candle that closed at or before `at_ms`.

    `phase_ms` is the grid's offset from the epoch (0 for exchange candles).
    """
    length = timeframe_ms(timeframe)
    return ((at_ms - length - phase_ms) // length) * length + phase_ms


def format_ms(ms: int) -> str:
    """An epoch-ms time as `2024-03-01 00:00 UTC`, the way reasons and messages show times."""
    try:
        return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    except (ValueError, OverflowError, OSError):
        return f"{ms} ms"


def empty_frame() -> pd.DataFrame:
    """A candle frame with no rows."""
    frame = pd.DataFrame({name: np.empty(0, dtype=np.float64) for name in COLUMNS})
    frame.index = pd.Index(np.empty(0, dtype=np.int64), name="timestamp")
    return frame


def candles_to_frame(candles: Iterable[Candle]) -> pd.DataFrame:
    """Candle objects → candle frame (sorted by open time; a repeated open time keeps the last)."""
    rows = list(candles)
    if not rows:
        return empty_frame()
    frame = pd.DataFrame(
        {name: np.fromiter((getattr(c, name) for c in rows), np.float64, len(rows))
         for name in COLUMNS},
        index=pd.Index(np.fromiter((c.timestamp for c in rows), np.int64, len(rows)),
                       name="timestamp"),
    )
    return _tidy(frame)


def frame_to_candles(frame: pd.DataFrame) -> list[Candle]:
    """Candle frame → Candle objects, oldest first."""
    values = frame[list(COLUMNS)].to_numpy(dtype=np.float64)
    return [
        Candle(int(ts), float(o), float(h), float(lo), float(c), float(v))
        for ts, (o, h, lo, c, v) in zip(frame.index, values, strict=True)
    ]


def closed_candles(frame: pd.DataFrame, timeframe: str, at_ms: int) -> pd.DataFrame:
    """The candles of `frame` that had closed at or before `at_ms` (open + length ≤ at)."""
    cutoff = at_ms - timeframe_ms(timeframe)
    end = int(np.searchsorted(frame.index.to_numpy(), cutoff, side="right"))
    return frame.iloc[:end]


def newest_close(frames: Mapping[str, pd.DataFrame], timeframe: str) -> int | None:
    """When the newest candle of any frame closed (open + length), or None without candles."""
    length = timeframe_ms(timeframe)
    ends = [int(frame.index[-1]) + length for frame in frames.values() if len(frame)]
    return max(ends) if ends else None


@dataclass(frozen=True, slots=True)
class Gap:
    """Candles missing from a series: `missing` candles between the opens `after` and `before`."""

    after: int
    before: int
    missing: int

    def describe(self) -> str:
        """The gap in words, e.g. `4 candles missing between … and …`."""
        noun = "candle" if self.missing == 1 else "candles"
        return (f"{self.missing} {noun} missing between {format_ms(self.after)} "
                f"and {format_ms(self.before)}")


def find_gaps(timestamps: Sequence[int] | npt.NDArray[np.int64], timeframe: str) -> list[Gap]:
    """Where consecutive open times of a sorted series are more than one candle apart."""
    length = timeframe_ms(timeframe)
    times = np.asarray(timestamps, dtype=np.int64)
    if times.size < 2:
        return []
    steps = np.diff(times)
    where = np.nonzero(steps > length)[0]
    return [
        Gap(int(times[i]), int(times[i + 1]), int(steps[i] // length) - 1) for i in where
    ]


# -------------------------------------------------------- candle files (docs/formats.md)


@dataclass(frozen=True, slots=True)
class CandleFileName:
    """What a candle file's name says: `<exchange>_<BASE>_<QUOTE>_<timeframe>.csv[.gz]`."""

    exchange: str
    base: str
    quote: str
    timeframe: str

    @classmethod
    def parse(cls, name: str) -> CandleFileName | None:
        """Read a file name; None if it does not follow the candle file naming."""
        match = _FILE_NAME.match(name)
        if match is None:
            return None
        return cls(match["exchange"], match["base"].upper(), match["quote"].upper(),
                   match["timeframe"])


def read_candle_file(path: Path | str) -> pd.DataFrame:
    """Read one candle file (`.csv` or `.csv.gz`, header `timestamp,open,high,low,close,volume`).

    Rows come back sorted by open time; a repeated open time keeps its last row. Values that
    are not numbers become NaN (the signals treat such candles as unusable, with a reason);
    a bad header, an unreadable timestamp or timestamps in seconds raise `CandleError`.
    """
    file = Path(path)
    try:
        with _open_text(file) as handle:
            header = handle.readline().strip().lstrip("\ufeff")
            columns = tuple(part.strip().lower() for part in header.split(","))
            if columns != HEADER:
                raise CandleError(
                    f"{file}: header is {header!r}, expected {','.join(HEADER)!r}"
                )
            body = handle.read()
        numbers = _read_numbers(body)
        if numbers is not None:
            return _checked(file, numbers)
        raw = pd.read_csv(io.StringIO(body), header=None, names=list(HEADER), dtype=str,
                          skip_blank_lines=True, keep_default_na=False)
    except (OSError, EOFError, UnicodeDecodeError, pd.errors.ParserError) as error:
        raise CandleError(f"{file}: cannot be read as a candle file: {error}") from None
    stamps = pd.to_numeric(raw["timestamp"], errors="coerce")
    bad = stamps.isna() | (stamps % 1 != 0)
    if bad.any():
        row = int(np.argmax(bad.to_numpy())) + 2  # +1 for the header, +1 for counting from 1
        raise CandleError(f"{file}: line {row}: timestamp {raw['timestamp'].iloc[row - 2]!r} "
                          "is not an epoch time in milliseconds")
    frame = pd.DataFrame(
        {name: pd.to_numeric(raw[name], errors="coerce").to_numpy(dtype=np.float64)
         for name in COLUMNS},
        index=pd.Index(stamps.to_numpy(dtype=np.int64), name="timestamp"),
    )
    return _checked(file, frame)


def _read_numbers(body: str) -> pd.DataFrame | None:
    """The fast path: parse a body whose every field is a number (None if some is not).

    Gives the same values as the careful path (both use pandas' float parser) about five
    times faster; anything unusual falls back to the careful path and its messages.
    """
    dtypes = {"timestamp": np.int64, **dict.fromkeys(COLUMNS, np.float64)}
    try:
        frame = pd.read_csv(io.StringIO(body), header=None, names=list(HEADER), dtype=dtypes,
                            skip_blank_lines=True)
    except (ValueError, TypeError, pd.errors.ParserError):
        return None
    return frame.set_index("timestamp")


def _checked(file: Path, frame: pd.DataFrame) -> pd.DataFrame:
    """Refuse timestamps in seconds; sort and de-duplicate."""
    times = frame.index.to_numpy(dtype=np.int64)
    if times.size and int(times.max()) < _MIN_EPOCH_MS:
        raise CandleError(f"{file}: timestamps look like seconds; expected epoch milliseconds")
    return _tidy(frame)


def read_candle_dir(
    directory: Path | str,
    timeframe: str,
    *,
    exchange: str | None = None,
    quote: str | None = None,
) -> dict[str, pd.DataFrame]:
    """Every candle file of `timeframe` in `directory`, keyed by base asset (e.g. `BTC`).

    `exchange` and `quote` narrow the choice when the directory holds several. Raises
    `CandleError` when the directory is missing, has no files of that timeframe, or holds two
    files for one asset.
    """
    timeframe_ms(timeframe)
    folder = Path(directory)
    if not folder.is_dir():
        raise CandleError(f"candle directory {folder} does not exist or is not a directory")
    chosen: dict[str, tuple[CandleFileName, Path]] = {}
    other_timeframes: set[str] = set()
    for path in sorted(folder.iterdir()):
        name = CandleFileName.parse(path.name)
        if name is None or not path.is_file():
            continue
        if exchange is not None and name.exchange != exchange:
            continue
        if quote is not None and name.quote != quote.upper():
            continue
        if name.timeframe != timeframe:
            other_timeframes.add(name.timeframe)
            continue
        if name.base in chosen:
            raise CandleError(
                f"two candle files for {name.base} in {folder}: {chosen[name.base][1].name} "
                f"and {path.name}; keep one, or choose an exchange or quote"
            )
        chosen[name.base] = (name, path)
    if not chosen:
        found = f" (found timeframes: {', '.join(sorted(other_timeframes))})" \
            if other_timeframes else ""
        raise CandleError(
            f"no candle files for timeframe {timeframe} in {folder}{found}; files are named "
            f"<exchange>_<BASE>_<QUOTE>_<timeframe>.csv or .csv.gz"
        )
    return {base: read_candle_file(path) for base, (_, path) in sorted(chosen.items())}


def write_candle_file(path: Path | str, frame: pd.DataFrame) -> None:
    """Write a candle frame in the format of docs/formats.md (gzip when the name ends in `.gz`)."""
    file = Path(path)
    out = frame[list(COLUMNS)].copy()
    out.insert(0, "timestamp", frame.index.to_numpy(dtype=np.int64))
    text = out.to_csv(index=False, lineterminator="\n", float_format=None)
    data = text.encode("utf-8")
    file.write_bytes(gzip.compress(data, mtime=0) if file.name.endswith(".gz") else data)


def _open_text(file: Path) -> TextIO:
    if file.name.endswith(".gz"):
        return gzip.open(file, "rt", encoding="utf-8", newline="")
    return file.open(encoding="utf-8", newline="")


def _tidy(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame[~frame.index.duplicated(keep="last")]
    if not frame.index.is_monotonic_increasing:
        frame = frame.sort_index(kind="stable")
    return frame
