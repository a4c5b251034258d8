"""Longer candles from shorter ones, exactly as the exchange builds them.

A daily strategy beside hourly ones needs daily candles. Where the exchange's own are at hand
(a `1d` candle file, the exchange's API) they are used; where only shorter candles are (a
`--candles` directory of `1h` files), `aggregate_candles` builds them:

- periods are aligned to UTC (a day runs 00:00–24:00 UTC, a 4h candle starts at 00, 04, …),
  as Binance aligns its candles;
- only *complete* periods count: periods the candles cover from start to end — the data
  reaches back to the period's first candle (or earlier) and on to its last candle (or later).
  A period still forming, or cut by where the data begins or ends, is never handed out. A
  candle missing *inside* a covered period is an hour the exchange did not trade (an outage):
  the exchange's own candle leaves it out too, and so does this one (every one of the 30 such
  days in Binance's BTC and ETH 2017–2024 hourly files equals Binance's daily candle);
- open = the first candle's open, high = the highest high, low = the lowest low, close = the
  last candle's close, volume = the sum of the volumes. A period holding an unusable candle
  (NaN prices) comes out unusable too, and the signals treat it so.

On every day both exist, the result equals Binance's own 1d candle: open, high, low and close
to the bit, volume to float rounding (tests/test_candle_resample.py checks it on real files).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from core.market.candles import (
    COLUMNS,
    CandleError,
    CandleFileName,
    empty_frame,
    read_candle_dir,
    timeframe_ms,
)


def aggregate_candles(frame: pd.DataFrame, source: str, target: str) -> pd.DataFrame:
    """The complete `target` candles (e.g. `1d`) made of the `source` candles (e.g. `1h`) of a
    candle frame; see the module docs. `target` must be a whole multiple of `source`."""
    short, long = timeframe_ms(source), timeframe_ms(target)
    if long % short or long < short:
        raise CandleError(f"{target} candles cannot be built from {source} candles: "
                          f"{target} is not a whole number of {source} candles")
    if long == short:
        return frame
    if frame.empty:
        return empty_frame()
    times = frame.index.to_numpy(dtype=np.int64)
    periods = times // long * long
    starts = np.flatnonzero(np.r_[True, periods[1:] != periods[:-1]])
    stops = np.r_[starts[1:], times.size]
    # Covered: the data reaches the period's start (its first candle or an earlier one) and its
    # end (its last candle or a later one). Candles missing inside are hours without trading.
    first_in, last_in = times[starts], times[stops - 1]
    began = (first_in == periods[starts]) | (np.arange(starts.size) > 0)
    ended = (last_in == periods[starts] + long - short) | (stops < times.size)
    values = frame[list(COLUMNS)].to_numpy(dtype=np.float64)
    aggregated = pd.DataFrame(
        {
            "open": values[starts, 0],
            "high": np.maximum.reduceat(values[:, 1], starts),
            "low": np.minimum.reduceat(values[:, 2], starts),
            "close": values[stops - 1, 3],
            "volume": np.add.reduceat(values[:, 4], starts),
        },
        index=pd.Index(periods[starts], name="timestamp"),
    )
    return aggregated[began & ended]


def candles_of_timeframe(
    directory: Path | str,
    timeframe: str,
    shorter: Mapping[str, pd.DataFrame],
    source: str,
    *,
    quote: str | None = None,
) -> dict[str, pd.DataFrame]:
    """Each asset of `shorter` (candle frames of timeframe `source`) in `timeframe` candles:
    from the directory's own `timeframe` file where it has one, else aggregated from `shorter`.

    The exchange's own candles are preferred: they may reach back further than the shorter
    ones. Assets without either are left out.
    """
    folder = Path(directory)
    own: dict[str, pd.DataFrame] = {}
    if timeframe != source and _has_files(folder, timeframe, quote):
        own = read_candle_dir(folder, timeframe, quote=quote)
    return {asset: own[asset] if asset in own else aggregate_candles(frame, source, timeframe)
            for asset, frame in shorter.items()}


def _has_files(folder: Path, timeframe: str, quote: str | None) -> bool:
    for path in folder.iterdir():
        name = CandleFileName.parse(path.name)
        if name is not None and name.timeframe == timeframe and (
                quote is None or name.quote == quote.upper()):
            return True
    return False
