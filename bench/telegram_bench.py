"""How fast /portfolio answers on a phone: round trips through the real bot and engine.

The owner's command enters the Bot API stand-in, the bot long-polls it, asks the real engine
(live mode, ccxt, against the Binance stand-in, prices already scanned once: "warm"), and the
time is taken when the answer reaches the stand-in. Targets: text p95 ≤ 150 ms, chart p95 ≤
600 ms (the allocation chart is rendered by matplotlib in a worker thread).

    uv run python bench/telegram_bench.py [--rounds 40] [--latency-ms 0]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")

from bot.telegram.app import TelegramBot
from bot.telegram.callbacks import Action, encode
from core.config.settings import Settings, load_settings
from core.engine.wiring import start_engine
from tests.standins.binance import BinanceStandIn
from tests.standins.telegram import TelegramStandIn
from tests.standins.telegram_wire import Call

OWNER = 4242
ACCOUNT = {"USDT": "628", "BTC": "0.0348", "ETH": "1.25", "SOL": "25", "AVAX": "20"}
PRICES = {"BTC/USDT": "91182", "ETH/USDT": "3685", "SOL/USDT": "138.5", "AVAX/USDT": "38"}


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def report(name: str, samples: list[float], target_ms: float) -> None:
    ms = [s * 1000 for s in samples]
    p95 = percentile(ms, 0.95)
    verdict = "ok" if p95 <= target_ms else "OVER TARGET"
    print(f"{name:<18} n={len(ms):<3} p50={statistics.median(ms):7.1f} ms  "
          f"p95={p95:7.1f} ms  max={max(ms):7.1f} ms  (target p95 ≤ {target_ms:.0f} ms: "
          f"{verdict})")


async def round_trip(tg: TelegramStandIn, send: object, method: str, marker: str) -> float:
    seen = len(tg.calls)
    started = time.monotonic()
    if callable(send):
        send()

    def answered(call: Call) -> bool:
        body = str(call.params.get("text") or call.params.get("caption") or "")
        return str(call.params.get("chat_id")) == str(OWNER) and marker in body

    call = await tg.wait_for_method(method, answered, timeout=30, after=seen)
    return call.at - started


async def main(rounds: int, latency_ms: float) -> None:
    with tempfile.TemporaryDirectory() as folder:
        async with BinanceStandIn(balances=ACCOUNT, prices=PRICES,
                                  latency=latency_ms / 1000) as binance, \
                TelegramStandIn() as tg:
            settings: Settings = load_settings(env={
                "BALLAST_MODE": "live",
                "BALLAST_EXCHANGE_API_KEY": binance.api_key,
                "BALLAST_EXCHANGE_API_SECRET": binance.api_secret,
                "BALLAST_EXCHANGE_API_URL": binance.url,
                "BALLAST_DB": str(Path(folder) / "bench.db"),
                "BALLAST_WATCHLIST": "BTC,ETH,SOL,AVAX",
                "BALLAST_TELEGRAM_TOKEN": tg.token,
                "BALLAST_TELEGRAM_OWNER_ID": str(OWNER),
                "BALLAST_TELEGRAM_API_URL": tg.base_url,
                "BALLAST_ALERT_CASH": "false",
            })
            running = await start_engine(settings)

            async def keep(changed: Settings) -> None:
                return None

            bot = TelegramBot(settings, running.service, keep)
            await bot.start()
            try:
                await running.engine.scan(running.service.clock())  # warm prices and signals
                await round_trip(tg, lambda: tg.push_command(OWNER, "/portfolio"),
                                 "sendMessage", "Portfolio")
                text = [await round_trip(tg, lambda: tg.push_command(OWNER, "/portfolio"),
                                         "sendMessage", "Portfolio") for _ in range(rounds)]
                chart = [await round_trip(
                    tg, lambda: tg.push_callback(OWNER, encode(Action.CHART_ALLOCATION)),
                    "sendPhoto", "cash") for _ in range(max(rounds // 2, 5))]
            finally:
                await bot.stop()
                await running.close()
    print(f"/portfolio round trips against the stand-ins (exchange latency {latency_ms:g} ms, "
          f"warm prices, {os.cpu_count()} CPUs)")
    report("text", text, 150)
    report("allocation chart", chart, 600)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--latency-ms", type=float, default=0.0,
                        help="added latency of every Binance stand-in answer")
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.latency_ms))
