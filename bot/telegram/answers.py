"""Answers to what the bot cannot act on: an unknown command, plain text, a tap on a plan that
is already settled. Pure: records in, text out.

Silence reads as a broken bot; every such message gets a short reply naming what does work.
"""

from __future__ import annotations

from datetime import UTC, tzinfo

from bot.telegram.format import esc, fit
from bot.telegram.reports import COMMANDS
from bot.telegram.views import View
from core.domain.moments import moment
from core.engine.approvals import Approval, ApprovalState

# A command's name as shown back to the owner: enough to recognise a typo, never a wall.
SHOWN_COMMAND = 24


def unknown_view(text: str) -> View:
    """The reply to an unknown command or to plain text: what was not understood, and the
    commands that work."""
    word = text.strip().split()[0] if text.strip() else ""
    if word.startswith("/"):
        head = f"🤔 I don't know {esc(fit(word.split('@')[0], SHOWN_COMMAND))}."
    else:
        head = "🤔 I answer commands only."
    lines = [head, "<b>Commands</b>"]
    lines += [f"/{name} · {esc(about)}" for name, about in COMMANDS]
    return View("\n".join(lines))


def settled_tap(approval: Approval | None, zone: tzinfo = UTC) -> str | None:
    """The toast for a tap on a plan nobody can decide any more ("already executed at 14:32
    UTC"), or None when the plan still waits (or is unknown: the engine answers that)."""
    if approval is None:
        return None
    at = approval.finished_at or approval.decided_at
    since = f" at {moment(at, zone)}" if at is not None else ""
    match approval.state:
        case ApprovalState.DONE:
            return f"Plan {approval.id} was already executed{since}."
        case ApprovalState.FAILED:
            return f"Plan {approval.id} was already executed{since}, with failures."
        case ApprovalState.APPROVED | ApprovalState.EXECUTING:
            return f"Plan {approval.id} is being executed (approved{since})."
        case ApprovalState.REJECTED:
            return f"Plan {approval.id} was rejected{since}."
        case ApprovalState.EXPIRED:
            return f"Plan {approval.id} expired at {moment(approval.expires_at, zone)}."
        case ApprovalState.SUPERSEDED:
            newer = f" by plan {approval.replaced_by}" if approval.replaced_by else ""
            return f"Plan {approval.id} was replaced{newer}; tap the newest plan."
    return None
