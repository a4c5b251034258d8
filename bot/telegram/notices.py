"""Notices about the running process itself: it started (and what the time away missed), it
stopped (and why). Pure: data in, (HTML text) out."""

from __future__ import annotations

from datetime import datetime, tzinfo

from bot.telegram.format import duration, esc, fit
from bot.telegram.views import View, wrap_lines
from core.config.settings import Settings
from core.domain.moments import moment, owner_zone
from core.ops.absence import Absence


def start_notice(settings: Settings, exchange: str, absence: Absence | None = None) -> View:
    """The start-up message: mode and exchange, so the owner knows what is running; after a
    stop, how long Ballast was away and what it missed."""
    # Paper mode names the exchange its prices come from, not the paper exchange itself.
    if settings.mode == "paper":
        where = ["Mode <b>paper</b>: simulated fills",
                 f"Prices from {esc(fit(settings.exchange, 20))}"]
    else:
        where = [f"Mode <b>{esc(settings.mode)}</b> on {esc(fit(exchange, 20))}"]
    lines = ["🟢 <b>Ballast is running</b>", *where, f"Approval {esc(settings.approval)}"]
    if absence is not None:
        zone = owner_zone(settings.timezone)
        lines.append(f"Away {duration(absence.away.total_seconds())}, since "
                     f"{esc(moment(absence.since, zone))}")
        lines += wrap_lines(f"It {absence.why}" if absence.why.startswith("did not")
                            else f"Stopped by {absence.why}")
        expired = len(absence.plans_expired)
        lines += wrap_lines(f"Missed: {absence.scans_missed} scans, {expired} plan"
                            f"{'' if expired == 1 else 's'} expired unanswered"
                            + (f" ({', '.join(absence.plans_expired)})" if expired else ""))
    return View("\n".join(lines))


def stopped_notice(why: str, at: datetime, zone: tzinfo) -> View:
    """The last message before Ballast stops: why, and that nothing runs until it is back."""
    return View("\n".join([
        "🔴 <b>Ballast stopped</b>",
        f"at {esc(moment(at, zone))}",
        *wrap_lines(f"Why: {why}"),
        *wrap_lines("No scans, plans or alerts until it starts again."),
    ]))
