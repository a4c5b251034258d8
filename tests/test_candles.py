"""Candle files (docs/formats.md) and the incremental SQLite candle cache, on real candles."""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.domain.models import Candle
from core.market.candle_cache import CandleCache, CandleSource
from core.market.candles import (
    CandleError,
    CandleFileName,
    Gap,
    closed_candles,
    find_gaps,
    frame_to_candles,
    last_closed_open,
    read_candle_dir,
    read_candle_file,
    timeframe_ms,
    write_candle_file,
)
from core.storage.store import Store

FIXTURES = Path(__file__).parent / "fixtures" / "candles"
HOUR = 3_600_000
DAY = 86_400_000


def ms(text: str) -> int:
    return int(pd.Timestamp(text, tz="UTC").timestamp() * 1000)


# ---------------------------------------------------------------- timeframes and files


def test_timeframes_map_to_milliseconds_and_unknown_ones_are_named() -> None:
    assert timeframe_ms("1h") == HOUR
    assert timeframe_ms("1d") == DAY
    assert timeframe_ms("15m") == 15 * 60_000
    with pytest.raises(CandleError, match="unknown timeframe '7m'"):
        timeframe_ms("7m")


def test_last_closed_candle_is_the_one_whose_close_is_not_after_t() -> None:
    # At 10:00 sharp the 09:00 candle has just closed; the 10:00 one is forming.
    assert last_closed_open(ms("2024-03-01 10:00"), "1h") == ms("2024-03-01 09:00")
    assert last_closed_open(ms("2024-03-01 10:59:59"), "1h") == ms("2024-03-01 09:00")
    assert last_closed_open(ms("2024-03-01 00:00"), "1d") == ms("2024-02-29")


def test_file_names_follow_spec_9() -> None:
    name = CandleFileName.parse("binance_BTC_USDT_1d.csv.gz")
    assert name == CandleFileName("binance", "BTC", "USDT", "1d")
    assert CandleFileName.parse("binanceus_eth_usd_1h.csv") == CandleFileName(
        "binanceus", "ETH", "USD", "1h")
    assert CandleFileName.parse("BTC_USDT-1d.feather") is None
    assert CandleFileName.parse("notes.txt") is None


def test_reads_real_candles_with_known_prices() -> None:
    frame = read_candle_file(FIXTURES / "binance_BTC_USDT_1d.csv.gz")
    # Known Binance BTC/USDT prices (tests/fixtures/README.md).
    assert frame.loc[ms("2023-07-01"), "close"] == 30585.9
    assert frame.loc[ms("2024-01-01"), "open"] == 42283.58
    assert list(frame.columns) == ["open", "high", "low", "close", "volume"]
    assert frame.index.name == "timestamp"
    assert frame.index.is_monotonic_increasing and frame.index.is_unique
    assert len(frame) == 487


def test_plain_csv_round_trips_and_is_sorted_with_last_duplicate_kept(tmp_path: Path) -> None:
    path = tmp_path / "binance_BTC_USDT_1h.csv"
    path.write_text(
        "timestamp,open,high,low,close,volume\n"
        f"{ms('2024-01-01 01:00')},2,3,1,2.5,10\n"
        f"{ms('2024-01-01 00:00')},1,2,0.5,1.5,10\n"
        f"{ms('2024-01-01 01:00')},2,3,1,2.75,11\n"
    )
    frame = read_candle_file(path)
    assert frame.index.tolist() == [ms("2024-01-01 00:00"), ms("2024-01-01 01:00")]
    assert frame["close"].tolist() == [1.5, 2.75]
    out = tmp_path / "copy_BTC_USDT_1h.csv.gz"
    write_candle_file(out, frame)
    assert gzip.decompress(out.read_bytes()).startswith(b"timestamp,open,high,low,close,volume\n")
    pd.testing.assert_frame_equal(read_candle_file(out), frame)


def test_values_that_are_not_numbers_become_nan(tmp_path: Path) -> None:
    path = tmp_path / "x_BTC_USDT_1h.csv"
    path.write_text(
        "timestamp,open,high,low,close,volume\n"
        f"{ms('2024-01-01 00:00')},1,2,0.5,NaN,10\n"
        f"{ms('2024-01-01 01:00')},1,2,0.5,,10\n"
        f"{ms('2024-01-01 02:00')},1,2,0.5,oops,10\n"
    )
    assert read_candle_file(path)["close"].isna().all()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("time,o,h,l,c,v\n1,1,1,1,1,1\n", "header is 'time,o,h,l,c,v'"),
        ("timestamp,open,high,low,close,volume\nyesterday,1,1,1,1,1\n", "line 2: timestamp"),
        ("timestamp,open,high,low,close,volume\n1709251200,1,1,1,1,1\n", "look like seconds"),
    ],
)
def test_malformed_files_raise_errors_that_name_the_file(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "x_BTC_USDT_1h.csv"
    path.write_text(content)
    with pytest.raises(CandleError, match=message) as error:
        read_candle_file(path)
    assert str(path) in str(error.value)


def test_a_broken_gzip_file_is_a_candle_error(tmp_path: Path) -> None:
    path = tmp_path / "x_BTC_USDT_1h.csv.gz"
    path.write_bytes(b"not gzip at all")
    with pytest.raises(CandleError, match="cannot be read"):
        read_candle_file(path)


def test_directory_gives_one_frame_per_asset_of_the_timeframe() -> None:
    daily = read_candle_dir(FIXTURES, "1d")
    assert sorted(daily) == ["AVAX", "BTC", "ETH"]
    hourly = read_candle_dir(FIXTURES, "1h")
    assert sorted(hourly) == ["BTC"]


def test_directory_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(CandleError, match="does not exist"):
        read_candle_dir(tmp_path / "nope", "1d")
    with pytest.raises(CandleError, match=r"no candle files for timeframe 4h .*found timeframes: "
                                          r"1d, 1h"):
        read_candle_dir(FIXTURES, "4h")
    with pytest.raises(CandleError, match="unknown timeframe"):
        read_candle_dir(FIXTURES, "1y")
    (tmp_path / "binance_BTC_USDT_1d.csv").write_text("timestamp,open,high,low,close,volume\n")
    (tmp_path / "binanceus_BTC_USD_1d.csv").write_text("timestamp,open,high,low,close,volume\n")
    with pytest.raises(CandleError, match="two candle files for BTC"):
        read_candle_dir(tmp_path, "1d")
    assert list(read_candle_dir(tmp_path, "1d", quote="USD")) == ["BTC"]


def test_closed_candles_drop_the_forming_one() -> None:
    frame = read_candle_file(FIXTURES / "binance_BTC_USDT_1h.csv.gz")
    at = ms("2020-12-15 10:30")
    closed = closed_candles(frame, "1h", at)
    assert closed.index[-1] == ms("2020-12-15 09:00")  # 10:00 is still forming at 10:30


def test_gaps_in_real_hourly_candles_are_found() -> None:
    frame = read_candle_file(FIXTURES / "binance_BTC_USDT_1h.csv.gz")
    gaps = find_gaps(frame.index.to_numpy(), "1h")
    # Binance had no BTC/USDT candles for 4 hours on 2020-12-21 and 1 hour on 2020-12-25.
    assert gaps == [
        Gap(ms("2020-12-21 13:00"), ms("2020-12-21 18:00"), 4),
        Gap(ms("2020-12-25 01:00"), ms("2020-12-25 03:00"), 1),
    ]
    assert gaps[0].describe() == (
        "4 candles missing between 2020-12-21 13:00 UTC and 2020-12-21 18:00 UTC")


# ---------------------------------------------------------------- the SQLite cache


class FakeCandleExchange(CandleSource):
    """Stand-in for an exchange's candle endpoint over real candles, counting requests.

    Like Binance, it returns up to `limit` candles opening at or after `since`, and the candle
    that is still forming at `now` with provisional numbers.
    """

    def __init__(self, candles: Sequence[Candle], now_ms: int, max_page: int = 1000) -> None:
        self.candles = list(candles)
        self.now_ms = now_ms
        self.max_page = max_page
        self.requests: list[tuple[int | None, int | None]] = []

    @property
    def name(self) -> str:
        return "binance"

    async def fetch_candles(
        self, symbol: str, timeframe: str, since: int | None = None, limit: int | None = None
    ) -> list[Candle]:
        self.requests.append((since, limit))
        length = timeframe_ms(timeframe)
        page = [c for c in self.candles
                if (since is None or c.timestamp >= since) and c.timestamp <= self.now_ms]
        page = page[: min(limit or 500, self.max_page)]
        if page and page[-1].timestamp + length > self.now_ms:
            forming = page[-1]
            page[-1] = Candle(forming.timestamp, forming.open, forming.high, forming.low,
                              forming.close * 1.5, forming.volume / 10)
        return page


@pytest.fixture
def hourly() -> list[Candle]:
    return frame_to_candles(read_candle_file(FIXTURES / "binance_BTC_USDT_1h.csv.gz"))


async def test_first_load_then_only_new_candles_are_requested(
    tmp_path: Path, hourly: list[Candle]
) -> None:
    now = ms("2020-12-20 12:30")
    exchange = FakeCandleExchange(hourly, now, max_page=100)
    async with await Store.open(tmp_path / "ballast.db") as store:
        cache = CandleCache(store, exchange, page_limit=100)
        first = await cache.refresh("BTC/USDT", "1h", now, history=250)
        assert first.requests == 3  # 250 candles in pages of 100
        assert first.new_candles == 250
        assert first.last_closed == ms("2020-12-20 11:00")  # 12:00 is forming at 12:30
        assert first.gaps == () and first.missing_recent == 0

        # Same hour: no candle can have closed, so no request at all.
        exchange.requests.clear()
        again = await cache.refresh("BTC/USDT", "1h", ms("2020-12-20 12:59"), history=250)
        assert (again.requests, again.new_candles, exchange.requests) == (0, 0, [])

        # One hour on: one request, starting right after the newest stored candle.
        exchange.now_ms = now + HOUR
        second = await cache.refresh("BTC/USDT", "1h", now + HOUR, history=250)
        assert second.requests == 1 and second.new_candles == 1
        assert exchange.requests == [(ms("2020-12-20 12:00"), 100)]

        frame = await cache.load("BTC/USDT", "1h")
        assert len(frame) == 251
        assert frame.index[-1] == ms("2020-12-20 12:00")


async def test_a_forming_candle_is_never_stored(tmp_path: Path, hourly: list[Candle]) -> None:
    now = ms("2020-12-15 10:30")
    exchange = FakeCandleExchange(hourly, now)
    real = {c.timestamp: c for c in hourly}
    async with await Store.open(tmp_path / "ballast.db") as store:
        cache = CandleCache(store, exchange)
        await cache.refresh("BTC/USDT", "1h", now, history=24)
        frame = await cache.load("BTC/USDT", "1h")
        assert ms("2020-12-15 10:00") not in frame.index
        # Once it has closed, it is fetched with its final numbers.
        exchange.now_ms = now + HOUR
        await cache.refresh("BTC/USDT", "1h", now + HOUR, history=24)
        frame = await cache.load("BTC/USDT", "1h")
        assert frame.loc[ms("2020-12-15 10:00"), "close"] == real[ms("2020-12-15 10:00")].close


async def test_exchange_gaps_are_tolerated_reported_and_not_asked_again(
    tmp_path: Path, hourly: list[Candle]
) -> None:
    now = ms("2020-12-21 12:30")
    exchange = FakeCandleExchange(hourly, now)
    async with await Store.open(tmp_path / "ballast.db") as store:
        cache = CandleCache(store, exchange)
        await cache.refresh("BTC/USDT", "1h", now, history=48)
        exchange.now_ms = later = ms("2020-12-21 20:10")
        refresh = await cache.refresh("BTC/USDT", "1h", later, history=48)
        assert refresh.gaps == (Gap(ms("2020-12-21 13:00"), ms("2020-12-21 18:00"), 4),)
        assert refresh.new_candles == 4  # 12:00, 13:00, 18:00 and 19:00; 20:00 is forming
        exchange.requests.clear()
        exchange.now_ms = ms("2020-12-21 21:00")
        await cache.refresh("BTC/USDT", "1h", ms("2020-12-21 21:00"), history=48)
        assert exchange.requests == [(ms("2020-12-21 20:00"), 1000)]


async def test_missing_recent_candles_are_counted(tmp_path: Path, hourly: list[Candle]) -> None:
    exchange = FakeCandleExchange(hourly, ms("2020-12-21 15:30"))
    async with await Store.open(tmp_path / "ballast.db") as store:
        refresh = await CandleCache(store, exchange).refresh(
            "BTC/USDT", "1h", ms("2020-12-21 15:30"), history=48)
        assert refresh.last_closed == ms("2020-12-21 13:00")
        assert refresh.missing_recent == 1  # 14:00 closed, the exchange has none


async def test_unusable_candles_from_the_exchange_are_left_out(
    tmp_path: Path, hourly: list[Candle]
) -> None:
    broken = list(hourly)
    index = next(i for i, c in enumerate(broken) if c.timestamp == ms("2020-12-15 05:00"))
    c = broken[index]
    broken[index] = Candle(c.timestamp, c.open, c.high, c.low, float("nan"), c.volume)
    exchange = FakeCandleExchange(broken, ms("2020-12-15 08:30"))
    async with await Store.open(tmp_path / "ballast.db") as store:
        cache = CandleCache(store, exchange)
        refresh = await cache.refresh("BTC/USDT", "1h", ms("2020-12-15 08:30"), history=10)
        assert refresh.gaps == (Gap(ms("2020-12-15 04:00"), ms("2020-12-15 06:00"), 1),)
        frame = await cache.load("BTC/USDT", "1h")
        assert not np.isnan(frame.to_numpy()).any()


async def test_a_source_repeating_itself_cannot_loop(tmp_path: Path, hourly: list[Candle]) -> None:
    class Stuck(FakeCandleExchange):
        async def fetch_candles(
            self, symbol: str, timeframe: str, since: int | None = None,
            limit: int | None = None,
        ) -> list[Candle]:
            self.requests.append((since, limit))
            return self.candles[:2]  # ignores `since`

    exchange = Stuck(hourly, ms("2020-12-20 00:00"))
    async with await Store.open(tmp_path / "ballast.db") as store:
        refresh = await CandleCache(store, exchange, page_limit=2).refresh(
            "BTC/USDT", "1h", ms("2020-12-20 00:00"), history=5)
        assert refresh.requests == 1 and refresh.new_candles == 0


async def test_after_a_long_pause_only_the_history_window_is_fetched(
    tmp_path: Path, hourly: list[Candle]
) -> None:
    exchange = FakeCandleExchange(hourly, ms("2020-12-11 00:00"))
    async with await Store.open(tmp_path / "ballast.db") as store:
        cache = CandleCache(store, exchange)
        await cache.refresh("BTC/USDT", "1h", ms("2020-12-11 00:00"), history=10)
        exchange.now_ms = ms("2021-01-04 00:00")
        exchange.requests.clear()
        refresh = await cache.refresh("BTC/USDT", "1h", ms("2021-01-04 00:00"), history=10)
        assert exchange.requests == [(ms("2021-01-03 14:00"), 1000)]
        assert refresh.new_candles == 10
        assert refresh.gaps[0].after == ms("2020-12-10 23:00")
        last = await cache.load("BTC/USDT", "1h", limit=3)
        assert last.index.tolist() == [ms("2021-01-03 21:00"), ms("2021-01-03 22:00"),
                                       ms("2021-01-03 23:00")]


async def test_markets_and_timeframes_are_cached_apart(
    tmp_path: Path, hourly: list[Candle]
) -> None:
    exchange = FakeCandleExchange(hourly, ms("2020-12-15 00:00"))
    async with await Store.open(tmp_path / "ballast.db") as store:
        cache = CandleCache(store, exchange)
        await cache.refresh("BTC/USDT", "1h", ms("2020-12-15 00:00"), history=5)
        assert len(await cache.load("ETH/USDT", "1h")) == 0
        assert await cache.newest("BTC/USDT", "1d") is None
        assert await cache.newest("BTC/USDT", "1h") == ms("2020-12-14 23:00")
