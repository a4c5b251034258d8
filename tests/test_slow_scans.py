"""A 300-asset account on a slow exchange (issue 21 finding 7): a scan that overruns the next
one. Scans never run side by side — a step due meanwhile is skipped, an on-demand plan waits for
the running scan — and no plan is made from a half-finished scan. The real paper exchange and
SQLite, a manual clock; the slowness is a gate the test opens, so nothing sleeps."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping, Sequence
from datetime import timedelta
from decimal import Decimal

from core.domain.models import (
    AssetSignal,
    Balance,
    Market,
    MarketRules,
    Plan,
    Portfolio,
    PositionFacts,
    Price,
)
from core.exchange.prices import ManualClock
from core.storage.store import Store
from tests.engine_support import PRICES, T0, FaultyExchange, make_rig, paper_account, plan_of
from tests.fixed_prices import FixedPrices

ASSETS = [f"A{n:03d}" for n in range(300)]
SCAN_INTERVAL = 30


class SlowManyAssets(FaultyExchange):
    """The paper account plus 300 small holdings; reading prices waits for `gate` and takes the
    manual clock 45 s forward (longer than the scan interval). Counts reads in flight."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.gate = asyncio.Event()
        self.waiting = asyncio.Event()
        self.overlap = asyncio.Event()
        self.clock: ManualClock | None = None
        self.in_flight = 0
        self.price_reads = 0

    async def load_markets(self) -> Mapping[str, Market]:
        markets = dict(await super().load_markets())
        for asset in ASSETS:
            markets[f"{asset}/USDT"] = Market(f"{asset}/USDT", asset, "USDT",
                                              MarketRules(Decimal("5"), Decimal("0.01")))
        return markets

    async def fetch_balances(self) -> dict[str, Balance]:
        balances = await super().fetch_balances()
        return {**balances, **{asset: Balance(Decimal("1")) for asset in ASSETS}}

    async def fetch_prices(self, symbols: Sequence[str]) -> dict[str, Price]:
        self.in_flight += 1
        self.price_reads += 1
        if self.in_flight > 1:
            self.overlap.set()
        try:
            self.waiting.set()
            await self.gate.wait()
            if self.clock is not None:
                self.clock.advance(45)
            prices = await super().fetch_prices([s for s in symbols if s in PRICES])
            at = self.clock.now if self.clock is not None else T0
            many = {s: Price(s.split("/")[0], "USDT", Decimal("2"), at) for s in symbols
                    if s.split("/")[0] in ASSETS}
            return {**prices, **many}
        finally:
            self.in_flight -= 1


async def test_a_scan_overrunning_the_next_is_not_joined_by_another(store: Store) -> None:
    clock = ManualClock(T0)
    prices = FixedPrices(dict(PRICES), at=T0)
    paper = await paper_account(store, {"USDT": "3000", "ETH": "2"}, clock, prices)
    exchange = SlowManyAssets(paper, prices)
    exchange.clock = clock
    rig = await make_rig(store, clock, prices, exchange, scan_interval=SCAN_INTERVAL,
                         watchlist="ETH")
    planned_from: list[int] = []

    def plan(portfolio: Portfolio, signals: Mapping[str, AssetSignal],
             facts: Mapping[str, PositionFacts], rules: Mapping[str, MarketRules],
             now: object, traded: Decimal) -> Plan:
        planned_from.append(len(portfolio.holdings))
        return plan_of()

    engine = rig.engine
    engine.ports = dataclasses.replace(engine.ports, make_plan=plan)

    first = asyncio.create_task(engine.tick(clock.now))
    await exchange.waiting.wait()  # the scan is on the wire, its prices not back yet
    overlap = asyncio.create_task(exchange.overlap.wait())

    # The next step falls due while the scan runs, and the owner asks for a plan.
    second = asyncio.create_task(engine.tick(clock.now + timedelta(seconds=SCAN_INTERVAL)))
    done, _ = await asyncio.wait({second, overlap}, return_when=asyncio.FIRST_COMPLETED)
    assert second in done and not exchange.overlap.is_set(), "a second scan ran alongside"
    asked = asyncio.Event()
    scan = engine.scans.scan

    # Wraps the scan only to know when the plan asks for one.
    async def asking(*args: object, **kwargs: object) -> object:
        asked.set()
        return await scan(*args, **kwargs)  # type: ignore[arg-type]

    setattr(engine.scans, "scan", asking)  # noqa: B010
    on_demand = asyncio.create_task(engine.plan(clock.now, on_demand=True))
    await asked.wait()
    assert not exchange.overlap.is_set(), "the plan started a scan of its own"
    assert planned_from == [], "no plan before the scan is complete"

    exchange.gate.set()
    await first
    proposal = await on_demand
    overlap.cancel()

    assert exchange.price_reads == 1, "one scan, shared"
    assert planned_from and all(n == 301 for n in planned_from), "planned from all 300 + ETH"
    assert proposal.message.startswith("nothing to do")
    latest = engine.latest
    assert latest is not None and len(latest.portfolio.holdings) == 301
