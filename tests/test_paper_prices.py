"""Replayed prices: the last *closed* candle at the clock's time, never one from its future."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from core.domain.models import Balance, Side
from core.exchange.base import Exchange, OrderRequest
from core.exchange.paper import PaperExchange
from core.exchange.paper_markets import bundled_markets
from core.exchange.prices import ManualClock, PriceSource, ReplayPrices
from core.market.candles import CandleError, read_candle_file
from core.storage.store import Store
from tests.fixed_prices import FixedPrices

REAL_CANDLES = Path(__file__).parent / "fixtures" / "candles"
HOUR = 3_600_000
START = 1_709_251_200_000  # 2024-03-01 00:00 UTC


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


@pytest.fixture
def candles_dir(tmp_path: Path) -> Path:
    """Three hourly SOL candles closing at 101, 102, 103, and one daily file."""
    folder = tmp_path / "candles"
    folder.mkdir()
    rows = "\n".join(
        f"{START + i * HOUR},{100 + i},{110 + i},{90 + i},{101 + i},{1000 + i}" for i in range(3)
    )
    header = "timestamp,open,high,low,close,volume\n"
    (folder / "binance_SOL_USDT_1h.csv").write_text(header + rows + "\n")
    (folder / "binance_SOL_USDT_1d.csv").write_text(header + f"{START},100,120,80,111,9\n")
    (folder / "notes.txt").write_text("not a candle file")
    return folder


async def test_price_is_the_close_of_the_last_closed_candle(candles_dir: Path) -> None:
    clock = Clock(at(START + 2 * HOUR + 59 * 60_000))  # third candle still forming
    prices = ReplayPrices(candles_dir, clock)
    [price] = (await prices.fetch_prices(["SOL/USDT"])).values()
    assert (price.base, price.quote, price.last) == ("SOL", "USDT", Decimal("102"))
    assert price.at == at(START + 2 * HOUR)
    clock.now = at(START + 3 * HOUR)  # now it has closed
    assert (await prices.fetch_prices(["SOL/USDT"]))["SOL/USDT"].last == Decimal("103")


async def test_nothing_before_the_first_close_and_unknown_symbols(candles_dir: Path) -> None:
    prices = ReplayPrices(candles_dir, Clock(at(START + HOUR - 1)))
    assert await prices.fetch_prices(["SOL/USDT", "BTC/USDT", "SOL/BTC"]) == {}


async def test_candles_never_include_the_clocks_future(candles_dir: Path) -> None:
    prices = ReplayPrices(candles_dir, Clock(at(START + 2 * HOUR + 1)))
    candles = await prices.fetch_candles("SOL/USDT", "1h")
    assert [c.close for c in candles] == [101.0, 102.0]
    assert [c.close for c in await prices.fetch_candles("SOL/USDT", "1h", limit=1)] == [102.0]
    since = await prices.fetch_candles("SOL/USDT", "1h", since=START + HOUR, limit=5)
    assert [c.timestamp for c in since] == [START + HOUR]
    assert await prices.fetch_candles("SOL/USDT", "1d") == []  # the day has not closed
    assert await prices.fetch_candles("ETH/USDT", "1h") == []


async def test_price_timeframe_is_chosen(candles_dir: Path) -> None:
    prices = ReplayPrices(candles_dir, Clock(at(START + 24 * HOUR)), timeframe="1d")
    assert (await prices.fetch_prices(["SOL/USDT"]))["SOL/USDT"].last == Decimal("111")
    assert prices.symbols() == ["SOL/USDT"]


def test_bad_directories_are_named(tmp_path: Path, candles_dir: Path) -> None:
    with pytest.raises(CandleError, match="does not exist"):
        ReplayPrices(tmp_path / "nowhere", Clock(at(START)))
    shutil.copy(candles_dir / "binance_SOL_USDT_1h.csv", candles_dir / "kraken_SOL_USDT_1h.csv")
    with pytest.raises(CandleError, match="two candle files for SOL/USDT 1h"):
        ReplayPrices(candles_dir, Clock(at(START)))
    chosen = ReplayPrices(candles_dir, Clock(at(START)), exchange="kraken")
    assert chosen.symbols() == ["SOL/USDT"]


async def test_real_binance_daily_close(tmp_path: Path) -> None:
    """BTC/USDT closed 2024-01-01 at 44179.55 on Binance spot (a known price)."""
    shutil.copy(REAL_CANDLES / "binance_BTC_USDT_1d.csv.gz", tmp_path)
    clock = Clock(datetime(2024, 1, 2, tzinfo=UTC))
    prices = ReplayPrices(tmp_path, clock, timeframe="1d")
    assert (await prices.fetch_prices(["BTC/USDT"]))["BTC/USDT"].last == Decimal("44179.55")
    clock.now = datetime(2024, 1, 1, 23, 59, tzinfo=UTC)
    assert (await prices.fetch_prices(["BTC/USDT"]))["BTC/USDT"].last != Decimal("44179.55")


async def test_paper_exchange_fills_at_replayed_price(tmp_path: Path, candles_dir: Path) -> None:
    clock = Clock(at(START + 3 * HOUR))
    async with await Store.open(tmp_path / "replay.db") as store:
        exchange = PaperExchange(
            store, ReplayPrices(candles_dir, clock), bundled_markets(), fee_rate=Decimal("0"),
            clock=clock,
        )
        await exchange.seed({"USDT": Balance(Decimal("1000"))})
        order = await exchange.create_order(OrderRequest("SOL/USDT", Side.BUY, Decimal("1"), "r"))
        assert order.average_price == Decimal("103")
        assert order.timestamp == clock.now


def test_every_exchange_is_a_price_source() -> None:
    assert issubclass(PaperExchange, PriceSource)
    assert isinstance(FixedPrices({}), PriceSource)
    assert not isinstance(FixedPrices({}), Exchange)


def test_latest_close_is_the_newest_candle_close(candles_dir: Path) -> None:
    clock = ManualClock(at(START))
    assert ReplayPrices(candles_dir, clock).latest_close() == at(START + 3 * HOUR)
    assert ReplayPrices(candles_dir, clock, timeframe="1d").latest_close() == at(START + 24 * HOUR)
    clock.set(at(START + HOUR))
    assert clock() == at(START + HOUR)


async def test_daily_candles_are_built_from_hourly_files_when_no_daily_file_exists(
    tmp_path: Path,
) -> None:
    """Given only 1h files (as the demo's), the daily trend family's days are made from the
    hours: each UTC day's open, high, low, close and volume, and no day cut by the file's ends."""
    shutil.copy(REAL_CANDLES / "binance_BTC_USDT_1h.csv.gz", tmp_path)
    hourly = read_candle_file(tmp_path / "binance_BTC_USDT_1h.csv.gz")
    clock = Clock(at(int(hourly.index[-1]) + HOUR))
    days = await ReplayPrices(tmp_path, clock).fetch_candles("BTC/USDT", "1d")
    grouped = hourly.groupby(hourly.index // (24 * HOUR) * (24 * HOUR))
    # Days the file covers from 00:00 to 23:00 UTC; a day cut by where the file begins or ends
    # is not one. Hours missing inside a covered day (the exchange's outages) are left out, as
    # Binance's own daily candle leaves them out (core/market/resample.py).
    starts = grouped.size().index
    whole = (starts >= hourly.index[0]) & (starts + 23 * HOUR <= hourly.index[-1])
    expected = grouped.agg(open=("open", "first"), high=("high", "max"), low=("low", "min"),
                           close=("close", "last"), volume=("volume", "sum"))[whole]
    assert 20 < len(days) == len(expected) < len(grouped)
    for day, (stamp, row) in zip(days, expected.iterrows(), strict=True):
        assert day.timestamp == stamp
        assert (day.open, day.high, day.low, day.close) == (
            row["open"], row["high"], row["low"], row["close"])
        assert day.volume == pytest.approx(row["volume"], rel=1e-9)
