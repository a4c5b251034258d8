"""Plans obey the settings in force (issue 21 finding 4), on the real paper exchange and SQLite.

A settings change supersedes every plan awaiting approval (it is planned again and the owner is
told), and the executor checks each send against the settings in force: `never_sell` is absolute
and buys stop at the cash floor and at `max_position`, whatever the plan said.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from core.domain.models import Side, TradeReason
from core.engine.approvals import ApprovalState
from core.engine.events import ApprovalClosed, PlanProposed
from core.engine.orders import OrderState
from core.storage.store import Store
from tests.engine_support import (
    BUY_SOL,
    EXECUTION_ACCOUNT,
    SELL_ETH,
    T0,
    D,
    Rig,
    paper_rig,
    plan_of,
    trade,
)


async def rig_with(store: Store, account: dict[str, str] | None = None, **settings: Any
                   ) -> Rig:
    return await paper_rig(store, account or EXECUTION_ACCOUNT, priced_at=T0, **settings)


async def test_a_settings_change_supersedes_the_waiting_plan_and_plans_again(
    store: Store,
) -> None:
    rig = await rig_with(store)
    rig.next_plan = plan_of(SELL_ETH)
    first = await rig.engine.plan(rig.clock.now)
    assert first.approval is not None
    rig.events.pending()

    changed = rig.engine.settings.model_copy(update={"never_sell": ("ETH",)})
    rig.next_plan = plan_of(BUY_SOL)  # what the policy makes under the new settings
    [again] = await rig.engine.apply_settings(changed, rig.engine.ports, rig.clock.now)

    old = await rig.engine.approvals.get(first.approval.id)
    assert old is not None and old.state is ApprovalState.SUPERSEDED
    assert again.approval is not None and old.replaced_by == again.approval.id
    said = rig.events.pending()
    [closed] = [e for e in said if isinstance(e, ApprovalClosed)]
    assert "settings changed (never_sell)" in closed.reason
    assert again.approval.id in closed.reason
    [proposed] = [e for e in said if isinstance(e, PlanProposed)]
    assert proposed.replaces == first.approval.id and not proposed.auto
    decision = await rig.engine.approve(first.approval.id, "owner", rig.clock.now)
    assert not decision.ok and "superseded" in decision.message
    assert rig.exchange.create_calls == []


async def test_never_sell_is_absolute_at_the_send(store: Store) -> None:
    """A plan approved under older settings (stored before a restart, or approved in the
    instant the settings changed) still sells nothing on never_sell; its buys go on."""
    rig = await rig_with(store, never_sell="ETH")
    approval = await rig.propose(plan_of(SELL_ETH, BUY_SOL))

    decision = await rig.engine.approve(approval.id, "owner", rig.clock.now)

    assert decision.state is ApprovalState.FAILED
    rows = {row.asset: row for row in await rig.rows(approval.id)}
    assert rows["ETH"].state is OrderState.NOT_SENT
    assert rows["ETH"].detail is not None and "never_sell" in rows["ETH"].detail
    assert rows["SOL"].state is OrderState.FILLED
    assert [r.side for r in rig.exchange.create_calls] == [Side.BUY]
    assert "never_sell" in decision.message


async def test_never_sell_set_in_the_chat_reaches_a_plan_already_approved(store: Store) -> None:
    rig = await rig_with(store)
    approval = await rig.propose(plan_of(SELL_ETH))
    await rig.engine.approvals.claim(approval.id, "owner", rig.clock.now)
    await rig.engine.approvals.start_executing(approval.id, rig.clock.now)
    await rig.engine.orders.add_planned(approval.id, approval.plan, "USDT", rig.clock.now)
    changed = rig.engine.settings.model_copy(update={"never_sell": ("ETH",)})
    await rig.engine.apply_settings(changed, rig.engine.ports, rig.clock.now)

    await rig.engine.housekeeping(rig.clock.now)  # resumes the executing plan

    [row] = await rig.rows(approval.id)
    assert row.state is OrderState.NOT_SENT and rig.exchange.create_calls == []


async def test_a_buy_stops_at_max_position_in_force(store: Store) -> None:
    # V = 3000 + 2 × 3000 + 0.05 × 50000 = 11500; SOL may be 10% = 1150 → 11.5 SOL at most.
    rig = await rig_with(store, max_position="0.10", min_position="0.02")
    approval = await rig.propose(plan_of(trade(Side.BUY, "SOL", "20", "100",
                                               TradeReason.BUY_SIGNAL)))

    decision = await rig.engine.approve(approval.id, "owner", rig.clock.now)

    assert decision.state is ApprovalState.DONE
    [row] = await rig.rows(approval.id)
    assert row.filled == D("11.5")


async def test_a_plans_own_fills_are_not_taken_for_a_second_bot(store: Store) -> None:
    """The re-read before the buy sees the cash the sell before it brought in, fee and all:
    that is this plan's own doing, so the buy goes and nothing pauses."""
    rig = await rig_with(store)
    approval, _ = await rig.engine.approvals.propose(
        plan_of(SELL_ETH, BUY_SOL), rig.clock.now, timedelta(minutes=10),
        balances={"ETH": D("2"), "SOL": D("0"), "USDT": D("3000")})

    decision = await rig.engine.approve(approval.id, "owner", rig.clock.now)

    assert decision.state is ApprovalState.DONE, decision.message
    assert [r.side for r in rig.exchange.create_calls] == [Side.SELL, Side.BUY]
    assert not await rig.engine.is_paused()
