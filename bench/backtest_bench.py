"""Backtest speed: 20 assets × 4 years of real 1h candles, a plan every hour.

    uv run python bench/backtest_bench.py [--candles ../shared/data/ohlcv] [--driver fast]

Runs `ballast backtest`'s whole path — read the candle files, compute every signal over the
history, replay Ballast candle by candle (valuation, policy, fills by the paper fill model),
then buy-and-hold and monthly calendar rebalancing — for 2021-01-01 … 2024-12-31 with the
seed portfolio's four coins held and all 20 assets on the watchlist. Prints each phase's time
and the candles per second (asset-candles replayed / whole run). Target: whole run ≤ 20 s.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.backtest.replay import load_replay
from core.backtest.runner import Driver, run_backtest, starting_portfolio
from core.backtest.simulation import BacktestInput
from core.exchange.paper_markets import bundled_markets
from core.models import Balance
from core.settings import load_settings

ASSETS = ("BTC", "ETH", "SOL", "AVAX", "BNB", "XRP", "ADA", "DOGE", "DOT", "LINK", "LTC", "TRX",
          "ATOM", "NEAR", "BCH", "XLM", "UNI", "ETC", "XTZ", "AAVE")
# The seed portfolio's coins in amounts worth about its $12.6k at the start of 2021.
HOLDINGS = {"BTC": "0.1", "ETH": "2.5", "SOL": "1500", "AVAX": "700", "USDT": "628"}
START = datetime(2021, 1, 1, tzinfo=UTC)
END = datetime(2025, 1, 1, tzinfo=UTC)
TARGET_SECONDS = 20.0
DEFAULT_CANDLES = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "ohlcv"


async def bench(candles: Path, driver: str) -> None:
    settings = load_settings(env={}, approval="auto", watchlist=",".join(ASSETS))
    start_ms, end_ms = int(START.timestamp() * 1000), int(END.timestamp() * 1000)
    with tempfile.TemporaryDirectory() as folder:
        # A directory with just the 20 assets' files, as `--candles` would be given.
        for asset in ASSETS:
            source = candles / f"binance_{asset}_USDT_1h.csv.gz"
            if not source.exists():
                raise SystemExit(f"{source} is missing: pass --candles with the shared data")
            (Path(folder) / source.name).symlink_to(source.resolve())
        began = time.perf_counter()
        replay = load_replay(folder, "1h", "USDT", start_ms, end_ms, settings.signal)
    loaded = time.perf_counter()
    balances = {asset: Balance(Decimal(amount)) for asset, amount in HOLDINGS.items()}
    start = starting_portfolio("USDT", balances, settings.cash_assets)
    inp = BacktestInput(settings, start, {}, ASSETS)
    markets = bundled_markets()
    ran = time.perf_counter()
    chosen: Driver = "engine" if driver == "engine" else "fast"
    result = await run_backtest(replay, inp, markets, driver=chosen)
    finished = time.perf_counter()
    candles_replayed = result.candles * len(ASSETS)
    whole = finished - began
    summary = result.summary()
    print(f"period      {summary['period']['from']} … {summary['period']['to']}, "
          f"{result.candles} hourly candles × {len(ASSETS)} assets = {candles_replayed:,} candles")
    print(f"read + signals   {loaded - began:6.2f} s")
    print(f"replay + benchmarks {finished - ran:6.2f} s  ({result.tally.plans:,} plans executed, "
          f"{result.ballast.trades:,} orders filled)")
    print(f"whole run   {whole:6.2f} s  → {candles_replayed / whole:,.0f} candles/s, "
          f"{result.candles / whole:,.0f} hourly decisions/s")
    verdict = "met" if whole <= TARGET_SECONDS else "MISSED"
    print(f"target      ≤ {TARGET_SECONDS:.0f} s whole run: {verdict}")
    for name in ("ballast", "hodl", "calendar"):
        figures = summary[name]
        print(f"{name:9} final {figures['final_value']:>12,.2f}  "
              f"return {figures['total_return']:+8.1%}  "
              f"max drawdown {figures['max_drawdown']:+7.1%}  sharpe {figures['sharpe']:5.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candles", type=Path, default=DEFAULT_CANDLES,
                        help="directory with binance_<ASSET>_USDT_1h.csv.gz files")
    parser.add_argument("--driver", choices=("fast", "engine"), default="fast",
                        help="fast replay (default) or the real engine (much slower)")
    args = parser.parse_args()
    asyncio.run(bench(args.candles, args.driver))


if __name__ == "__main__":
    main()
