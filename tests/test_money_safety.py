"""Money safety against the Binance stand-in over real HTTP (issue 12 cases 1-2).

The real engine (`start_engine`: live mode, ccxt, signals, policy, SQLite) plans from an account
that is short of cash and over `max_position` on ETH, as the seed portfolio is. Then the world
misbehaves between scans, plan and approval:

* the balances change (someone else sold ETH): approving re-plans instead of selling twice;
* the USDT line vanishes, ETH's price turns 0 or NaN: no plan is made (in auto mode either),
  the owner is told once, and planning resumes when the data is sane again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.engine.approvals import ApprovalState
from core.engine.events import (
    ApprovalClosed,
    ExchangeTrouble,
    PlanProposed,
    Subscription,
    SuspectData,
    SuspectDataCleared,
)
from tests.engine_support import live_engine
from tests.standins.binance import BinanceStandIn

ACCOUNT = {"USDT": "628", "BTC": "0.0348", "ETH": "1.25", "SOL": "25", "AVAX": "20"}
PRICES = {"BTC/USDT": "91182", "ETH/USDT": "3685", "SOL/USDT": "138.5", "AVAX/USDT": "38"}
ORDERS = "POST /api/v3/order"


@pytest.fixture
async def binance() -> AsyncIterator[BinanceStandIn]:
    async with BinanceStandIn(balances=ACCOUNT, prices=PRICES) as standin:
        yield standin


def now() -> datetime:
    return datetime.now(UTC)


def of_type[T](events: Subscription, kind: type[T]) -> list[T]:
    return [e for e in events.pending() if isinstance(e, kind)]


async def test_approval_replans_when_balances_changed_since_the_plan(
    binance: BinanceStandIn, tmp_path: Path,
) -> None:
    running = await live_engine(binance, tmp_path / "ballast.db")
    engine = running.engine
    events = engine.bus.subscribe()
    try:
        proposal = await engine.plan(now())
        assert proposal.approval is not None, proposal.message
        sold = [t for t in proposal.plan.trades if t.asset == "ETH"] if proposal.plan else []
        assert sold, "the plan trims ETH"
        # Someone else (a second bot, the owner in the app) sells that ETH meanwhile.
        eth = ACCOUNT["ETH"]
        binance.set_balance("ETH", str(float(eth) - float(sold[0].amount)))
        binance.set_balance("USDT", "2527")
        events.pending()

        decision = await engine.approve(proposal.approval.id, "owner", now())

        assert not decision.ok
        assert decision.state is ApprovalState.SUPERSEDED
        assert "balances changed since the plan" in decision.message
        assert "ETH 1.25 →" in decision.message
        assert binance.count(ORDERS) == 0, "nothing was sold on stale balances"
        said = events.pending()
        closed = [e for e in said if isinstance(e, ApprovalClosed)]
        assert closed and "balances changed" in closed[0].reason  # the owner is told
        replans = [e for e in said if isinstance(e, PlanProposed)]
        for replan in replans:  # a new plan from the real balances, if one is still needed
            assert replan.replaces == proposal.approval.id
            assert all(t.amount != sold[0].amount for t in replan.plan.trades
                       if t.asset == "ETH")
    finally:
        await running.close()


async def test_approval_executes_when_balances_are_unchanged(
    binance: BinanceStandIn, tmp_path: Path,
) -> None:
    running = await live_engine(binance, tmp_path / "ballast.db")
    try:
        proposal = await running.engine.plan(now())
        assert proposal.approval is not None
        decision = await running.engine.approve(proposal.approval.id, "owner", now())
        assert decision.ok, decision.message
        assert binance.count(ORDERS) >= 1
    finally:
        await running.close()


@pytest.mark.parametrize(
    ("break_it", "problem"),
    [
        (lambda b: b.set_balance("USDT", "0"), "USDT balance vanished"),
        (lambda b: b.set_price("ETH/USDT", "0"), "ETH has no usable price"),
    ],
    ids=["cash-line-lost", "eth-price-zero"],
)
async def test_no_plan_from_implausible_data_even_in_auto_mode(
    binance: BinanceStandIn, tmp_path: Path, break_it: object, problem: str,
) -> None:
    # Pause proposals first so that the sane scan only scans; auto mode trades what it plans.
    running = await live_engine(binance, tmp_path / "ballast.db", BALLAST_APPROVAL="auto",
                              BALLAST_ALLOW_LIVE_AUTO="true")
    engine = running.engine
    events = engine.bus.subscribe()
    try:
        assert await engine.scan(now()) is not None  # a sane scan: the gate's reference
        assert callable(break_it)
        break_it(binance)

        first = await engine.plan(now(), on_demand=False)
        await engine.tick(now())
        second = await engine.plan(now())

        for proposal in (first, second):
            assert proposal.approval is None
            assert "account data looks wrong" in proposal.message
            assert problem in proposal.message
        assert binance.count(ORDERS) == 0
        told = of_type(events, SuspectData)
        assert len(told) == 1, "told once, not every scan"
        assert any(problem in p for p in told[0].problems)
        status = await running.service.status()  # /status says planning is on hold, and why
        assert status.on_hold_since is not None
        assert any(problem in p for p in status.on_hold_because)

        binance.set_balance("USDT", ACCOUNT["USDT"])
        binance.set_price("ETH/USDT", PRICES["ETH/USDT"])
        proposal = await engine.plan(now())
        assert proposal.approval is not None, proposal.message  # planning resumed
        assert of_type(events, SuspectDataCleared)
        assert (await running.service.status()).on_hold_since is None
    finally:
        await running.close()


async def test_a_nan_ticker_is_exchange_trouble_not_a_crash(
    binance: BinanceStandIn, tmp_path: Path,
) -> None:
    running = await live_engine(binance, tmp_path / "ballast.db")
    engine = running.engine
    events = engine.bus.subscribe()
    try:
        assert await engine.scan(now()) is not None
        binance.set_price("ETH/USDT", "NaN")
        assert await engine.scan(now()) is None
        assert await engine.scan(now()) is None
        trouble = of_type(events, ExchangeTrouble)
        assert len(trouble) == 1
        assert "could not be read" in trouble[0].message
        proposal = await engine.plan(now())
        assert proposal.approval is None and "not answering" in proposal.message
        assert binance.count(ORDERS) == 0
    finally:
        await running.close()
