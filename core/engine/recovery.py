"""Recovery: approvals a stopped (or crashed) Ballast left unfinished are settled, never re-run.

Run at start-up and again on every scan, so an exchange that was down at start-up is asked later.

* `approved` but not `executing`: Ballast stopped between the owner's tap and the first order
  row being claimed, so nothing was sent. The approval fails with that reason (its prices are
  stale by now); the next plan starts from the real balances.
* `executing`: every order is reconciled with the exchange by its client order id and the
  approval resumes (see `core.engine.execution` for when an unsent order may still go out).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from core.engine.approvals import ApprovalRepo, ApprovalState
from core.engine.events import EventBus, ExecutionFailed
from core.engine.execution import Executor
from core.engine.orders import OrderRepo, OrderState
from core.engine.outcomes import ExecutionReport


async def recover(
    approvals: ApprovalRepo,
    orders: OrderRepo,
    executor: Executor,
    bus: EventBus,
    now: datetime,
    grace: timedelta,
) -> list[ExecutionReport]:
    """Settle or resume every approval left `approved` or `executing`; report the resumed ones.

    An approval another runner decided less than `grace` ago is left alone: it may still be
    on its way from `approved` to `executing` in that runner.
    """
    for approval in await approvals.in_states(ApprovalState.APPROVED):
        decided = approval.decided_at or approval.created_at
        if executor.is_running(approval.id) or now - decided < grace:
            continue
        reason = "Ballast stopped after the approval and before sending any order"
        if await approvals.finish(
            approval.id, ApprovalState.FAILED, reason, now, from_state=ApprovalState.APPROVED
        ):
            for row in await orders.for_approval(approval.id):
                await orders.close(row.client_order_id, OrderState.NOT_SENT, reason, now)
            bus.publish(ExecutionFailed(now, approval.id, reason))
    reports = []
    for approval in await approvals.in_states(ApprovalState.EXECUTING):
        if executor.is_running(approval.id):
            continue
        reports.append(await executor.run(approval, now, resumed=True))
    return reports
