"""Daily candles built from hourly ones equal Binance's own, day for day (real files)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.market.candles import CandleError, read_candle_file
from core.market.resample import aggregate_candles, candles_of_timeframe

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "candles_2023q1"
HOUR, DAY = 3_600_000, 86_400_000
OUTAGE_DAY = 1_679_616_000_000  # 2023-03-24: Binance lost the 13:00 UTC hour


@pytest.mark.parametrize("asset", ["BTC", "ETH"])
def test_daily_candles_from_hourly_ones_equal_binances_own(asset: str) -> None:
    hourly = read_candle_file(FIXTURES / f"binance_{asset}_USDT_1h.csv.gz")
    daily = read_candle_file(FIXTURES / f"binance_{asset}_USDT_1d.csv.gz")
    built = aggregate_candles(hourly, "1h", "1d")

    assert list(built.index) == list(daily.index)  # every day of the files, the outage's too
    assert OUTAGE_DAY + 13 * HOUR not in hourly.index and OUTAGE_DAY in built.index
    for column in ("open", "high", "low", "close"):
        assert np.array_equal(built[column].to_numpy(), daily[column].to_numpy()), column
    assert np.allclose(built["volume"], daily["volume"], rtol=1e-12, atol=0)


def test_a_day_still_forming_or_cut_by_the_data_is_never_a_day() -> None:
    hourly = read_candle_file(FIXTURES / "binance_BTC_USDT_1h.csv.gz")
    # The data starts at 05:00 one day and stops at 22:00 on another (that day still forming).
    cut = hourly.loc[1_676_000_000_000 // DAY * DAY + 5 * HOUR:1_677_000_000_000 // DAY * DAY
                     + 22 * HOUR]
    built = aggregate_candles(cut, "1h", "1d")
    assert built.index[0] == cut.index[0] // DAY * DAY + DAY
    assert built.index[-1] + DAY <= cut.index[-1] // DAY * DAY
    assert (built.index % DAY == 0).all()  # UTC midnight, as Binance's


def test_the_days_end_candle_completes_it() -> None:
    hourly = read_candle_file(FIXTURES / "binance_BTC_USDT_1h.csv.gz")
    first_day = int(hourly.index[0])
    assert aggregate_candles(hourly.iloc[:23], "1h", "1d").empty
    whole = aggregate_candles(hourly.iloc[:24], "1h", "1d")
    assert list(whole.index) == [first_day]
    assert whole["close"].iloc[0] == hourly["close"].iloc[23]


@given(st.lists(st.tuples(st.integers(0, 95), st.floats(1, 1e6)), min_size=1, max_size=80))
def test_each_period_is_its_candles_summed_up(rows: list[tuple[int, float]]) -> None:
    """Any set of hourly candles over four days: each 4h candle built is the max/min/first/
    last/sum of the hours in it, and comes only from periods the data covers."""
    hours = sorted({hour for hour, _ in rows})
    prices = dict(rows)
    times = np.array([1_700_000_000_000 // DAY * DAY + h * HOUR for h in hours], dtype=np.int64)
    close = np.array([prices[h] for h in hours])
    frame = pd.DataFrame({"open": close * 0.99, "high": close * 1.01, "low": close * 0.98,
                          "close": close, "volume": close / 7},
                         index=pd.Index(times, name="timestamp"))
    built = aggregate_candles(frame, "1h", "4h")
    for start, candle in built.iterrows():
        inside = frame[(frame.index >= start) & (frame.index < start + 4 * HOUR)]
        assert candle["open"] == inside["open"].iloc[0]
        assert candle["close"] == inside["close"].iloc[-1]
        assert candle["high"] == inside["high"].max() and candle["low"] == inside["low"].min()
        assert candle["volume"] == pytest.approx(inside["volume"].sum(), rel=1e-12)
        assert times[0] <= start and start + 3 * HOUR <= times[-1]


def test_a_timeframe_that_is_no_multiple_is_refused() -> None:
    hourly = read_candle_file(FIXTURES / "binance_BTC_USDT_1h.csv.gz")
    with pytest.raises(CandleError, match="1h candles cannot be built from 1d"):
        aggregate_candles(hourly, "1d", "1h")


def test_a_directory_gives_its_own_daily_files_first(tmp_path: Path) -> None:
    only_hours = tmp_path / "hours"
    only_hours.mkdir()
    for asset in ("BTC", "ETH"):
        shutil.copy(FIXTURES / f"binance_{asset}_USDT_1h.csv.gz", only_hours)
    hourly = {a: read_candle_file(FIXTURES / f"binance_{a}_USDT_1h.csv.gz") for a in ("BTC",)}
    own = candles_of_timeframe(FIXTURES, "1d", hourly, "1h", quote="USDT")
    built = candles_of_timeframe(only_hours, "1d", hourly, "1h", quote="USDT")
    assert own["BTC"]["volume"].tolist() == read_candle_file(
        FIXTURES / "binance_BTC_USDT_1d.csv.gz")["volume"].tolist()
    assert built["BTC"][["open", "high", "low", "close"]].equals(
        own["BTC"][["open", "high", "low", "close"]])
