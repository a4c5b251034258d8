"""Upkeep beside a real engine: the daily summary at its hour, the scan watchdog, the outbox."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest

from core.domain.models import Side, SignalKind, TradeReason
from core.engine.approvals import ApprovalState
from core.engine.events import ExchangeRecovered, ExchangeTrouble, PlanProposed, SignalChanged
from core.engine.service import EngineService
from core.ops.outbox import Outbox, decode, post_events
from core.ops.summary import DailySummary
from core.ops.upkeep import Upkeep
from core.ops.watchdog import ScansFailing, ScansResumed
from core.storage.store import Store
from tests.engine_support import (
    T0,
    D,
    Rig,
    paper_rig,
    plan_of,
    trade,
)

# V = 1000 + 0.1 × 50000 + 2 × 3000 = 12000; cash 8.3%.
ACCOUNT = {"USDT": "1000", "BTC": "0.1", "ETH": "2"}
SETTINGS: dict[str, Any] = {
    "daily_summary_hour": 13, "scan_failure_alert_after": 600, "backup_dir": None,
    "watchlist": "BTC,ETH,SOL",  # the assets the test prices
}


async def build(store: Store, **overrides: Any) -> tuple[Rig, Upkeep, Outbox]:
    rig = await paper_rig(store, ACCOUNT, **{**SETTINGS, **overrides})
    clock = rig.clock
    outbox = Outbox(store)
    upkeep = Upkeep(rig.engine.settings, EngineService(rig.engine, clock), clock, outbox=outbox)
    return rig, upkeep, outbox


async def sell_eth(rig: Rig) -> None:
    """Plan, approve and execute a sale of 0.5 ETH, then scan: the day's one trade."""
    rig.next_plan = plan_of(trade(Side.SELL, "ETH", "0.5", "3000", TradeReason.RAISE_CASH))
    proposal = await rig.engine.plan(rig.clock.now)
    assert proposal.approval is not None
    decision = await rig.engine.approve(proposal.approval.id, "owner", rig.clock.advance(5))
    assert decision.state is ApprovalState.DONE, decision.message
    await rig.engine.scan(rig.clock.advance(5))


async def letters(outbox: Outbox) -> list[object]:
    return [decode(p.kind, p.text) for p in await outbox.waiting()]


async def test_the_summary_comes_once_a_day_at_its_hour(store: Store) -> None:
    rig, upkeep, outbox = await build(store)
    await rig.engine.tick(rig.clock.now)  # 12:00 UTC: a scan, no summary yet
    assert await upkeep.summary_if_due(rig.clock.now) is None

    at_one = T0 + timedelta(hours=1)
    summary = await upkeep.summary_if_due(at_one)
    assert summary is not None
    assert summary.total_value == D("12000") and summary.cash_value == D("1000")
    assert summary.attention == (  # the defaults: min_cash 25%, cash_band 5%
        "Cash 8.3% is below 20%, where the policy raises it (the 25% minimum less its band).",)
    assert await letters(outbox) == [summary]

    assert await upkeep.summary_if_due(at_one + timedelta(hours=3)) is None
    restarted = Upkeep(rig.engine.settings, upkeep.service, rig.clock, outbox=outbox)
    assert await restarted.summary_if_due(at_one + timedelta(hours=4)) is None  # said today
    tomorrow = await restarted.summary_if_due(at_one + timedelta(days=1))
    assert tomorrow is not None and len(await letters(outbox)) == 2


async def test_the_summary_counts_the_days_trades_and_fees(store: Store) -> None:
    rig, upkeep, _ = await build(store)
    await sell_eth(rig)

    summary = await upkeep.summary_if_due(T0 + timedelta(hours=1))
    assert summary is not None
    ((side, asset, amount, fee),) = [(t.side, t.asset, t.amount, t.fee_value)
                                     for t in summary.trades]
    assert (side, asset, amount) == ("sell", "ETH", D("0.5"))
    assert fee == D("1.5") == summary.fees  # the paper exchange's 0.1% of 1,500 USDT
    assert summary.cash_value == D("1000") + D("1500") - D("1.5")


async def test_after_a_start_the_summary_waits_for_the_first_scan(store: Store) -> None:
    """Due at start-up, it waits for the first scan rather than report an empty portfolio."""
    rig, upkeep, _ = await build(store)
    late = T0 + timedelta(hours=1)  # past the hour, but Ballast has not scanned yet
    upkeep.watchdog.started = late
    assert await upkeep.summary_if_due(late) is None
    await rig.engine.tick(late + timedelta(seconds=30))
    summary = await upkeep.summary_if_due(late + timedelta(seconds=31))
    assert summary is not None and summary.total_value == D("12000")


async def test_if_scans_keep_failing_the_summary_comes_anyway(store: Store) -> None:
    _, upkeep, _ = await build(store)
    late = T0 + timedelta(hours=1)
    upkeep.watchdog.started = late
    assert await upkeep.summary_if_due(late + timedelta(minutes=5)) is None
    never = await upkeep.summary_if_due(late + timedelta(minutes=11))
    assert never is not None and never.attention[0].startswith("No portfolio")


async def test_no_summary_when_switched_off(store: Store) -> None:
    _, upkeep, outbox = await build(store, daily_summary_hour=None)
    assert await upkeep.summary_if_due(T0 + timedelta(hours=5)) is None
    assert await outbox.count() == 0


async def test_failing_scans_alert_once_past_the_threshold_then_resume(store: Store) -> None:
    rig, upkeep, outbox = await build(store)
    await rig.engine.tick(rig.clock.now)
    rig.exchange.down = True
    for _ in range(5):
        now = rig.clock.advance(120)
        await rig.engine.tick(now)
        await upkeep.watch_scans(now)  # at +2 … +10 min: not past 10 min yet
    assert await outbox.count() == 0
    now = rig.clock.advance(120)
    await rig.engine.tick(now)
    failing = await upkeep.watch_scans(now)
    assert failing == ScansFailing(now, T0, "exchange unreachable (test outage)")
    await upkeep.watch_scans(rig.clock.advance(120))  # still failing: said once
    rig.exchange.down = False
    now = rig.clock.advance(30)
    await rig.engine.tick(now)
    resumed = await upkeep.watch_scans(now)
    assert resumed == ScansResumed(now, T0)
    assert await letters(outbox) == [failing, resumed]


async def test_a_failing_chore_does_not_stop_the_others(
    store: Store, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig, upkeep, outbox = await build(store)

    async def broken(now: datetime) -> None:
        raise RuntimeError("history unreadable")

    monkeypatch.setattr(upkeep, "gather", broken)
    rig.exchange.down = True
    later = T0 + timedelta(hours=2)
    await upkeep.step(later)  # the summary fails; the watchdog still alerts
    assert "summary_if_due failed" in caplog.text
    assert [type(letter) for letter in await letters(outbox)] == [ScansFailing]


async def test_upkeep_runs_until_stopped(store: Store) -> None:
    rig, upkeep, outbox = await build(store)
    await rig.engine.tick(rig.clock.now)
    stop = asyncio.Event()

    def stopping_clock() -> datetime:
        stop.set()  # one round of chores, then the wait ends because we are stopping
        return T0 + timedelta(hours=1)

    upkeep.clock = stopping_clock
    await asyncio.wait_for(upkeep.run(stop), 5)
    # An hour without a scan is past the threshold too: both chores ran.
    assert [type(letter) for letter in await letters(outbox)] == [ScansFailing, DailySummary]


async def test_an_exchange_outage_makes_no_plan_one_alert_and_one_recovery(
    store: Store,
) -> None:
    """Through the outbox, as the owner would get them: one trouble, one recovery, no plan."""
    rig, upkeep, outbox = await build(store, rebalance_interval=60)
    recorder = asyncio.create_task(post_events(rig.engine.bus.subscribe(), outbox, rig.clock))
    await rig.engine.tick(rig.clock.now)  # the first plan (empty) is made before the outage
    rig.next_plan = plan_of(trade(Side.SELL, "ETH", "0.5", "3000", TradeReason.RAISE_CASH))
    rig.exchange.down = True
    for _ in range(6):  # six minutes of rebalance intervals, every scan failing
        now = rig.clock.advance(60)
        await rig.engine.tick(now)
        assert (await upkeep.service.plan_now()).approval is None
    rig.exchange.down = False
    await rig.engine.tick(rig.clock.advance(60))
    async with asyncio.timeout(5):
        while True:
            outbox.arrived.clear()
            kinds = [type(letter) for letter in await letters(outbox)]
            if ExchangeRecovered in kinds:
                break
            await outbox.arrived.wait()
    recorder.cancel()
    assert kinds.count(ExchangeTrouble) == 1 and kinds.count(ExchangeRecovered) == 1
    assert kinds.index(ExchangeTrouble) < kinds.index(ExchangeRecovered)
    proposed_during = [k for k in kinds[kinds.index(ExchangeTrouble):kinds.index(
        ExchangeRecovered)] if k is PlanProposed]
    assert proposed_during == []


async def test_the_days_signal_flips_reach_the_summary_instead_of_the_phone(store: Store) -> None:
    rig, upkeep, outbox = await build(store)
    await rig.engine.tick(rig.clock.now)
    for minutes, (before, after) in enumerate(((SignalKind.HOLD, SignalKind.BUY),
                                               (SignalKind.BUY, SignalKind.HOLD))):
        at = T0 + timedelta(minutes=10 * (minutes + 1))
        await outbox.post(SignalChanged(at, "ETH", before, after, 0.3), at)
    summary = await upkeep.summary_if_due(T0 + timedelta(hours=1))
    assert summary is not None and summary.signal_changes == ("ETH HOLD→BUY→HOLD",)


async def test_the_summary_gives_the_days_realised_pnl_beside_holding(store: Store) -> None:
    from bot.telegram.format import visible
    from bot.telegram.letters import summary_view

    rig, upkeep, _ = await build(store)
    await rig.engine.tick(rig.clock.now)
    await sell_eth(rig)

    summary = await upkeep.summary_if_due(T0 + timedelta(hours=1))
    assert summary is not None
    # The ETH was held before any trade history: its cost is unknown, nothing realised; sold
    # at today's price, the sale is holding less its fee.
    assert summary.realised == D("0") and summary.beside_holding == D("-1.5")
    assert summary.unknown_sells == 1
    text = visible(summary_view(summary).text)
    assert "Realised +0.00? · vs holding −1.50" in text
    assert "its cost is unknown" in " ".join(text.split())


async def test_signal_flips_set_off_stay_out_of_the_summary(store: Store) -> None:
    """`alert_signals = off` means not told: the daily summary does not list them either."""
    rig, upkeep, outbox = await build(store, alert_signals="off")
    await rig.engine.tick(rig.clock.now)
    at = T0 + timedelta(minutes=10)
    await outbox.post(SignalChanged(at, "ETH", SignalKind.HOLD, SignalKind.BUY, 0.3), at)
    summary = await upkeep.summary_if_due(T0 + timedelta(hours=1))
    assert summary is not None and summary.signal_changes == ()
