"""How an approval's execution stands, in the terms the events and the front-ends use: the
report of one pass, each order's result, which orders failed and how the plan ended, and how
far a price drifted."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from core.engine.approvals import ApprovalState
from core.engine.events import OrderResult
from core.engine.orders import OrderRow, OrderState


@dataclass(frozen=True, slots=True)
class ExecutionReport:
    """Where an approval's execution stands after one pass."""

    approval_id: str
    state: ApprovalState
    results: tuple[OrderResult, ...]
    finished: bool


def drift(planned: Decimal, current: Decimal) -> Decimal:
    """How far `current` moved from `planned`, as a fraction of `planned`."""
    if planned <= 0:
        return Decimal("Infinity")
    return abs(current - planned) / planned


def order_result(row: OrderRow) -> OrderResult:
    """The event view of an order row."""
    return OrderResult(
        client_order_id=row.client_order_id,
        asset=row.asset,
        side=row.side,
        amount=row.amount,
        state=row.state,
        filled=row.filled,
        average_price=row.average_price,
        fee=row.fee,
        fee_currency=row.fee_currency,
        detail=row.detail or "",
    )


def failures(rows: list[OrderRow]) -> list[OrderRow]:
    """Orders that ended without doing what the plan asked (or are stuck open with nothing
    filled)."""
    return [
        row
        for row in rows
        if row.state in (OrderState.REJECTED, OrderState.NOT_SENT)
        or (row.state in (OrderState.CANCELED, OrderState.EXPIRED, OrderState.OPEN)
            and row.filled == 0)
    ]


def ending(rows: list[OrderRow]) -> tuple[ApprovalState, str]:
    """How a plan whose orders are all final ended, and why in words: failed, naming each
    failed order, or done, counting the orders that filled."""
    failed = failures(rows)
    if failed:
        return ApprovalState.FAILED, "; ".join(
            f"{row.side.value} {row.asset}: {row.state.value}"
            + (f" ({row.detail})" if row.detail else "")
            for row in failed
        )
    return ApprovalState.DONE, (f"{sum(1 for row in rows if row.filled > 0)} of {len(rows)} "
                                "orders filled")
