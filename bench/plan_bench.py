"""Time `make_plan` on a 50-asset portfolio (target: median ≤ 5 ms).

Run: `uv run python bench/plan_bench.py [repetitions]`. Two portfolios of 50 holdings and 10
watched assets, with steps, minimums and the default fee: one short of cash (signal sells, a
trim, exits below min_position and a cash raise), one with cash to deploy (the same sells,
then buys of the strongest signals).
"""

from __future__ import annotations

import statistics
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal

from core.config.rules import PolicySettings
from core.config.settings import DEFAULT_CASH_ASSETS
from core.domain.models import AssetSignal, Balance, MarketRules, Price, SignalKind
from core.domain.valuation import value_portfolio
from core.policy import PlanInput, make_plan

NOW = datetime(2026, 11, 24, tzinfo=UTC)
HELD = 50
WATCHED = 10


def build_input(cash: Decimal) -> PlanInput:
    """50 holdings (one above max_position, a few tiny, some SELL), 10 watched buy candidates."""
    balances: dict[str, Balance] = {"USDT": Balance(cash)}
    prices: dict[str, Price] = {}
    markets: dict[str, MarketRules] = {}
    signals: dict[str, AssetSignal] = {}
    kinds = [SignalKind.HOLD, SignalKind.BUY, SignalKind.HOLD, SignalKind.HOLD] * 3 + [
        SignalKind.SELL
    ]
    for i in range(HELD + WATCHED):
        asset = f"A{i:02d}"
        price = Decimal(1 + (i * 37) % 997) / 10
        prices[f"{asset}/USDT"] = Price(asset, "USDT", price, NOW)
        markets[asset] = MarketRules(Decimal("5"), Decimal("0.001"), Decimal("0.001"))
        if i < HELD:
            value = Decimal(31000 if i == 0 else 60 if i % 9 == 0 else 1000 + 13 * i)
            balances[asset] = Balance((value / price).quantize(Decimal("0.001")))
            kind = kinds[i % len(kinds)]
        else:
            kind = SignalKind.STRONG_BUY if i % 2 else SignalKind.BUY
        score = {"STRONG_BUY": 1.0, "BUY": 0.5, "HOLD": 0.0, "SELL": -0.5}[kind.value]
        signals[asset] = AssetSignal(asset, kind, score - (i % 4) / 8)
    watch = tuple(f"A{i:02d}" for i in range(HELD, HELD + WATCHED))
    portfolio = value_portfolio(
        balances,
        prices,
        quote="USDT",
        cash_assets=DEFAULT_CASH_ASSETS,
        markets=markets,
        now=NOW,
        max_price_age=120,
        watchlist=watch,
    )
    return PlanInput(portfolio, signals, {}, markets, watch, NOW)


def time_plan(label: str, inp: PlanInput, settings: PolicySettings, repetitions: int) -> None:
    plan = make_plan(inp, settings)
    reasons = sorted({r.value for t in plan.trades for r in t.reasons})
    times = []
    for _ in range(repetitions):
        start = time.perf_counter()
        make_plan(inp, settings)
        times.append(time.perf_counter() - start)
    times.sort()
    median = statistics.median(times) * 1000
    p95 = times[int(len(times) * 0.95) - 1] * 1000
    print(f"{label}: {len(plan.trades)} trades ({', '.join(reasons)})")
    print(f"  {repetitions} runs: median {median:.2f} ms, p95 {p95:.2f} ms")


def main(repetitions: int = 500) -> None:
    # 50 positions of ~1% each need a min_position well below the 5% default; no trade cap, so
    # every rule plans every trade it wants (the heaviest case).
    settings = PolicySettings(min_position=Decimal("0.005"), max_trades_per_cycle=60)
    print(f"make_plan on {HELD} holdings + {WATCHED} watched assets (target: median ≤ 5 ms)")
    time_plan("short of cash", build_input(Decimal("100")), settings, repetitions)
    time_plan("cash to deploy", build_input(Decimal("60000")), settings, repetitions)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500)
