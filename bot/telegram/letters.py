"""Messages for what the outbox carries besides engine events: the daily summary and the scan
watchdog's alerts. Pure: data in, (HTML text) out."""

from __future__ import annotations

from datetime import UTC, tzinfo

from bot.telegram.alerts import alert_view
from bot.telegram.format import amount, esc, fit, money, pct, signed_money, signed_pct
from bot.telegram.views import ASSET_WIDTH, VALUE_WIDTH, View, wrap_lines
from core.domain.moments import moment
from core.ops.backup import BackupsResumed, BackupTrouble
from core.ops.outbox import Letter
from core.ops.summary import DailySummary
from core.ops.watchdog import ScansFailing, ScansResumed

SUMMARY_HOLDINGS = 12
SUMMARY_TRADES = 8


def letter_view(letter: Letter, quote: str, zone: tzinfo = UTC) -> View | None:
    """The message for anything the outbox delivers, or None when it needs none; times in
    `zone`."""
    match letter:
        case DailySummary():
            return summary_view(letter, zone)
        case ScansFailing():
            lines = ["⛔ <b>Scans are failing</b>",
                     f"Last good scan {moment(letter.since, zone)}."]
            if letter.error:
                lines += wrap_lines(letter.error, limit=4)
            return View("\n".join(lines))
        case ScansResumed():
            return View("✅ <b>Scans work again</b>\n"
                        f"Failing since {moment(letter.since, zone)}.")
        case BackupTrouble():
            return View("\n".join(["💾 <b>Backups need attention</b>",
                                   *wrap_lines(letter.problem, limit=12)]))
        case BackupsResumed():
            return View("✅ <b>Backups work again</b>\n"
                        f"Failing since {moment(letter.since, zone)}.")
    return alert_view(letter, quote, zone)


def summary_view(summary: DailySummary, zone: tzinfo = UTC) -> View:
    """The day in a few lines: value and change, cash, holdings, trades and fees, signals,
    and what needs attention; times in `zone`."""
    quote = esc(summary.quote)
    local = summary.at.astimezone(zone)
    lines = [f"📅 <b>Daily summary</b> · {local.day} {local:%b %Y}"]
    if summary.total_value is not None:
        lines.append(f"Value <b>{money(summary.total_value)}</b> {quote}")
        change, fraction = summary.change, summary.change_fraction
        if change is not None and fraction is not None and summary.value_since is not None:
            lines.append(f"  {signed_money(change)} ({signed_pct(fraction)}) since")
            lines.append(f"  {moment(summary.value_since, zone)}")
    if summary.cash_value is not None and summary.cash_allocation is not None:
        lines.append(f"Cash {money(summary.cash_value)} · {pct(summary.cash_allocation)}")
    if summary.cash_reason:
        lines += wrap_lines(summary.cash_reason, limit=2)
    if summary.holdings:
        rows = [f"{fit(h.asset, ASSET_WIDTH - 1):<{ASSET_WIDTH}}{money(h.value):>{VALUE_WIDTH}}"
                f" {pct(h.allocation):>6} {h.signal.value if h.signal else '—'}"
                for h in summary.holdings[:SUMMARY_HOLDINGS]]
        lines.append("<pre>" + "\n".join(esc(row) for row in rows) + "</pre>")
    if summary.trades:
        lines.append(f"<b>Trades</b> {len(summary.trades)} · fees {money(summary.fees)} {quote}")
        for trade in summary.trades[:SUMMARY_TRADES]:
            lines.append(esc(fit(f"  {trade.side.upper()} {amount(trade.amount)} "
                                 f"{trade.asset} ≈ {money(trade.value)}", 40)))
    else:
        lines.append("No trades today.")
    if summary.realised is not None and summary.beside_holding is not None:
        mark = "?" if summary.unknown_sells else ""
        lines.append(f"Realised {signed_money(summary.realised)}{mark} · vs holding "
                     f"{signed_money(summary.beside_holding)}")
        if summary.unknown_sells:
            lines += wrap_lines("? a sell of units from before the trade history: its cost is "
                                "unknown, so it is left out")
    if summary.signals:
        named = ", ".join(f"{s.asset} {s.signal.value}" for s in summary.signals)
        lines += wrap_lines(f"Signals: {named} (+{summary.holds} HOLD)", limit=4)
    if summary.signal_changes:
        lines += wrap_lines("Signal changes: " + ", ".join(summary.signal_changes), limit=4)
    if summary.attention:
        lines.append("⚠️ <b>Needs attention</b>")
        for note in summary.attention:
            lines += wrap_lines(f"· {note}", indent="", limit=3)
    return View("\n".join(lines))
