"""Views of the engine's own records: /status, /history, /help. Pure: `now` is passed in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from decimal import Decimal

from bot.telegram.format import (
    LINE_WIDTH,
    amount,
    duration,
    esc,
    fee,
    fit,
    money,
    price,
    signed_money,
)
from bot.telegram.views import View, wrap_lines
from core.domain.models import Side
from core.domain.moments import moment
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


def status_view(status: Status, now: datetime, zone: tzinfo = UTC) -> View:
    """Mode, exchange, pause state, last scan, next plan, trouble and open approvals; times in
    `zone`."""
    approval = "auto" if status.auto_approval else status.approval
    lines = [
        "🩺 <b>Status</b>",
        f"Mode <b>{esc(status.mode)}</b> · {esc(fit(status.exchange, 16))}",
        f"Approval {esc(approval)}",
        "Proposing: ⏸ <b>paused</b>" if status.paused else "Proposing: on",
        f"Last scan {_ago(status.last_scan, now, zone)}",
        "Next plan " + (moment(status.next_plan, zone) if status.next_plan else "at the next scan"),
    ]
    if status.cash_reason:
        lines += wrap_lines(status.cash_reason, limit=2)
    if status.exchange_ok:
        lines.append("Exchange ✅ answering")
    else:
        since = moment(status.trouble_since, zone) if status.trouble_since else "?"
        lines.append(f"Exchange ⚠️ down since {since}")
        if status.last_error:
            lines += wrap_lines(status.last_error, indent="  ", limit=4)
    if status.on_hold_since is not None:
        lines.append(f"Planning ⏸ <b>on hold</b> since {moment(status.on_hold_since, zone)}")
        lines.append("  the account data looks wrong:")
        for problem in status.on_hold_because:
            lines += wrap_lines(problem, indent="  ", limit=2)
    if status.left_out:
        lines.append("Left out of planning (never traded):")
        for note in status.left_out:
            lines += wrap_lines(note, indent="  ", limit=2)
    for approval_row in status.executing:
        lines.append(f"Executing plan {esc(approval_row.id)}")
    for approval_row in status.pending:
        lines.append(f"Waiting: plan {esc(approval_row.id)}")
        lines.append(f"  expires {moment(approval_row.expires_at, zone)}")
    return View("\n".join(lines))


def _ago(at: datetime | None, now: datetime, zone: tzinfo) -> str:
    if at is None:
        return "not yet"
    return f"{moment(at, zone)} ({duration(max((now - at).total_seconds(), 0))} ago)"


def history_view(history: History, trades: int = 10, plans: int = 8,
                 zone: tzinfo = UTC) -> View:
    """Recent fills (amount, average price, fee) and what became of recent plans; times in
    `zone`."""
    lines = ["📜 <b>History</b>"]
    if history.trades:
        lines.append("<b>Trades</b>")
        rows: list[str] = []
        for row in history.trades[:trades]:
            rows.extend(_trade_rows(row, history.realised, zone))
        lines.append("<pre>" + "\n".join(esc(r) for r in rows) + "</pre>")
    else:
        lines.append("No trades yet.")
    if history.approvals:
        lines.append("<b>Plans</b>")
        lines += _plan_rows(history.approvals[:plans], zone)
    return View("\n".join(lines))


def _trade_rows(row: OrderRow, realised: Mapping[str, Decimal | None],
                zone: tzinfo) -> list[str]:
    """A fill: when, side and asset; amount at price and fee; its value and, for a sell, the
    realised P&L at average cost ("?" when the cost is unknown)."""
    head = f"{moment(row.updated_at, zone)} {row.side.value.upper()} {fit(row.asset, 12)}"
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


def _plan_rows(approvals: Sequence[Approval], zone: tzinfo) -> list[str]:
    lines = []
    for approval_row in approvals:
        lines.append(f"{moment(approval_row.created_at, zone)} "
                     f"<code>{esc(fit(approval_row.id, 12))}</code> "
                     f"{esc(approval_row.state.value)}")
    return lines
