"""Execution on the real paper exchange and real SQLite files: once, sells first, crash-safe.

`FaultyExchange` wraps the paper exchange to lose requests and answers the way a live exchange
can; every assertion counts what the exchange really holds, not calls to Ballast's own code.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from core.domain.models import Side, TradeReason
from core.engine.approvals import ApprovalState
from core.engine.events import ApprovalClosed, ExecutionFailed, PlanExecuted
from core.engine.orders import OrderState, client_order_id
from core.exchange.base import OrderRequest
from core.exchange.prices import ManualClock
from core.storage.store import Store
from tests.engine_support import (
    BUY_SOL,
    EXECUTION_ACCOUNT,
    PRICES,
    SELL_ETH,
    T0,
    D,
    FaultyExchange,
    Rig,
    make_rig,
    order_count,
    paper_account,
    paper_rig,
    plan_of,
    trade,
)
from tests.fixed_prices import FixedPrices


@pytest.fixture
async def rig(store: Store) -> Rig:
    return await paper_rig(store, EXECUTION_ACCOUNT, priced_at=T0)


async def test_sells_go_first_and_each_order_has_its_deterministic_client_id(rig: Rig) -> None:
    approval = await rig.propose(plan_of(BUY_SOL, SELL_ETH))

    decision = await rig.engine.approve(approval.id, "owner", rig.clock.now)

    assert decision.ok and decision.state is ApprovalState.DONE
    sent = [(r.side, r.client_order_id) for r in rig.exchange.create_calls]
    assert sent == [
        (Side.SELL, client_order_id(approval.id, 1)),
        (Side.BUY, client_order_id(approval.id, 0)),
    ]
    rows = await rig.rows(approval.id)
    assert [(r.asset, r.state, r.filled) for r in rows] == [
        ("ETH", OrderState.FILLED, D("0.5")),
        ("SOL", OrderState.FILLED, D("5")),
    ]
    assert rows[0].average_price == D("3000") and rows[0].fee == D("1.5")
    assert sorted(rig.fills) == sorted(r.client_order_id for r in rows)
    executed = [e for e in rig.events.pending() if isinstance(e, PlanExecuted)]
    assert [e.approval_id for e in executed] == [approval.id]
    assert len(client_order_id("a" * 10, 99)) <= 36


async def test_two_approvals_of_one_plan_at_the_same_moment_execute_it_once(rig: Rig) -> None:
    approval = await rig.propose(plan_of(SELL_ETH, BUY_SOL))

    decisions = await asyncio.gather(
        *(rig.engine.approve(approval.id, f"tap{n}", rig.clock.now) for n in range(4))
    )

    assert sum(d.ok for d in decisions) == 1
    # Taps queue behind the first one's execution, then find it done.
    assert all("was already executed" in d.message for d in decisions if not d.ok)
    assert await order_count(rig.store) == 2
    assert len(rig.exchange.create_calls) == 2


async def test_approving_again_after_execution_sends_nothing(rig: Rig) -> None:
    approval = await rig.propose(plan_of(SELL_ETH))
    await rig.engine.approve(approval.id, "owner", rig.clock.now)

    again = await rig.engine.approve(approval.id, "owner", rig.clock.now)

    assert not again.ok and again.message == f"plan {approval.id} was already executed"
    assert await order_count(rig.store) == 1


async def test_a_lost_answer_is_looked_up_by_client_id_not_resent(rig: Rig) -> None:
    rig.exchange.lose_responses = 1
    approval = await rig.propose(plan_of(SELL_ETH, BUY_SOL))

    decision = await rig.engine.approve(approval.id, "owner", rig.clock.now)

    assert decision.state is ApprovalState.DONE
    assert len(rig.exchange.create_calls) == 2
    assert await order_count(rig.store) == 2


async def test_a_lost_request_is_sent_again_only_after_the_grace_and_only_once(rig: Rig) -> None:
    rig.exchange.drop_orders = 1
    approval = await rig.propose(plan_of(SELL_ETH, BUY_SOL))

    decision = await rig.engine.approve(approval.id, "owner", rig.clock.now)

    assert decision.state is ApprovalState.EXECUTING
    assert "never by sending twice" in decision.message
    assert [r.state for r in await rig.rows(approval.id)] == [
        OrderState.SENDING,
        OrderState.PLANNED,
    ]
    await rig.engine.housekeeping(rig.clock.advance(10))  # inside the grace: only a lookup
    assert len(rig.exchange.create_calls) == 1
    await rig.engine.housekeeping(rig.clock.advance(25))  # past it: absent, so sent once more
    await rig.engine.housekeeping(rig.clock.advance(30))

    assert [r.client_order_id for r in rig.exchange.create_calls] == [
        client_order_id(approval.id, 0),
        client_order_id(approval.id, 0),
        client_order_id(approval.id, 1),
    ]
    assert await order_count(rig.store) == 2
    stored = await rig.engine.approvals.get(approval.id)
    assert stored is not None and stored.state is ApprovalState.DONE
    assert [r.attempts for r in await rig.rows(approval.id)] == [2, 1]


async def test_an_outage_mid_execution_leaves_it_resumable_and_it_resumes(rig: Rig) -> None:
    rig.exchange.drop_orders = 1
    approval = await rig.propose(plan_of(SELL_ETH))
    await rig.engine.approve(approval.id, "owner", rig.clock.now)
    rig.exchange.down = True

    await rig.engine.housekeeping(rig.clock.advance(60))
    stored = await rig.engine.approvals.get(approval.id)
    assert stored is not None and stored.state is ApprovalState.EXECUTING

    rig.exchange.down = False
    await rig.engine.housekeeping(rig.clock.advance(60))
    stored = await rig.engine.approvals.get(approval.id)
    assert stored is not None and stored.state is ApprovalState.DONE
    assert await order_count(rig.store) == 1


async def test_after_a_crash_an_order_the_exchange_has_is_recorded_not_resent(
    rig: Rig, store: Store
) -> None:
    approval = await rig.propose(plan_of(SELL_ETH, BUY_SOL))
    # What a crash right after the create call leaves: the exchange has the sell, the row says
    # `sending`, the buy was never sent.
    await rig.engine.approvals.claim(approval.id, "owner", rig.clock.now)
    await rig.engine.orders.add_planned(approval.id, approval.plan, "USDT", rig.clock.now)
    await rig.engine.approvals.start_executing(approval.id, rig.clock.now)
    sell = (await rig.rows(approval.id))[0]
    await rig.engine.orders.claim_send(sell, sell.amount, rig.clock.now)
    await rig.exchange.paper.create_order(
        OrderRequest(sell.symbol, sell.side, sell.amount, sell.client_order_id)
    )

    restarted = await make_rig(store, rig.clock, rig.prices, rig.exchange)
    await restarted.engine.housekeeping(rig.clock.advance(5))

    rows = await restarted.rows(approval.id)
    assert [r.state for r in rows] == [OrderState.FILLED, OrderState.FILLED]
    assert await order_count(store) == 2
    assert [r.client_order_id for r in rig.exchange.create_calls] == [
        client_order_id(approval.id, 1)
    ]


async def test_a_stale_approval_is_not_sent_after_a_restart(rig: Rig, store: Store) -> None:
    approval = await rig.propose(plan_of(SELL_ETH))
    await rig.engine.approvals.claim(approval.id, "owner", rig.clock.now)
    await rig.engine.orders.add_planned(approval.id, approval.plan, "USDT", rig.clock.now)
    await rig.engine.approvals.start_executing(approval.id, rig.clock.now)

    restarted = await make_rig(store, rig.clock, rig.prices, rig.exchange)
    await restarted.engine.housekeeping(rig.clock.advance(3600))

    assert rig.exchange.create_calls == []
    [row] = await restarted.rows(approval.id)
    assert row.state is OrderState.NOT_SENT and row.detail is not None
    assert "too late to send" in row.detail
    stored = await restarted.engine.approvals.get(approval.id)
    assert stored is not None and stored.state is ApprovalState.FAILED
    failed = [e for e in restarted.events.pending() if isinstance(e, ExecutionFailed)]
    assert [e.approval_id for e in failed] == [approval.id]


async def test_a_crash_between_approval_and_execution_fails_it_without_orders(
    rig: Rig, store: Store
) -> None:
    approval = await rig.propose(plan_of(SELL_ETH))
    await rig.engine.approvals.claim(approval.id, "owner", rig.clock.now)

    restarted = await make_rig(store, rig.clock, rig.prices, rig.exchange)
    await restarted.engine.housekeeping(rig.clock.advance(5))  # within grace: left alone
    stored = await restarted.engine.approvals.get(approval.id)
    assert stored is not None and stored.state is ApprovalState.APPROVED
    await restarted.engine.housekeeping(rig.clock.advance(60))

    stored = await restarted.engine.approvals.get(approval.id)
    assert stored is not None and stored.state is ApprovalState.FAILED
    assert stored.reason is not None and "before sending any order" in stored.reason
    assert rig.exchange.create_calls == []


async def test_a_resumed_order_whose_price_moved_is_not_sent(rig: Rig, store: Store) -> None:
    approval = await rig.propose(plan_of(SELL_ETH))
    rig.exchange.drop_orders = 1
    await rig.engine.approve(approval.id, "owner", rig.clock.now)
    rig.prices.set("ETH/USDT", D("2900"))  # -3.3%: beyond max_price_drift

    await rig.engine.housekeeping(rig.clock.advance(60))

    [row] = await rig.rows(approval.id)
    assert row.state is OrderState.NOT_SENT
    assert row.detail == "ETH moved 3.3% since the plan (limit 2.0%)"
    assert len(rig.exchange.create_calls) == 1


async def test_a_buy_is_cut_so_cash_stays_above_the_floor(store: Store) -> None:
    clock = ManualClock(T0)
    prices = FixedPrices(dict(PRICES), at=T0)
    # V = 2000 + 0.16 × 50000 = 10000; floor 15% → 500 may be spent on SOL at most.
    paper = await paper_account(store, {"USDT": "2000", "BTC": "0.16"}, clock, prices)
    rig = await make_rig(store, clock, prices, FaultyExchange(paper, prices))
    approval = await rig.propose(plan_of(trade(Side.BUY, "SOL", "12", "100",
                                               TradeReason.BUY_SIGNAL)))

    decision = await rig.engine.approve(approval.id, "owner", clock.now)

    assert decision.state is ApprovalState.DONE
    [row] = await rig.rows(approval.id)
    # Budget 2000 − 1500 = 500; at the price limit (max_slippage 1% above 100) with the 0.1%
    # fee 4.945 SOL, floored to SOL's 0.01 step.
    assert row.amount == D("4.94") and row.filled == D("4.94")
    balances = await paper.fetch_balances()
    assert balances["USDT"].free >= Decimal("1500")


async def test_a_buy_with_nothing_to_spend_above_the_floor_is_skipped(store: Store) -> None:
    rig = await paper_rig(store, {"USDT": "1000", "BTC": "0.18"}, priced_at=T0)
    clock = rig.clock
    approval = await rig.propose(plan_of(BUY_SOL))

    decision = await rig.engine.approve(approval.id, "owner", clock.now)

    [row] = await rig.rows(approval.id)
    assert row.state is OrderState.SKIPPED
    assert row.detail == "no USDT to spend above the cash floor"
    assert decision.state is ApprovalState.DONE
    assert rig.exchange.create_calls == []


async def test_drift_above_the_limit_re_plans_instead_of_executing(rig: Rig) -> None:
    approval = await rig.propose(plan_of(SELL_ETH))
    rig.prices.set("ETH/USDT", D("3090"))  # +3%
    rig.next_plan = plan_of(trade(Side.SELL, "ETH", "0.45", "3090", TradeReason.TRIM_TO_MAX))

    decision = await rig.engine.approve(approval.id, "owner", rig.clock.now)

    assert not decision.ok and decision.state is ApprovalState.SUPERSEDED
    assert decision.new_approval_id is not None
    assert decision.message == (
        "prices moved since the plan: ETH +3.0% (limit 2.0%); "
        f"re-planned as plan {decision.new_approval_id}"
    )
    assert rig.exchange.create_calls == []
    old = await rig.engine.approvals.get(approval.id)
    new = await rig.engine.approvals.get(decision.new_approval_id)
    assert old is not None and old.replaced_by == decision.new_approval_id
    assert new is not None and new.state is ApprovalState.PENDING
    assert new.plan.trades[0].amount == D("0.45")


async def test_drift_within_the_limit_executes(rig: Rig) -> None:
    approval = await rig.propose(plan_of(SELL_ETH))
    rig.prices.set("ETH/USDT", D("3050"))  # +1.7%

    decision = await rig.engine.approve(approval.id, "owner", rig.clock.now)

    assert decision.ok and decision.state is ApprovalState.DONE


async def test_expiry_is_announced_once(rig: Rig) -> None:
    approval = await rig.propose(plan_of(SELL_ETH))

    await rig.engine.housekeeping(rig.clock.advance(600))
    await rig.engine.housekeeping(rig.clock.advance(30))

    closed = [e for e in rig.events.pending() if isinstance(e, ApprovalClosed)]
    assert [(e.approval_id, e.state) for e in closed] == [(approval.id, "expired")]


async def test_an_open_order_the_exchange_forgot_is_closed_at_its_deadline(store: Store) -> None:
    rig = await paper_rig(store, {"USDT": "2000", "BTC": "0.16"}, priced_at=T0)
    clock = rig.clock
    approval = await rig.propose(plan_of(trade(Side.SELL, "BTC", "0.01", "50000",
                                               TradeReason.TRIM_TO_MAX)))
    assert (await rig.engine.approvals.claim(approval.id, "owner", clock.now)).ok
    [row] = await rig.engine.orders.add_planned(approval.id, approval.plan, "USDT", clock.now)
    assert await rig.engine.approvals.start_executing(approval.id, clock.now)
    assert await rig.engine.orders.claim_send(row, row.amount, clock.now)
    # The exchange had it open once (as far as Ballast recorded), then lost it.
    await store.conn.execute("UPDATE orders SET state = 'open' WHERE client_order_id = ?",
                             (row.client_order_id,))
    executing = await rig.engine.approvals.get(approval.id)
    assert executing is not None

    early = await rig.engine.executor.run(executing, clock.advance(60), resumed=True)
    assert not early.finished, "open orders wait for their deadline"
    late = await rig.engine.executor.run(executing, clock.advance(61), resumed=True)

    assert late.finished and late.state is ApprovalState.FAILED
    [ended] = await rig.rows(approval.id)
    assert ended.state is OrderState.CANCELED and ended.filled == 0
    assert "no longer knows" in (ended.detail or "")
    assert rig.exchange.create_calls == [], "an order once open is never sent again"
