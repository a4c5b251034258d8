"""How many requests and how long one refresh takes against Binance, through the live adapter.

A refresh is what a scan asks of the exchange: the account's balances, the prices of 4
holdings and 30 watchlist assets, and their 1h candles through the SQLite candle cache. It runs
against the Binance stand-in on 127.0.0.1 answering every request after 20 ms, with the full
real `exchangeInfo` (2,276 symbols) and real candles:

    uv run python bench/exchange_bench.py --candles DIR [--latency 0.02] [--concurrency 8]

Three refreshes: a cold cache (history loaded), the next scan within the same hour (no candle
can have closed, so no candle request), and the first scan after a candle closed. Targets:
prices in one request, one candle request per asset per new candle, each refresh ≤ 0.5 s,
within Binance's request weight limit (6,000 a minute).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from candle_arg import add_candles_argument, candles_dir

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.account.snapshot import read_portfolio
from core.config.settings import load_settings
from core.domain.models import epoch_ms
from core.exchange.ccxt_exchange import CcxtExchange
from core.market.candle_cache import CandleCache
from core.storage.store import Store
from tests.standins.binance import EXCHANGE_INFO_FULL, BinanceStandIn

HOLDINGS = {"BTC": "0.03482", "ETH": "1.54158", "SOL": "25.111", "AVAX": "55.662",
            "USDT": "628"}
WATCHLIST = ("BNB", "XRP", "ADA", "LINK", "DOGE", "DOT", "MATIC", "LTC", "TRX", "ATOM", "NEAR",
             "BCH", "XLM", "UNI", "ETC", "XTZ", "AAVE", "SHIB", "FIL", "ICP", "NEO", "ARB", "OP",
             "INJ", "APT", "SUI", "LDO", "RUNE", "PEPE", "FET")
# These seven have no candle file among the 2017–2024 majors: they are served BTC's real
# candles.
BORROWED_CANDLES = ("INJ", "APT", "SUI", "LDO", "RUNE", "PEPE", "FET")
HISTORY = 200  # candles a first refresh loads, as the engine's signal scanner does
WEIGHT_LIMIT = 6000
TARGET_SECONDS = 0.5
HOUR_MS = 3_600_000


async def refresh(exchange: CcxtExchange, cache: CandleCache, concurrency: int,
                  now: datetime) -> None:
    """One scan's exchange traffic: the valued portfolio, then every asset's new candles."""
    settings = load_settings(env={"BALLAST_WATCHLIST": ",".join(WATCHLIST)})
    # The stand-in's tickers carry the real clock while this bench moves `now` an hour ahead:
    # a generous price age keeps the holdings priced (and so refreshed) in that run.
    portfolio = await read_portfolio(exchange, settings, now, max_price_age=3 * 3600)
    assets = sorted(set(portfolio.holdings) | set(WATCHLIST))
    gate = asyncio.Semaphore(concurrency)
    now_ms = epoch_ms(now)

    async def candles(asset: str) -> None:
        async with gate:
            await cache.refresh(f"{asset}/USDT", "1h", now_ms, history=HISTORY)

    await asyncio.gather(*(candles(asset) for asset in assets))


async def main(candles: Path, latency: float, concurrency: int) -> bool:
    print(f"Binance stand-in, {latency * 1000:.0f} ms per request; 4 holdings + "
          f"{len(WATCHLIST)} watchlist assets, 1h candles, {concurrency} candle refreshes "
          "at a time")
    # Serve real candles as if the data's 2024-03-01 12:00 UTC hour were forming right now
    # (every asset has hourly candles for the 200 hours before it).
    hour_ms = int(time.time() * 1000) // HOUR_MS * HOUR_MS
    # Scans at 5 min and 5.5 min into this hour, then 5 min into the next (whose candle the
    # stand-in already serves: it is this hour's), whatever minute the bench starts at.
    now = datetime.fromtimestamp((hour_ms + 300_000) / 1000, UTC)
    offset = hour_ms - epoch_ms(datetime(2024, 3, 1, 12, tzinfo=UTC))
    async with BinanceStandIn(exchange_info=EXCHANGE_INFO_FULL, balances=HOLDINGS,
                              candles_dir=candles, latency=latency) as standin:
        for asset in BORROWED_CANDLES:
            standin.use_candle_file(f"{asset}/USDT", "1h", candles / "binance_BTC_USDT_1h.csv.gz")
        standin.shift_candles(offset)
        symbols = [f"{a}/USDT" for a in (*HOLDINGS, *WATCHLIST) if a != "USDT"]
        standin.set_prices_from_candles(symbols)
        exchange = CcxtExchange("binance", api_key=standin.api_key,
                                api_secret=standin.api_secret, api_url=standin.url)
        with tempfile.TemporaryDirectory() as folder:
            store = await Store.open(Path(folder) / "bench.db")
            try:
                started = time.perf_counter()
                markets = await exchange.load_markets()
                print(f"start-up: markets loaded in {time.perf_counter() - started:.2f} s "
                      f"({len(markets)} spot markets, 1 request)")
                cache = CandleCache(store, exchange)
                runs = [("cold cache", now), ("same hour", now + timedelta(seconds=30)),
                        ("new candle", now + timedelta(hours=1))]
                ok = True
                for label, at in runs:
                    standin.clear_log()
                    started = time.perf_counter()
                    await refresh(exchange, cache, concurrency, at)
                    wall = time.perf_counter() - started
                    ok &= report(label, wall, standin)
            finally:
                await store.close()
                await exchange.close()
    print("all targets met" if ok else "TARGETS MISSED")
    return ok


def report(label: str, wall: float, standin: BinanceStandIn) -> bool:
    """Print one refresh's figures; True when it met the targets."""
    routes = Counter(r.path.removeprefix("/api/v3/") for r in standin.requests)
    candles = routes.get("klines", 0)
    expected_candles = 0 if label == "same hour" else 1 + len(WATCHLIST) + 3
    ok = (routes.get("ticker/24hr", 0) == 1 and candles == expected_candles
          and wall <= TARGET_SECONDS and standin.used_weight() < WEIGHT_LIMIT)
    detail = ", ".join(f"{path} {n}" for path, n in sorted(routes.items()))
    print(f"{label:>10}: {sum(routes.values()):3d} requests ({detail}); {wall:.3f} s wall; "
          f"weight used this minute {standin.used_weight()}/{WEIGHT_LIMIT}; "
          f"{'ok' if ok else 'MISSED'}")
    return ok


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_candles_argument(parser)
    parser.add_argument("--latency", type=float, default=0.02, help="seconds per request")
    parser.add_argument("--concurrency", type=int, default=8,
                        help="candle refreshes in flight at once")
    args = parser.parse_args()
    candles = candles_dir(parser, args.candles)
    sys.exit(0 if asyncio.run(main(candles, args.latency, args.concurrency)) else 1)
