"""Engine events as structured log lines: one per plan, approval outcome, order, alert, error.

Kept apart from `core.runtime.logs` so that the engine itself can log through it without an
import cycle.
"""

from __future__ import annotations

import logging

from core.engine.events import (
    ApprovalClosed,
    CashBelowMinimum,
    Event,
    ExchangeRecovered,
    ExchangeTrouble,
    ExecutionFailed,
    PlanExecuted,
    PlanProposed,
    SignalChanged,
    Subscription,
    SuspectData,
    SuspectDataCleared,
    TradingPaused,
)
from core.engine.orders import OrderState
from core.runtime.logs import log_event

EVENTS_LOGGER = "ballast.events"
"""The logger engine events are written to (`ballast run` prints them in words instead)."""


def event_lines(event: Event) -> list[tuple[str, int, str, dict[str, object]]]:
    """The log lines for an engine event: (event name, level, message, fields) each."""
    match event:
        case SignalChanged():
            return [("signal", logging.INFO,
                     f"{event.asset} {event.previous.value} -> {event.current.value}",
                     {"asset": event.asset, "signal": event.current.value,
                      "previous": event.previous.value, "score": f"{event.score:+.2f}"})]
        case PlanProposed():
            trades = "; ".join(f"{t.side.value} {t.amount} {t.asset}" for t in event.plan.trades)
            return [("plan", logging.INFO, f"plan {event.approval_id} proposed",
                     {"approval": event.approval_id, "trades": trades, "auto": event.auto,
                      "expires": event.expires_at.isoformat(), "replaces": event.replaces,
                      "reason": event.reason})]
        case PlanExecuted() | ExecutionFailed():
            failed = isinstance(event, ExecutionFailed)
            lines: list[tuple[str, int, str, dict[str, object]]] = [
                ("order", logging.INFO if r.state is OrderState.FILLED else logging.WARNING,
                 f"{r.side.value} {r.filled}/{r.amount} {r.asset} {r.state.value}",
                 {"approval": event.approval_id, "client_order_id": r.client_order_id,
                  "asset": r.asset, "side": r.side.value, "amount": r.amount, "filled": r.filled,
                  "price": r.average_price, "fee": r.fee, "fee_currency": r.fee_currency,
                  "state": r.state.value, "detail": r.detail})
                for r in event.results
            ]
            reason = event.reason if isinstance(event, ExecutionFailed) else ""
            lines.append(("approval", logging.ERROR if failed else logging.INFO,
                          f"plan {event.approval_id} {'failed' if failed else 'done'}",
                          {"approval": event.approval_id,
                           "state": "failed" if failed else "done", "reason": reason}))
            return lines
        case ApprovalClosed():
            return [("approval", logging.INFO, f"plan {event.approval_id} {event.state}",
                     {"approval": event.approval_id, "state": event.state,
                      "reason": event.reason})]
        case CashBelowMinimum():
            return [("alert", logging.WARNING, "cash below the minimum",
                     {"cash": f"{event.cash_allocation:.4f}", "min_cash": event.min_cash})]
        case ExchangeTrouble():
            return [("error", logging.WARNING, "exchange trouble", {"error": event.message})]
        case ExchangeRecovered():
            return [("exchange", logging.INFO, "exchange answers again",
                     {"since": event.since.isoformat(), "failed_scans": event.failed_scans})]
        case SuspectData():
            return [("alert", logging.WARNING, "account data looks wrong; not planning",
                     {"problems": "; ".join(event.problems)})]
        case SuspectDataCleared():
            return [("alert", logging.INFO, "account data plausible again",
                     {"since": event.since.isoformat()})]
        case TradingPaused():
            return [("alert", logging.ERROR, "trading paused", {"reason": event.reason})]
    return []


async def log_events(subscription: Subscription,
                     logger: logging.Logger | None = None) -> None:
    """Log every event of `subscription` as structured lines (runs until cancelled)."""
    target = logger or logging.getLogger(EVENTS_LOGGER)
    async for event in subscription:
        for name, level, message, fields in event_lines(event):
            log_event(target, name, message, level, **fields)
