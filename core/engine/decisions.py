"""The owner's decision on a proposed plan: approve (prices and balances checked again, then the
orders sent) or reject (its trades snoozed). The engine (`core.engine.loop`) calls these with
its planning lock held where a decision must not race a new plan."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Protocol

from core.config.settings import Settings
from core.domain.sanity import balance_changes
from core.engine.approvals import ApprovalRepo, ApprovalState, Decision
from core.engine.events import ApprovalClosed, EventBus, ExecutionFailed
from core.engine.execution import Executor
from core.engine.orders import OrderRepo
from core.engine.ports import Proposal, price_moves
from core.engine.scanning import ScanStep
from core.engine.snooze import Snoozes
from core.engine.summary import execution_message
from core.exchange.base import Exchange
from core.exchange.errors import ExchangeError
from core.policy.bands import bands
from core.runtime.logs import log_event

log = logging.getLogger("core.engine.loop")  # the engine's log lines keep their logger name


class Deciding(Protocol):
    """The parts of the engine a decision works with."""

    settings: Settings
    exchange: Exchange
    approvals: ApprovalRepo
    orders: OrderRepo
    executor: Executor
    scans: ScanStep
    snoozes: Snoozes
    bus: EventBus

    async def _propose(
        self, now: datetime, *, on_demand: bool, replaces: str | None, reason: str
    ) -> Proposal: ...


async def approve(engine: Deciding, approval_id: str, by: str, now: datetime) -> Decision:
    """Claim a pending plan once, check its prices and balances again, then execute it; a plan
    whose prices or balances moved is re-planned instead, and one that cannot be checked fails
    unsent. Called with the planning lock held (`Engine.approve`)."""
    decision = await engine.approvals.claim(approval_id, by, now)
    log_event(log, "approval", decision.message if not decision.ok
              else f"plan {approval_id} approved", approval=approval_id, by=by,
              ok=decision.ok)
    if not decision.ok:
        return decision
    approval = await engine.approvals.get(approval_id)
    if approval is None:  # claimed a moment ago: only a deleted database gets here
        return Decision(False, approval_id, None, f"there is no plan {approval_id!r}")
    quote = engine.settings.quote
    symbols = sorted({f"{t.asset}/{quote}" for t in approval.plan.trades})
    try:
        prices = await engine.exchange.fetch_prices(symbols)
    except ExchangeError as error:
        return await _unsent(engine, approval_id, f"could not re-check prices before "
                             f"executing: {error}", now)
    moved = price_moves(approval.plan, prices, quote, engine.settings.max_price_drift)
    if moved:
        return await _replan(engine, approval_id, "prices moved since the plan: "
                             + ", ".join(moved), now)
    if approval.balances is not None:
        try:
            balances = await engine.exchange.fetch_balances()
        except ExchangeError as error:
            return await _unsent(engine, approval_id, f"could not re-check balances before "
                                 f"executing: {error}", now)
        changed = balance_changes(approval.balances, balances)
        if changed:
            return await _replan(
                engine, approval_id, "balances changed since the plan (traded elsewhere?): "
                + ", ".join(changed), now)
    await engine.orders.add_planned(approval_id, approval.plan, quote, now)
    if not await engine.approvals.start_executing(approval_id, now):
        current = await engine.approvals.get(approval_id)
        state = current.state if current else None
        return Decision(False, approval_id, state, f"plan {approval_id} was interrupted "
                        f"before any order was sent ({state})")
    executing = await engine.approvals.get(approval_id)
    if executing is None:
        return Decision(False, approval_id, None, f"there is no plan {approval_id!r}")
    report = await engine.executor.run(executing, now, resumed=False)
    engine.scans.latest = None  # balances changed: the next look at the portfolio scans afresh
    return Decision(True, approval_id, report.state, execution_message(approval_id, report))


async def _unsent(engine: Deciding, approval_id: str, reason: str, now: datetime) -> Decision:
    await engine.approvals.finish(approval_id, ApprovalState.FAILED, reason, now,
                                  from_state=ApprovalState.APPROVED)
    engine.bus.publish(ExecutionFailed(now, approval_id, reason))
    return Decision(False, approval_id, ApprovalState.FAILED, f"nothing was sent: {reason}")


async def _replan(engine: Deciding, approval_id: str, reason: str, now: datetime) -> Decision:
    await engine.approvals.supersede_drifted(approval_id, now, reason, None)
    engine.bus.publish(ApprovalClosed(now, approval_id, ApprovalState.SUPERSEDED, reason))
    # Called with the planning lock held (from `approve`); a replacement is never auto-approved.
    proposal = await engine._propose(now, on_demand=True, replaces=approval_id, reason=reason)
    new = proposal.approval
    if new is None:
        return Decision(False, approval_id, ApprovalState.SUPERSEDED,
                        f"{reason}; re-planned: {proposal.message}")
    await engine.approvals.set_replaced_by(approval_id, new.id)
    return Decision(False, approval_id, ApprovalState.SUPERSEDED,
                    f"{reason}; re-planned as plan {new.id}", new_approval_id=new.id)


async def reject(engine: Deciding, approval_id: str, by: str, now: datetime) -> Decision:
    """Reject a pending plan (final); its trades are snoozed for `reject_snooze`."""
    decision = await engine.approvals.reject(approval_id, by, now)
    if decision.ok:
        until = now + timedelta(seconds=engine.settings.reject_snooze)
        approval = await engine.approvals.get(approval_id)
        if approval is not None:
            await engine.snoozes.snooze_plan(approval_id, approval.plan, engine.scans.latest,
                                             bands(engine.settings.policy), until)
        engine.bus.publish(ApprovalClosed(now, approval_id, ApprovalState.REJECTED,
                                          f"rejected by {by}", by=by, snoozed_until=until))
    return decision
