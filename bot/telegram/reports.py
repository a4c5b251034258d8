"""Views of the engine's own records: /status, /history, /help. Pure: `now` is passed in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal

from bot.telegram.format import (
    LINE_WIDTH,
    amount,
    clock,
    duration,
    esc,
    fee,
    fit,
    money,
    price,
    signed_money,
    when,
)
from bot.telegram.views import View, wrap_lines
from core.domain.models import Side
from core.engine.approvals import Approval
from core.engine.orders import OrderRow
from core.engine.service import History, Status

COMMANDS: tuple[tuple[str, str], ...] = (
    ("start", "Welcome and what Ballast does"),
    ("portfolio", "Holdings, cash and limits"),
    ("plan", "Make a plan now and propose it"),
    ("signals", "Each asset's signal and votes"),
    ("profit", "Profit and loss beside holding"),
    ("history", "Recent trades and plans"),
    ("chart", "Allocation or value chart"),
    ("status", "Mode, exchange, scans, trouble"),
    ("pause", "Stop proposing plans"),
    ("resume", "Propose plans again"),
    ("settings", "View or change a setting"),
    ("help", "What Ballast can do"),
)


def help_view(mode: str, greeting: bool = False) -> View:
    """The command list; with a greeting for /start."""
    lines = []
    if greeting:
        lines += ["👋 <b>Ballast</b> keeps your cash reserve", "and proposes trades; nothing is",
                  "traded until you tap Approve.", f"Mode: <b>{esc(mode)}</b>", ""]
    lines.append("<b>Commands</b>")
    lines += [f"/{name} · {esc(text)}" for name, text in COMMANDS]
    return View("\n".join(lines))


def status_view(status: Status, now: datetime) -> View:
    """Mode, exchange, pause state, last scan, next plan, trouble and open approvals."""
    approval = "auto" if status.auto_approval else status.approval
    lines = [
        "🩺 <b>Status</b>",
        f"Mode <b>{esc(status.mode)}</b> · {esc(fit(status.exchange, 16))}",
        f"Approval {esc(approval)}",
        "Proposing: ⏸ <b>paused</b>" if status.paused else "Proposing: on",
        f"Last scan {_ago(status.last_scan, now)}",
        "Next plan " + (clock(status.next_plan) if status.next_plan else "at the next scan"),
    ]
    if status.exchange_ok:
        lines.append("Exchange ✅ answering")
    else:
        since = clock(status.trouble_since) if status.trouble_since else "?"
        lines.append(f"Exchange ⚠️ trouble since {since}")
        if status.last_error:
            lines += wrap_lines(status.last_error, indent="  ", limit=4)
    if status.on_hold_since is not None:
        lines.append(f"Planning ⏸ <b>on hold</b> since {clock(status.on_hold_since)}")
        lines.append("  the account data looks wrong:")
        for problem in status.on_hold_because:
            lines += wrap_lines(problem, indent="  ", limit=2)
    for approval_row in status.executing:
        lines.append(f"Executing plan {esc(approval_row.id)}")
    for approval_row in status.pending:
        lines.append(f"Waiting: plan {esc(approval_row.id)}")
        lines.append(f"  expires {clock(approval_row.expires_at)}")
    return View("\n".join(lines))


def _ago(at: datetime | None, now: datetime) -> str:
    if at is None:
        return "not yet"
    return f"{clock(at)} ({duration(max((now - at).total_seconds(), 0))} ago)"


def history_view(history: History, trades: int = 10, plans: int = 8) -> View:
    """Recent fills (amount, average price, fee) and what became of recent plans."""
    lines = ["📜 <b>History</b>"]
    if history.trades:
        lines.append("<b>Trades</b>")
        rows: list[str] = []
        for row in history.trades[:trades]:
            rows.extend(_trade_rows(row, history.realised))
        lines.append("<pre>" + "\n".join(esc(r) for r in rows) + "</pre>")
    else:
        lines.append("No trades yet.")
    if history.approvals:
        lines.append("<b>Plans</b>")
        lines += _plan_rows(history.approvals[:plans])
    return View("\n".join(lines))


def _trade_rows(row: OrderRow, realised: Mapping[str, Decimal | None]) -> list[str]:
    """A fill: when, side and asset; amount at price and fee; its value and, for a sell, the
    realised P&L at average cost ("?" when the cost is unknown)."""
    head = f"{when(row.updated_at)} {row.side.value.upper()} {fit(row.asset, 12)}"
    at_price = f" @ {price(row.average_price)}" if row.average_price is not None else ""
    paid = f"fee {fee(row.fee)} {fit(row.fee_currency or '', 6)}".rstrip()
    detail = f"  {amount(row.filled)}{at_price}"
    value = f"  value {money(row.cost)}"
    if row.side is Side.SELL and row.client_order_id in realised:
        result = realised[row.client_order_id]
        value += f" · P&L {signed_money(result) if result is not None else '?'}"
    if len(detail) + len(paid) + 3 <= LINE_WIDTH:
        return [head, f"{detail} · {paid}", value]
    return [head, detail, f"  {paid}", value]


def _plan_rows(approvals: Sequence[Approval]) -> list[str]:
    lines = []
    for approval_row in approvals:
        lines.append(f"{when(approval_row.created_at)} <code>{esc(fit(approval_row.id, 12))}"
                     f"</code> {esc(approval_row.state.value)}")
    return lines
