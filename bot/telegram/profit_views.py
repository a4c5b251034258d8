"""/profit: for today, 7 days, 30 days and since the start, the value change, the realised P&L
and the fees, beside what holding would have left (core.account.pnl). Pure."""

from __future__ import annotations

from datetime import UTC, tzinfo

from bot.telegram.format import esc, money, signed_money, signed_pct
from bot.telegram.views import View, wrap_lines
from core.account.pnl import PeriodProfit, Profit
from core.domain.moments import moment


def profit_view(profit: Profit, zone: tzinfo = UTC) -> View:
    """The periods one under another, three short lines each; times in `zone`."""
    quote = esc(profit.quote)
    lines = [f"💰 <b>Profit</b> · value {money(profit.value_now)} {quote}"]
    unknown = 0
    for period in profit.periods:
        lines.extend(_period(period, zone))
        unknown = max(unknown, period.unknown_sells)
    lines.extend(wrap_lines("vs holding: against keeping what you held when the period "
                            "began."))
    if unknown:
        sells = "1 sell" if unknown == 1 else f"{unknown} sells"
        lines.extend(wrap_lines(f"? {sells} of unknown cost (units from before the trade "
                                "history) left out of realised."))
    return View("\n".join(lines))


def _period(period: PeriodProfit, zone: tzinfo) -> list[str]:
    title = f"<b>{esc(period.name.capitalize())}</b>"
    if period.since is None:
        return [f"{title}: no record yet"]
    change = "value n/a"
    if period.value_change is not None:
        start = period.value_now - period.value_change
        share = f" ({signed_pct(period.value_change / start)})" if start > 0 else ""
        change = f"value {signed_money(period.value_change)}{share}"
    mark = "?" if period.unknown_sells else ""
    lines = [f"{title} · {change}", f"  realised {signed_money(period.realised)}{mark} · fees "
                                     f"{money(period.fees)}"]
    beside = period.beside_holding
    last = "  vs holding n/a (an asset is unpriced)" if beside is None else \
        f"  vs holding {signed_money(beside)}"
    lines.append(last)
    if period.name == "since start":
        lines.append(f"  from {moment(period.since, zone)}")
    return lines

