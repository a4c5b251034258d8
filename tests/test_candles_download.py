"""`ballast candles download`: real ccxt against the Binance stand-in's klines (real candles).

The stand-in serves tests/fixtures' BTC/USDT 1h candles (2020-12-10 → 2021-01-05: 620 candles,
with two real Binance gaps of 4 and 1 candles), at most `max_klines` a request, and answers 429
on demand. Retry waits go through a recording `sleep`: no test waits them out.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from core.exchange.ccxt_exchange import CcxtExchange
from core.exchange.errors import ExchangeError
from core.market.candles import read_candle_dir, read_candle_file
from core.market.download import (
    UnknownMarket,
    default_candle_dir,
    download_candles,
    missing_ranges,
    parse_symbols,
)
from tests.standins.binance import CANDLES_DIR, BinanceStandIn

BALLAST = Path(sys.executable).parent / "ballast"
HOUR = 3_600_000
FIRST = 1_607_558_400_000  # 2020-12-10 00:00 UTC, the fixture's first candle
LAST = 1_609_804_800_000  # 2021-01-05 00:00 UTC, its last
NOW = LAST + 10 * HOUR  # every fixture candle has closed
FIXTURE = CANDLES_DIR / "binance_BTC_USDT_1h.csv.gz"


def ms(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp() * 1000)


@pytest.fixture
async def standin() -> AsyncIterator[BinanceStandIn]:
    async with BinanceStandIn(max_klines=200) as server:
        yield server


class Waits:
    """The retry waits asked for, recorded instead of slept."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


@pytest.fixture
async def exchange(standin: BinanceStandIn) -> AsyncIterator[tuple[CcxtExchange, Waits]]:
    waits = Waits()
    client = CcxtExchange("binance", api_url=standin.url, sleep=waits)
    yield client, waits
    await client.close()


def klines(standin: BinanceStandIn) -> list[dict[str, str]]:
    return [r.params for r in standin.requests if r.route == "GET /api/v3/klines"]


async def test_a_download_pages_through_the_limit_and_writes_the_exchanges_candles(
        standin: BinanceStandIn, exchange: tuple[CcxtExchange, Waits], tmp_path: Path) -> None:
    client, _ = exchange
    [result] = await download_candles(client, ["BTC/USDT"], "1h", start_ms=FIRST,
                                      end_ms=LAST + HOUR, now_ms=NOW, directory=tmp_path)
    # 620 candles at most 200 a request: 4 pages, each asking Binance's own limit.
    assert result.requests == 4
    assert [p["limit"] for p in klines(standin)] == ["1000"] * 4
    assert result.path == tmp_path / "binance_BTC_USDT_1h.csv.gz"
    pd.testing.assert_frame_equal(read_candle_file(result.path), read_candle_file(FIXTURE))
    # The file is one `--candles` reads.
    assert list(read_candle_dir(tmp_path, "1h")) == ["BTC"]


async def test_gaps_are_reported_and_left_unfilled(
        exchange: tuple[CcxtExchange, Waits], tmp_path: Path) -> None:
    client, _ = exchange
    [result] = await download_candles(client, ["BTC/USDT"], "1h", start_ms=FIRST,
                                      end_ms=LAST + HOUR, now_ms=NOW, directory=tmp_path)
    assert (result.first, result.last, result.new_candles) == (FIRST, LAST, 620)
    assert [gap.missing for gap in result.gaps] == [4, 1]
    assert result.gaps[0].describe() == ("4 candles missing between 2020-12-21 13:00 UTC "
                                         "and 2020-12-21 18:00 UTC")


async def test_a_rate_limit_is_waited_out_with_ballasts_backoff(
        standin: BinanceStandIn, exchange: tuple[CcxtExchange, Waits], tmp_path: Path) -> None:
    client, waits = exchange
    standin.fail_next("GET /api/v3/klines", "rate_limit", retry_after=3)
    [result] = await download_candles(client, ["BTC/USDT"], "1h", start_ms=FIRST,
                                      end_ms=LAST + HOUR, now_ms=NOW, directory=tmp_path)
    assert waits.seconds == [3.0]  # Retry-After, longer than the first backoff (0.5 s)
    assert [r.status for r in standin.requests if r.path == "/api/v3/klines"][:2] == [429, 200]
    assert result.new_candles == 620


async def test_a_resumed_download_fetches_only_the_new_candles(
        standin: BinanceStandIn, exchange: tuple[CcxtExchange, Waits], tmp_path: Path) -> None:
    client, _ = exchange
    await download_candles(client, ["BTC/USDT"], "1h", start_ms=FIRST, end_ms=ms("2021-01-01"),
                           now_ms=NOW, directory=tmp_path)
    standin.clear_log()
    [result] = await download_candles(client, ["BTC/USDT"], "1h", start_ms=FIRST,
                                      end_ms=LAST + HOUR, now_ms=NOW, directory=tmp_path)
    # 2021-01-01 00:00 → 2021-01-05 00:00: 97 candles, one request starting after the file's end.
    assert result.new_candles == 97
    assert [p["startTime"] for p in klines(standin)] == [str(ms("2021-01-01"))]
    pd.testing.assert_frame_equal(read_candle_file(result.path), read_candle_file(FIXTURE))
    standin.clear_log()
    [again] = await download_candles(client, ["BTC/USDT"], "1h", start_ms=FIRST,
                                     end_ms=LAST + HOUR, now_ms=NOW, directory=tmp_path)
    assert (again.requests, again.new_candles, klines(standin)) == (0, 0, [])


async def test_a_failed_download_keeps_what_it_fetched_and_resumes_there(
        standin: BinanceStandIn, exchange: tuple[CcxtExchange, Waits], tmp_path: Path) -> None:
    client, _ = exchange
    pages: list[int] = []

    def ban_after_the_first_page(symbol: str, done: int, total: int) -> None:
        # Banned for longer than Ballast waits: the exchange failed on the second page.
        pages.append(done)
        if len(pages) == 1:
            standin.fail_next("GET /api/v3/klines", "ip_ban", retry_after=600)

    with pytest.raises(ExchangeError):
        await download_candles(client, ["BTC/USDT"], "1h", start_ms=FIRST, end_ms=LAST + HOUR,
                               now_ms=NOW, directory=tmp_path, progress=ban_after_the_first_page)
    kept = read_candle_file(tmp_path / "binance_BTC_USDT_1h.csv.gz")
    assert pages == [200] and len(kept) == 200
    standin.clear_log()
    [result] = await download_candles(client, ["BTC/USDT"], "1h", start_ms=FIRST,
                                      end_ms=LAST + HOUR, now_ms=NOW, directory=tmp_path)
    assert klines(standin)[0]["startTime"] == str(int(kept.index[-1]) + HOUR)
    pd.testing.assert_frame_equal(read_candle_file(result.path), read_candle_file(FIXTURE))


async def test_a_candle_still_forming_is_not_written(
        exchange: tuple[CcxtExchange, Waits], tmp_path: Path) -> None:
    client, _ = exchange
    now = ms("2021-01-02") + 30 * 60_000  # the 2021-01-02 00:00 candle closes at 01:00
    [result] = await download_candles(client, ["BTC/USDT"], "1h", start_ms=ms("2021-01-01"),
                                      end_ms=LAST + HOUR, now_ms=now, directory=tmp_path)
    assert result.last == ms("2021-01-02") - HOUR
    assert int(read_candle_file(result.path).index[-1]) == ms("2021-01-02") - HOUR


async def test_an_unknown_symbol_is_named_and_nothing_is_fetched(
        standin: BinanceStandIn, exchange: tuple[CcxtExchange, Waits], tmp_path: Path) -> None:
    client, _ = exchange
    with pytest.raises(UnknownMarket, match="binance has no market NOPE/USDT"):
        await download_candles(client, ["BTC/USDT", "NOPE/USDT"], "1h", start_ms=FIRST,
                               end_ms=LAST + HOUR, now_ms=NOW, directory=tmp_path)
    assert klines(standin) == [] and list(tmp_path.iterdir()) == []


def test_what_is_missing_is_before_the_first_and_after_the_last_candle_held() -> None:
    assert missing_ranges([], 0, 9, 1) == [(0, 9)]
    assert missing_ranges([3, 4, 6], 0, 9, 1) == [(0, 2), (7, 9)]
    assert missing_ranges([0, 9], 0, 9, 1) == []
    assert missing_ranges([5], 6, 4, 1) == []


def test_symbols_and_the_default_directory() -> None:
    assert parse_symbols(" btc/usdt,ETH/USDT,BTC/USDT") == ["BTC/USDT", "ETH/USDT"]
    with pytest.raises(ValueError, match="'BTCUSDT' is not a market like BTC/USDT"):
        parse_symbols("BTCUSDT")
    assert default_candle_dir(None, {"XDG_DATA_HOME": "/data", "HOME": "/home/me"}) == \
        Path("/data/ballast/candles")
    assert default_candle_dir(None, {"HOME": "/home/me"}) == \
        Path("/home/me/.local/share/ballast/candles")
    assert default_candle_dir(Path("/mine"), {"XDG_DATA_HOME": "/data"}) == Path("/mine")


# ------------------------------------------------------------------ the command, as run


async def ballast(*args: str, env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    """Run the real `ballast` executable; (exit code, stdout, stderr with its lines joined)."""
    process = await asyncio.create_subprocess_exec(
        str(BALLAST), *args, cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode(), " ".join(err.decode().split())


def environment(standin: BinanceStandIn, data_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BALLAST_", "XDG_"))}
    env.update({"BALLAST_EXCHANGE_API_URL": standin.url, "XDG_DATA_HOME": str(data_home)})
    return env


async def test_exit_codes_name_the_bad_input_and_the_exchange_failure(
        standin: BinanceStandIn, tmp_path: Path) -> None:
    env = environment(standin, tmp_path / "data")
    download = ("candles", "download", "--timeframe", "1h", "--dir", str(tmp_path / "c"))
    code, _, err = await ballast(*download, "--symbols", "BTCUSDT", "--from", "2020-12-10",
                                 env=env, cwd=tmp_path)
    assert code == 2 and "'BTCUSDT' is not a market like BTC/USDT" in err
    code, _, err = await ballast(*download, "--symbols", "BTC/USDT", "--from", "2020-13-10",
                                 env=env, cwd=tmp_path)
    assert code == 2 and "--from '2020-13-10'" in err
    code, _, err = await ballast(*download, "--symbols", "NOPE/USDT", "--from", "2020-12-10",
                                 env=env, cwd=tmp_path)
    assert code == 2 and "binance has no market NOPE/USDT" in err
    # Banned for longer than Ballast waits: the exchange failed, exit 1.
    standin.fail_next("GET /api/v3/klines", "ip_ban", retry_after=600)
    code, _, err = await ballast(*download, "--symbols", "BTC/USDT", "--from", "2020-12-10",
                                 env=env, cwd=tmp_path)
    assert code == 1 and "exchange:" in err


async def test_from_a_clone_to_a_backtest_of_ones_own_portfolio(
        standin: BinanceStandIn, tmp_path: Path) -> None:
    """The newcomer's path (README, *Backtest your own portfolio*): an empty folder, candles
    downloaded into the default candle directory, then backtest and signals without --candles."""
    env = environment(standin, tmp_path / "data")
    folder = tmp_path / "clone"
    folder.mkdir()
    (folder / "my-portfolio.json").write_text(json.dumps(
        {"quote": "USDT", "balances": {"BTC": {"free": "0.05"}, "USDT": {"free": "1500"}}}))
    code, _, err = await ballast("backtest", "--input", "my-portfolio.json", env=env, cwd=folder)
    assert code == 2 and "ballast candles download --symbols" in err

    code, out, err = await ballast("candles", "download", "--symbols", "BTC/USDT",
                                   "--timeframe", "1h", "--from", "2020-12-10", env=env,
                                   cwd=folder)
    assert code == 0, err
    assert "BTC/USDT: 620 new 1h candles" in out
    assert "5 missing in 2 gap(s)" in out
    assert (default_candle_dir(None, env) / "binance_BTC_USDT_1h.csv.gz").exists()

    code, out, err = await ballast("backtest", "--input", "my-portfolio.json", "--json",
                                   env=env, cwd=folder)
    assert code == 0, err
    assert json.loads(out)["period"]["candles"] > 500
    code, out, err = await ballast("signals", "--json", env=env, cwd=folder)
    assert code == 0, err
    assert list(json.loads(out)) == ["BTC"]
