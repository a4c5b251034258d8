"""The rules of a rejected trade's snooze (`core.engine.snooze`), pure: what counts as a material
change, and a plan with its snoozed trades set aside."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from core.config.rules import PolicySettings
from core.domain.models import PlannedTrade, Portfolio, Side, SignalKind, SkipReason
from core.engine.ports import Scan
from core.engine.snooze import Circumstances, Snoozes, set_aside, what_changed
from core.engine.state import EngineState
from core.policy.bands import CashLevel, PositionLevel, bands
from core.storage.store import Store
from tests.telegram_builders import seed_plan

D = Decimal
THEN = Circumstances(D("3000"), PositionLevel.FINE, CashLevel.RAISED_NEXT, SignalKind.HOLD)


def test_only_a_material_change_wakes_a_rejected_trade() -> None:
    assert what_changed(THEN, replace(THEN, price=D("3140")), D("0.05")) is None  # +4.7%
    assert what_changed(THEN, THEN, D("0.05")) is None
    moved = what_changed(THEN, replace(THEN, price=D("2820")), D("0.05"))
    assert moved is not None and "-6.0%" in moved
    assert "band" in str(what_changed(THEN, replace(THEN, position=PositionLevel.TRIMMED_NEXT),
                                      D("0.05")))
    assert "cash" in str(what_changed(THEN, replace(THEN, cash=CashLevel.WITHIN_BAND),
                                      D("0.05")))
    assert "SELL" in str(what_changed(THEN, replace(THEN, signal=SignalKind.SELL), D("0.05")))
    # A signal unknown then or now is no evidence of a change.
    assert what_changed(replace(THEN, signal=None), THEN, D("0.05")) is None


def test_a_snoozed_trade_is_set_aside_and_the_plan_recounted() -> None:
    plan = seed_plan()  # one sell: 0.4945 ETH worth 1,898.40 with a 1.90 fee
    [sell] = plan.trades
    quiet = set_aside(plan, {("ETH", Side.SELL)})
    assert quiet.trades == ()
    assert quiet.skipped[-1].asset == "ETH" and quiet.skipped[-1].reason is SkipReason.SNOOZED
    assert quiet.cash_after == plan.cash_after - (sell.value - sell.fee)
    assert quiet.after["ETH"] == plan.after["ETH"] + sell.value / plan.total_value
    assert set_aside(plan, {("ETH", Side.BUY)}) is plan, "only the same side is snoozed"


async def test_trades_woken_together_each_stay_forgotten(store: Store) -> None:
    """Two trades of one rejected plan woken by the same plan are both forgotten: waking the
    second does not bring back the first."""
    eth = PlannedTrade(Side.SELL, "ETH", D("1"), D("3000"), D("3000"), D("3"), ())
    sol = PlannedTrade(Side.SELL, "SOL", D("10"), D("100"), D("1000"), D("1"), ())
    rejected = replace(seed_plan(), trades=(eth, sol))
    now = datetime(2026, 3, 1, tzinfo=UTC)
    levels = bands(PolicySettings())
    snoozes = Snoozes(EngineState(store))
    await snoozes.snooze_plan("a1", rejected, None, levels, now + timedelta(days=1))
    moved = replace(rejected, trades=(replace(eth, price=D("3300")),
                                      replace(sol, price=D("110"))))
    empty = Portfolio(quote="USDT", total_value=D(0), cash_value=D(0), cash_balances={},
                      holdings={}, prices={})
    scan = Scan(now, empty, {})
    plan, quiet = await snoozes.leave_out(moved, scan, levels, D("0.05"), now)
    assert plan.trades == moved.trades and quiet == ()
    # The prices come back: nothing of the rejected plan is snoozed any more.
    plan, quiet = await snoozes.leave_out(rejected, scan, levels, D("0.05"), now)
    assert plan.trades == rejected.trades and quiet == ()
    assert await snoozes.get("a1") is None
