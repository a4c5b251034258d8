"""The engine's loop on a hand-held clock: scans, events, plans, pause, auto approval, outages."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from core.config.settings import SettingsError, load_settings
from core.domain.models import AssetSignal, Balance, Side, SignalKind, TradeReason, Vote
from core.engine.approvals import ApprovalState
from core.engine.events import (
    ApprovalClosed,
    CashBelowMinimum,
    ExchangeRecovered,
    ExchangeTrouble,
    PlanExecuted,
    PlanProposed,
    SignalChanged,
)
from core.engine.loop import Engine
from core.engine.ports import Ports
from core.engine.service import EngineService
from core.storage.store import Store
from tests.engine_support import (
    PRICES,
    D,
    Rig,
    make_rig,
    order_count,
    paper_rig,
    plan_of,
    trade,
)

# V = 1000 + 0.1 × 50000 + 2 × 3000 = 12000; cash 8.3% (below min_cash).
ACCOUNT = {"USDT": "1000", "BTC": "0.1", "ETH": "2"}
SELL_ETH = trade(Side.SELL, "ETH", "0.5", "3000", TradeReason.RAISE_CASH)


async def build(store: Store, **overrides: Any) -> Rig:
    return await paper_rig(store, ACCOUNT, **overrides)


def signal(asset: str, kind: SignalKind, score: float = 0.0) -> AssetSignal:
    vote = -1 if kind is SignalKind.SELL else 0
    return AssetSignal(asset, kind, score, (Vote("rsi", vote, "RSI(14) 78.4 > 70"),))


async def test_an_outage_is_reported_once_retried_and_recovered_without_a_restart(
    store: Store,
) -> None:
    rig = await build(store)
    await rig.engine.tick(rig.clock.now)
    rig.exchange.down = True

    waits = []
    for _ in range(3):
        wake = await rig.engine.tick(rig.clock.now)
        waits.append((wake - rig.clock.now).total_seconds())
        rig.clock.now = wake
    rig.exchange.down = False
    await rig.engine.tick(rig.clock.now)

    events = rig.events.pending()
    trouble = [e for e in events if isinstance(e, ExchangeTrouble)]
    recovered = [e for e in events if isinstance(e, ExchangeRecovered)]
    assert [e.message for e in trouble] == ["exchange unreachable (test outage)"]
    assert len(recovered) == 1 and recovered[0].failed_scans == 3
    assert all(w < rig.engine.settings.scan_interval for w in waits[:2])  # retried sooner
    assert rig.engine.latest is not None and rig.engine.latest.at == rig.clock.now
    status = await EngineService(rig.engine, rig.clock).status()
    assert status.exchange_ok and status.last_error is None


async def test_signal_changes_on_holdings_are_announced_once(store: Store) -> None:
    rig = await build(store)
    rig.signals = {"ETH": signal("ETH", SignalKind.HOLD), "SOL": signal("SOL", SignalKind.HOLD)}
    await rig.engine.scan(rig.clock.now)
    rig.signals = {
        "ETH": signal("ETH", SignalKind.SELL, -0.25),
        "SOL": signal("SOL", SignalKind.SELL, -0.25),  # not held: no alert
    }

    await rig.engine.scan(rig.clock.advance(30))
    await rig.engine.scan(rig.clock.advance(30))

    changes = [e for e in rig.events.pending() if isinstance(e, SignalChanged)]
    # Each reason with its vote; a SELL its score explains needs no rule spelled out.
    assert [(e.asset, e.previous, e.current, e.reasons, e.why) for e in changes] == [
        ("ETH", SignalKind.HOLD, SignalKind.SELL, ("− rsi: RSI(14) 78.4 > 70",), "")
    ]


async def test_a_sell_the_score_does_not_explain_says_which_rule_made_it(store: Store) -> None:
    rig = await build(store, preset="seed-literal")  # the seed's rule: one SELL vote sells
    rig.signals = {"ETH": signal("ETH", SignalKind.BUY, 0.5)}
    await rig.engine.scan(rig.clock.now)
    votes = (Vote("rsi", -1, "RSI(14) 78.4 > 70"), Vote("macd", 1, "MACD crossed up"))
    rig.signals = {"ETH": AssetSignal("ETH", SignalKind.SELL, 0.0, votes)}
    await rig.engine.scan(rig.clock.advance(30))

    [change] = [e for e in rig.events.pending() if isinstance(e, SignalChanged)]
    assert change.reasons == ("− rsi: RSI(14) 78.4 > 70", "+ macd: MACD crossed up")
    assert change.why == ("SELL: 1 of 2 strategies vote SELL; sell_rule = any: "
                          "one SELL vote sells")


async def test_a_restart_neither_repeats_nor_misses_a_signal_change(store: Store) -> None:
    rig = await build(store)
    rig.signals = {"ETH": signal("ETH", SignalKind.HOLD)}
    await rig.engine.scan(rig.clock.now)

    restarted = await make_rig(store, rig.clock, rig.prices, rig.exchange)
    restarted.signals = {"ETH": signal("ETH", SignalKind.SELL)}
    await restarted.engine.scan(rig.clock.advance(30))
    await restarted.engine.scan(rig.clock.advance(30))

    changes = [e for e in restarted.events.pending() if isinstance(e, SignalChanged)]
    assert [(e.asset, e.current) for e in changes] == [("ETH", SignalKind.SELL)]


async def test_cash_below_minimum_is_announced_once_per_breach(store: Store) -> None:
    rig = await build(store)

    await rig.engine.scan(rig.clock.now)  # cash 8.3%: breach
    await rig.engine.scan(rig.clock.advance(30))  # still the same breach
    rig.prices.set("BTC/USDT", D("10000"))
    rig.prices.set("ETH/USDT", D("100"))
    await rig.engine.scan(rig.clock.advance(30))  # V = 2200, cash 45%: over
    rig.prices.set("BTC/USDT", PRICES["BTC/USDT"])
    rig.prices.set("ETH/USDT", PRICES["ETH/USDT"])
    await rig.engine.scan(rig.clock.advance(30))  # a new breach

    events = [e for e in rig.events.pending() if isinstance(e, CashBelowMinimum)]
    assert [round(e.cash_allocation, 4) for e in events] == [D("0.0833"), D("0.0833")]
    assert events[0].min_cash == D("0.25")  # the default reserve


async def test_plans_come_every_rebalance_interval_and_not_while_paused(store: Store) -> None:
    # The seed's rules plan every rebalance_interval; the defaults wait for a closed candle.
    rig = await build(store, preset="seed-literal")
    rig.next_plan = plan_of(SELL_ETH)

    await rig.engine.tick(rig.clock.now)
    await rig.engine.tick(rig.clock.advance(30))  # within the interval: no new plan
    proposed = [e for e in rig.events.pending() if isinstance(e, PlanProposed)]
    assert len(proposed) == 1 and not proposed[0].auto

    service = EngineService(rig.engine, rig.clock)
    await service.pause()
    # The pause persists.
    restarted = await make_rig(store, rig.clock, rig.prices, rig.exchange, preset="seed-literal")
    restarted.next_plan = plan_of(trade(Side.SELL, "BTC", "0.01", "50000",
                                        TradeReason.RAISE_CASH))
    await restarted.engine.tick(rig.clock.advance(600))
    while_paused = restarted.events.pending()
    assert not [e for e in while_paused if isinstance(e, PlanProposed)]
    assert [(e.approval_id, e.state) for e in while_paused if isinstance(e, ApprovalClosed)] == [
        (proposed[0].approval_id, "expired")  # its ten minutes ran out meanwhile
    ]
    assert (await EngineService(restarted.engine, rig.clock).status()).paused

    await EngineService(restarted.engine, rig.clock).resume()
    await restarted.engine.tick(rig.clock.advance(30))
    assert len([e for e in restarted.events.pending() if isinstance(e, PlanProposed)]) == 1


async def test_a_newer_different_plan_supersedes_and_the_same_plan_stands(store: Store) -> None:
    rig = await build(store)
    service = EngineService(rig.engine, rig.clock)
    rig.next_plan = plan_of(SELL_ETH)
    first = await service.plan_now()
    same = await service.plan_now()
    rig.next_plan = plan_of(trade(Side.SELL, "BTC", "0.02", "50000", TradeReason.RAISE_CASH))
    other = await service.plan_now()

    assert first.approval is not None and same.approval is not None
    assert same.kept_pending and same.approval.id == first.approval.id
    assert same.message == f"plan {first.approval.id} still stands"
    assert other.approval is not None and other.approval.id != first.approval.id
    old = await rig.engine.approvals.get(first.approval.id)
    assert old is not None and old.state is ApprovalState.SUPERSEDED
    assert [a.id for a in await service.pending()] == [other.approval.id]


async def test_an_empty_plan_proposes_nothing(store: Store) -> None:
    rig = await build(store)

    proposal = await EngineService(rig.engine, rig.clock).plan_now()

    assert proposal.approval is None
    assert proposal.message == "nothing to do: the portfolio is within its limits"
    assert await rig.engine.approvals.recent() == []


async def test_auto_approval_executes_in_paper_mode(store: Store) -> None:
    rig = await build(store, approval="auto")
    rig.next_plan = plan_of(SELL_ETH)

    await rig.engine.tick(rig.clock.now)

    events = rig.events.pending()
    proposed = [e for e in events if isinstance(e, PlanProposed)]
    executed = [e for e in events if isinstance(e, PlanExecuted)]
    assert len(proposed) == 1 and proposed[0].auto
    assert [e.approval_id for e in executed] == [proposed[0].approval_id]
    assert await order_count(store) == 1


async def test_auto_approval_in_live_mode_needs_allow_live_auto(store: Store) -> None:
    rig = await build(store)
    ports: Ports = rig.engine.ports
    refused = load_settings(env={}, mode="live", approval="auto")
    with pytest.raises(SettingsError, match="allow_live_auto"):
        Engine(refused, rig.exchange, store, ports)

    allowed = load_settings(env={}, mode="live", approval="auto", allow_live_auto=True)
    engine = Engine(allowed, rig.exchange, store, ports)
    rig.next_plan = plan_of(SELL_ETH)
    proposal = await engine.plan(rig.clock.now)
    assert proposal.decision is not None and proposal.decision.ok
    assert await order_count(store) == 1


async def test_history_and_snapshots_are_kept(store: Store) -> None:
    rig = await build(store)
    rig.next_plan = plan_of(SELL_ETH)
    service = EngineService(rig.engine, rig.clock)
    for _ in range(12):  # 6 minutes of scans: two snapshots at a 300 s rebalance interval
        await rig.engine.tick(rig.clock.advance(30))
    pending = await service.pending()
    await service.approve(pending[0].id, "owner")

    history = await service.history()

    assert len(history.snapshots) == 2
    assert history.snapshots[0].total_value == D("12000")
    assert [a.state for a in history.approvals][:1] == [ApprovalState.DONE]
    assert [(t.asset, t.filled) for t in history.trades] == [("ETH", D("0.5"))]
    # The ETH sold was held before any trade history: its realised P&L is unknown.
    assert history.realised == {history.trades[0].client_order_id: None}


async def test_no_plan_is_proposed_from_balances_an_execution_is_changing(store: Store) -> None:
    """A plan being made while the owner approves another must not outlive that execution.

    The plan's scan is held at the exchange while Approve arrives. Approval waits for the plan
    in progress (which keeps the identical pending plan), then executes it; no second plan
    with the same sell is left pending to be approved again.
    """
    rig = await build(store)
    service = EngineService(rig.engine, rig.clock)
    rig.next_plan = plan_of(SELL_ETH)
    first = await service.plan_now()
    assert first.approval is not None

    entered, release = asyncio.Event(), asyncio.Event()
    real_balances = rig.exchange.fetch_balances

    async def held_balances() -> dict[str, Balance]:
        if not entered.is_set():
            entered.set()
            await release.wait()
        return await real_balances()

    rig.exchange.fetch_balances = held_balances  # type: ignore[method-assign]
    planning = asyncio.ensure_future(service.plan_now())
    await entered.wait()
    approving = asyncio.ensure_future(service.approve(first.approval.id, "owner"))
    # Give the approval every chance to run ahead of the held plan (it must not).
    await asyncio.wait({approving}, timeout=0.5)
    release.set()
    await planning
    decision = await approving

    assert decision.ok
    assert await order_count(store) == 1
    assert await service.pending() == []
