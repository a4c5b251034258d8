"""Orders that end (issue 12 case 5), against the Binance stand-in over real HTTP.

Every order is a limit order `max_slippage` from the price seen just before it is sent, IOC on
Binance. A market that gaps beyond the band fills nothing; thin liquidity fills part of an
order and the rest expires; an order the exchange leaves open (NEW or PARTIALLY_FILLED) is
cancelled after `order_timeout`. Each time the plan ends with what filled and the owner is told.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from core.domain.models import Side
from core.domain.rounding import protection_limit
from core.engine.approvals import ApprovalState
from core.engine.events import Event, ExecutionFailed, PlanExecuted, Subscription
from core.engine.wiring import RunningEngine
from tests.engine_support import live_engine
from tests.standins.binance import BinanceStandIn

ACCOUNT = {"USDT": "628", "BTC": "0.0348", "ETH": "1.25", "SOL": "25", "AVAX": "20"}
PRICES = {"BTC/USDT": "91182", "ETH/USDT": "3685", "SOL/USDT": "138.5", "AVAX/USDT": "38"}
ORDER_TIMEOUT = 120


class GappingStandIn(BinanceStandIn):
    """The market halves the moment an order arrives: after Ballast's last look, before the fill."""

    async def _new_order(self, params: dict[str, str]) -> Any:
        symbol = params["symbol"]
        self.book.prices[symbol] = self.book.prices[symbol] / 2
        return await super()._new_order(params)


async def engine_on(binance: BinanceStandIn, db: Path) -> RunningEngine:
    return await live_engine(binance, db, BALLAST_ORDER_TIMEOUT=str(ORDER_TIMEOUT))


@pytest.fixture
async def binance() -> AsyncIterator[BinanceStandIn]:
    async with BinanceStandIn(balances=ACCOUNT, prices=PRICES) as standin:
        yield standin


def outcome(events: Subscription) -> PlanExecuted | ExecutionFailed:
    said: list[Event] = events.pending()
    ends = [e for e in said if isinstance(e, PlanExecuted | ExecutionFailed)]
    assert len(ends) == 1, said
    return ends[0]


async def test_a_gap_beyond_max_slippage_fills_nothing_and_says_so(tmp_path: Path) -> None:
    async with GappingStandIn(balances=ACCOUNT, prices=PRICES) as binance:
        running = await engine_on(binance, tmp_path / "ballast.db")
        events = running.engine.bus.subscribe()
        try:
            now = datetime.now(UTC)
            proposal = await running.engine.plan(now)
            assert proposal.approval is not None
            decision = await running.engine.approve(proposal.approval.id, "owner", now)
        finally:
            await running.close()
    assert binance.count("POST /api/v3/order") >= 1
    assert binance.book.fills == [], "nothing sold at half price"
    assert all(o.type == "LIMIT" and o.time_in_force == "IOC" and o.status == "EXPIRED"
               for o in binance.orders)
    assert binance.balances()["ETH"] == (Decimal("1.25"), Decimal(0)), "nothing left locked"
    assert decision.state is ApprovalState.FAILED
    told = outcome(events)
    assert isinstance(told, ExecutionFailed)
    assert all(r.state == "expired" and r.filled == 0 for r in told.results)
    assert "price limit" in told.results[0].detail


async def test_thin_liquidity_fills_part_and_the_plan_ends_with_what_filled(
    binance: BinanceStandIn, tmp_path: Path,
) -> None:
    binance.set_liquidity("ETH/USDT", "0.2")
    running = await engine_on(binance, tmp_path / "ballast.db")
    events = running.engine.bus.subscribe()
    try:
        now = datetime.now(UTC)
        proposal = await running.engine.plan(now)
        assert proposal.approval is not None and proposal.plan is not None
        planned = next(t for t in proposal.plan.trades if t.asset == "ETH")
        decision = await running.engine.approve(proposal.approval.id, "owner", now)
        assert decision.state is ApprovalState.DONE, decision.message
        [row] = [r for r in await running.engine.orders.for_approval(proposal.approval.id)
                 if r.asset == "ETH"]
    finally:
        await running.close()
    assert row.state.value == "expired" and row.filled == Decimal("0.2")
    assert row.amount == planned.amount
    told = outcome(events)
    [eth] = [r for r in told.results if r.asset == "ETH"]
    assert eth.filled == Decimal("0.2") and eth.amount == planned.amount
    assert f"0.2 of {planned.amount}" in eth.detail.replace("0.20000000", "0.2")
    assert binance.balances()["ETH"][0] == Decimal("1.05")


@pytest.mark.parametrize("liquidity", ["0", "0.2"], ids=["left-new", "left-partially-filled"])
async def test_an_order_left_open_is_cancelled_after_order_timeout(
    binance: BinanceStandIn, tmp_path: Path, liquidity: str,
) -> None:
    binance.book.stuck_orders = True
    for symbol in PRICES:
        binance.set_liquidity(symbol, liquidity)
    running = await engine_on(binance, tmp_path / "ballast.db")
    engine = running.engine
    events = engine.bus.subscribe()
    try:
        start = datetime.now(UTC)
        proposal = await engine.plan(start)
        assert proposal.approval is not None
        approval_id = proposal.approval.id
        decision = await engine.approve(approval_id, "owner", start)
        assert "wait for the exchange" in decision.message
        [first] = binance.orders
        assert first.status == ("NEW" if liquidity == "0" else "PARTIALLY_FILLED")

        still = await engine.plan(start + timedelta(seconds=30))
        assert "still being executed" in still.message
        await engine.tick(start + timedelta(seconds=ORDER_TIMEOUT - 10))
        assert first.status != "CANCELED", "not before the deadline"

        later = start
        for _ in range(10):  # each order of the plan waits out its own deadline
            later += timedelta(seconds=ORDER_TIMEOUT + 1)
            await engine.tick(later)
            approval = await engine.approvals.get(approval_id)
            assert approval is not None
            if approval.state.is_final:
                break
        rows = await engine.orders.for_approval(approval_id)
    finally:
        await running.close()
    assert all(o.status == "CANCELED" for o in binance.orders)
    assert all(locked == 0 for _, locked in binance.balances().values()), "funds released"
    assert all(r.state.value == "canceled" for r in rows)
    assert all("order_timeout" in (r.detail or "") for r in rows)
    told = outcome(events)
    assert approval is not None
    if liquidity == "0":
        assert approval.state is ApprovalState.FAILED and isinstance(told, ExecutionFailed)
        assert all(r.filled == 0 for r in told.results)
    else:
        assert approval.state is ApprovalState.DONE and isinstance(told, PlanExecuted)
        assert all(r.filled == Decimal("0.2") or r.asset == "BTC" for r in told.results)


def test_the_price_limit_stays_inside_the_band_on_the_tick() -> None:
    tick = Decimal("0.01")
    assert protection_limit(Side.SELL, Decimal("3685"), Decimal("0.01"), tick) == Decimal(
        "3648.15")
    assert protection_limit(Side.BUY, Decimal("3685"), Decimal("0.01"), tick) == Decimal(
        "3721.85")
    # Rounded inside the band: a sell never below, a buy never above.
    assert protection_limit(Side.SELL, Decimal("100.003"), Decimal("0.01"), tick) == Decimal(
        "99.01")
    assert protection_limit(Side.BUY, Decimal("100.003"), Decimal("0.01"), tick) == Decimal(
        "101.00")


async def test_a_half_filled_order_whose_cancel_fails_ends_the_plan_and_is_cancelled_later(
    binance: BinanceStandIn, tmp_path: Path,
) -> None:
    """Issue 21 finding 7: past `order_timeout` the cancel raises. The plan ends with what
    filled and the owner is told; nothing is sent again; the order is cancelled at a later
    look (here: the next start of Ballast on the same database)."""
    binance.book.stuck_orders = True
    binance.set_liquidity("ETH/USDT", "0.2")
    running = await engine_on(binance, tmp_path / "ballast.db")
    events = running.engine.bus.subscribe()
    try:
        start = datetime.now(UTC)
        proposal = await running.engine.plan(start)
        assert proposal.approval is not None
        approval_id = proposal.approval.id
        await running.engine.approve(approval_id, "owner", start)
        [first] = binance.orders
        assert first.status == "PARTIALLY_FILLED"
        binance.fail_next("DELETE /api/v3/order", "server_error", times=1000)

        await running.engine.tick(start + timedelta(seconds=ORDER_TIMEOUT + 1))

        approval = await running.engine.approvals.get(approval_id)
        assert approval is not None and approval.state.is_final, "the plan ended"
        told = outcome(events)
        [eth] = [r for r in told.results if r.asset == first.symbol.removesuffix("USDT")]
        assert eth.filled == Decimal("0.2") and "cancel failed" in eth.detail
        assert all(r.state.value == "not_sent" for r in told.results if r is not eth)
        await running.engine.tick(start + timedelta(seconds=2 * ORDER_TIMEOUT))
        assert binance.count("POST /api/v3/order") == 1, "nothing sent again"
        assert first.status == "PARTIALLY_FILLED", "the cancel kept failing"
    finally:
        await running.close()

    binance.faults.clear()  # the exchange takes cancels again
    restarted = await engine_on(binance, tmp_path / "ballast.db")
    try:
        [row] = [r for r in await restarted.engine.orders.for_approval(approval_id)
                 if r.client_order_id == first.client_order_id]
    finally:
        await restarted.close()
    assert first.status == "CANCELED"
    assert row.state.value == "canceled" and row.filled == Decimal("0.2")
    assert all(locked == 0 for _, locked in binance.balances().values()), "funds released"
    assert binance.count("POST /api/v3/order") == 1
