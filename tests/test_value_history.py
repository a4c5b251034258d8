"""The value chart's data from a real engine on the paper exchange: snapshots, holding's line
and Ballast's trades (EngineService.value_history)."""

from __future__ import annotations

from datetime import timedelta

from core.domain.models import Side, TradeReason
from core.engine.approvals import ApprovalState
from core.storage.store import Store
from tests.engine_support import D, plan_of, trade
from tests.test_summary_upkeep import build


async def test_holdings_line_and_trade_marks_follow_a_sell(store: Store) -> None:
    rig, upkeep, _ = await build(store)
    interval = timedelta(seconds=rig.engine.settings.rebalance_interval)
    await rig.engine.scan(rig.clock.now)
    rig.next_plan = plan_of(trade(Side.SELL, "ETH", "0.5", "3000", TradeReason.RAISE_CASH))
    proposal = await rig.engine.plan(rig.clock.advance(60))
    assert proposal.approval is not None
    decision = await rig.engine.approve(proposal.approval.id, "owner", rig.clock.advance(5))
    assert decision.state is ApprovalState.DONE, decision.message
    for _ in range(3):
        await rig.engine.scan(rig.clock.advance(interval.total_seconds()))
    history = await upkeep.service.value_history()
    assert len(history.snapshots) == 4
    assert len(history.sells) == 1 and not history.buys
    # Prices did not move: holding's line is the value plus the fee the sell paid.
    assert history.holding[0] == history.snapshots[0].total_value
    assert history.holding[-1] == history.snapshots[-1].total_value + D("1.5")


async def test_todays_profit_starts_at_midnight_in_the_owners_time_zone(
    store: Store,
) -> None:
    rig, upkeep, _ = await build(store, timezone="Europe/Berlin")
    scan = await rig.engine.scan(rig.clock.now)  # T0 is 12:00 UTC, 13:00 in Berlin
    assert scan is not None
    # 23:30 UTC the day before: already today in Berlin (00:30), still yesterday in UTC.
    early = rig.clock.now - timedelta(hours=12, minutes=30)
    await rig.engine.state.add_snapshot(scan.portfolio, early)
    today = (await upkeep.service.profit()).periods[0]
    assert today.name == "today" and today.since == early
