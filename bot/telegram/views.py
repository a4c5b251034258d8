"""What the owner reads: core data in, (HTML text, buttons) out. Pure: no I/O, no clock.

Phone-first: tables sit in `<pre>` blocks whose lines never exceed `LINE_WIDTH` characters,
figures are rounded for reading, and every piece of dynamic text is escaped.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from decimal import Decimal

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.telegram.callbacks import Action, encode
from bot.telegram.format import (
    LINE_WIDTH,
    amount,
    esc,
    fit,
    money,
    pct,
    price,
    signed_money,
    signed_pct,
)
from core.account.pnl import unrealised
from core.config.rules import PolicySettings, SignalSettings
from core.domain.models import (
    AssetSignal,
    Holding,
    Plan,
    PlannedTrade,
    Portfolio,
    PositionFacts,
    SignalKind,
    SkippedTrade,
)
from core.domain.moments import moment
from core.policy.bands import CashLevel, bands, cash_level
from core.policy.words import share_sold, skipped_text, skips_worth_saying, trade_why
from core.signals.words import contradicts_score, explain, vote_text

ASSET_WIDTH = 7
VALUE_WIDTH = 12
# Skipped trades listed under a plan; more are counted, not listed.
SKIPPED_SHOWN = 5

SIGNAL_MARKS = {
    SignalKind.STRONG_BUY: "⏫",
    SignalKind.BUY: "🔼",
    SignalKind.HOLD: "⏸",
    SignalKind.SELL: "🔽",
}


@dataclass(frozen=True, slots=True)
class View:
    """A message ready to send: HTML text and optional inline buttons."""

    text: str
    buttons: InlineKeyboardMarkup | None = None


def portfolio_view(
    portfolio: Portfolio,
    signals: Mapping[str, AssetSignal],
    facts: Mapping[str, PositionFacts],
    limits: PolicySettings,
    timeframe: str | None = None,
) -> View:
    """The holdings table (docs/approval.md): qty, value, allocation against the limits, signal,
    P&L; `timeframe`: the candles the signals were read on."""
    quote = esc(portfolio.quote)
    lines = [
        f"💼 <b>Portfolio</b> · {money(portfolio.total_value)} {quote}",
        _cash_line(portfolio.cash_value, portfolio.cash_allocation, quote),
    ]
    band = _cash_band_note(portfolio.cash_allocation, limits)
    if band:
        lines.append(band)
    ranked = sorted(
        (h for h in portfolio.holdings.values() if not h.dust),
        key=lambda h: (-h.value, h.asset),
    )
    if ranked:
        rows = [f"{'Asset':<{ASSET_WIDTH}}{'Value':>{VALUE_WIDTH}} {'Alloc':>6} Signal"]
        for holding in ranked:
            rows.extend(_holding_rows(holding, signals.get(holding.asset),
                                      facts.get(holding.asset), limits))
        lines.append("<pre>" + "\n".join(esc(row) for row in rows) + "</pre>")
    else:
        lines.append("No holdings besides cash.")
    lines.extend(_pnl_lines(portfolio, facts, quote))
    lines.append(f"Limits {pct(limits.min_position, 0)[:-1]}–{pct(limits.max_position, 0)} "
                 "per asset · ▲ over ▼ under")
    if timeframe is not None:
        lines.append(f"Signals on {esc(timeframe)} candles")
    if portfolio.dust:
        lines.extend(wrap_lines("Dust: " + ", ".join(portfolio.dust)))
    if portfolio.unpriced:
        lines.extend(wrap_lines("⚠ Unpriced: " + ", ".join(portfolio.unpriced)))
    buttons = InlineKeyboardMarkup([[
        InlineKeyboardButton("📊 Allocation", callback_data=encode(Action.CHART_ALLOCATION)),
        InlineKeyboardButton("📈 Value", callback_data=encode(Action.CHART_VALUE)),
    ]])
    return View("\n".join(lines), buttons)


def _cash_line(value: Decimal, allocation: Decimal, quote: str) -> str:
    return f"Cash <b>{money(value)}</b> {quote} · {pct(allocation)}"


def _cash_band_note(allocation: Decimal, limits: PolicySettings) -> str:
    """What the policy will do about cash at this level (`core.policy.bands`), if anything."""
    levels = bands(limits)
    match cash_level(allocation, levels):
        case CashLevel.RAISED_NEXT if levels.raises_cash:
            return (f"⚠ Under {pct(levels.raise_cash_below, 0)}: next plan sells to "
                    f"{pct(levels.min_cash, 0)}")
        case CashLevel.RAISED_NEXT:
            return f"⚠ Cash under {pct(levels.raise_cash_below, 0)} (reserve not kept)"
        case CashLevel.ABOVE_MAX:
            return f"Cash over {pct(levels.max_cash, 0)}: buy signals may spend it"
    return ""


def _holding_rows(
    holding: Holding,
    signal: AssetSignal | None,
    fact: PositionFacts | None,
    limits: PolicySettings,
) -> list[str]:
    mark = " "
    if holding.allocation > limits.max_position:
        mark = "▲"
    elif holding.allocation < limits.min_position:
        mark = "▼"
    kind = signal.signal.value if signal is not None else "—"
    first = (f"{fit(holding.asset, ASSET_WIDTH - 1):<{ASSET_WIDTH}}"
             f"{money(holding.value):>{VALUE_WIDTH}} {mark}{pct(holding.allocation):>5} {kind}")
    details = [f"{amount(holding.amount)} @ {price(holding.price)}"]
    if holding.locked:
        details.append(f"{amount(holding.locked)} locked")
    pnl = unrealised(holding, fact)
    if pnl is not None and fact is not None and fact.cost_basis is not None:
        change = (holding.price - fact.cost_basis) / fact.cost_basis
        details.append(f"cost {price(fact.cost_basis)}")
        details.append(f"P&L {signed_money(pnl)} ({signed_pct(change)})")
    else:
        details.append("cost ?")
    return [first, *_packed(details, indent="  ")]


def _pnl_lines(portfolio: Portfolio, facts: Mapping[str, PositionFacts], quote: str) -> list[str]:
    """The unrealised P&L over the holdings whose cost is known, and once why some are not."""
    held = [h for h in portfolio.holdings.values() if not h.dust]
    known = [p for p in (unrealised(h, facts.get(h.asset)) for h in held) if p is not None]
    lines = []
    if known:
        lines.append(f"Unrealised P&amp;L <b>{signed_money(sum(known, Decimal(0)))}</b> {quote}"
                     + ("" if len(known) == len(held) else f" on {len(known)} of {len(held)}"))
    if len(known) < len(held):
        lines.extend(wrap_lines("cost ?: unknown, as the trade history does not explain the "
                                "holding (a deposit, a transfer or trades before it)"))
    return lines


def plan_view(
    plan: Plan,
    approval_id: str,
    expires_at: datetime,
    quote: str,
    *,
    note: str = "",
    with_buttons: bool = True,
    zone: tzinfo = UTC,
    outcome: Sequence[str] = (),
) -> View:
    """A proposed plan: each trade with reasons, value and fee; cash before → after; expiry
    (in `zone`). Once decided, `outcome` (HTML lines) replaces the expiry and the buttons."""
    lines = [f"📝 <b>Plan {esc(fit(approval_id, 30))}</b>"]
    if note:
        lines.extend(wrap_lines(note))
    lines.extend(_plan_body(plan, quote))
    if outcome:
        lines.extend(outcome)
    else:
        lines.append(f"⏳ Expires {moment(expires_at, zone)}")
    buttons = None
    if with_buttons and plan.trades and not outcome:
        buttons = InlineKeyboardMarkup([[
            InlineKeyboardButton("✅ Approve", callback_data=encode(Action.APPROVE, approval_id)),
            InlineKeyboardButton("❌ Reject", callback_data=encode(Action.REJECT, approval_id)),
        ]])
    return View("\n".join(lines), buttons)


def empty_plan_view(plan: Plan, quote: str) -> View:
    """A plan with no trades: nothing to approve, but the skipped trades say why."""
    lines = ["✅ <b>Nothing to do</b>: the portfolio is within its limits.",
             _cash_line(plan.total_value * plan.before.get("cash", Decimal(0)),
                        plan.before.get("cash", Decimal(0)), esc(quote))]
    lines.extend(_skipped_lines(plan.skipped))
    return View("\n".join(lines))


def _plan_body(plan: Plan, quote: str) -> list[str]:
    cash_before = plan.before.get("cash", Decimal(0))
    cash_after = plan.after.get("cash", Decimal(0))
    lines = [
        f"Cash {money(plan.cash_before)} → <b>{money(plan.cash_after)}</b> {esc(quote)}",
        f"     {pct(cash_before)} → <b>{pct(cash_after)}</b> of {money(plan.total_value)}",
    ]
    for number, trade in enumerate(plan.trades, start=1):
        lines.extend(_trade_lines(number, trade, quote, share_sold(plan, trade)))
    lines.extend(_skipped_lines(skips_worth_saying(plan)))
    return lines


def _trade_lines(
    number: int, trade: PlannedTrade, quote: str, share: Decimal | None
) -> list[str]:
    """A trade: side, amount and unit price; the share of the holding a sell takes; value and
    fee; why, in words (core.policy.words), and for a buy why this asset."""
    side = trade.side.value.upper()
    what = f"{number}. {side} {amount(trade.amount)} {fit(trade.asset, 10)}"
    at = f"@ {price(trade.price)}"
    parts = [f"≈ {money(trade.value)} {quote}", f"fee {money(trade.fee)}"]
    if share is not None:
        parts.insert(0, "all of the holding" if share >= 1 else f"{pct(share, 0)} of the holding")
    if len(what) + 1 + len(at) <= LINE_WIDTH:
        head = f"<b>{esc(what)}</b> {at}"
    else:
        head = f"<b>{esc(what)}</b>"
        parts.insert(0, at)
    return [head, *(esc(line) for line in _packed(parts, "   ")),
            *wrap_lines(f"Why: {trade_why(trade)}", indent="   ")]


def _skipped_lines(skipped: Iterable[SkippedTrade]) -> list[str]:
    items = [skipped_text(s) for s in skipped]
    if not items:
        return []
    lines = ["Not done:"]
    for item in items[:SKIPPED_SHOWN]:
        lines.extend(wrap_lines(f"• {item}", indent=""))
    if len(items) > SKIPPED_SHOWN:
        lines.append(f"• … and {len(items) - SKIPPED_SHOWN} more")
    return lines


def signals_view(
    signals: Mapping[str, AssetSignal], timeframe: str, rules: SignalSettings | None = None
) -> View:
    """Every asset's signal with each strategy's vote and its reason; a label the score does
    not explain (SELL at +0.00) with the rule that decided it."""
    lines = [f"📡 <b>Signals</b> · {esc(timeframe)} candles"]
    if not signals:
        lines.extend(wrap_lines("No signals yet: the first scan has not finished."))
    order = sorted(signals.values(), key=lambda s: (s.score, s.asset))
    for signal in order:
        mark = SIGNAL_MARKS.get(signal.signal, "")
        lines.append(f"{mark} <b>{esc(fit(signal.asset, 12))}</b> {signal.signal.value} · "
                     f"score {signal.score:+.2f}")
        if rules is not None and contradicts_score(signal):
            lines.extend(wrap_lines(explain(signal, rules), indent="   "))
        for vote in signal.votes:
            lines.extend(wrap_lines(vote_text(vote), indent="   "))
    return View("\n".join(lines))


def notice_view(text: str) -> View:
    """A one-off plain notice (escaped, wrapped)."""
    return View("\n".join(wrap_lines(text)))


def wrap_lines(text: str, indent: str = "", limit: int | None = None) -> list[str]:
    """`text` as escaped lines of at most LINE_WIDTH visible characters (at most `limit`)."""
    lines = textwrap.wrap(text, width=LINE_WIDTH, initial_indent=indent,
                          subsequent_indent=indent or "  ", break_long_words=True,
                          break_on_hyphens=False) or [""]
    if limit is not None and len(lines) > limit:
        lines = [*lines[: limit - 1], f"{indent}… and more"]
    return [esc(line) for line in lines]


def _packed(parts: list[str], indent: str) -> list[str]:
    """Join parts with ' · ' onto as few lines of LINE_WIDTH as they fit (not yet escaped)."""
    lines: list[str] = []
    current = ""
    for part in parts:
        candidate = f"{current} · {part}" if current else indent + part
        if current and len(candidate) > LINE_WIDTH:
            lines.append(current)
            candidate = indent + part
        current = fit(candidate, LINE_WIDTH)
    if current:
        lines.append(current)
    return lines
