"""A plan's message after the decision: the plan's own lines stay, the outcome goes under them.

Expiry, Reject, Approve and the execution's result used to replace the plan's text ("⌛ Plan
52fd844f50 expired"), so the chat no longer showed what had been proposed; and the reject read
"rejected by telegram:518204377". Now the plan stays readable and the outcome says who did what
and when, in the owner's time zone. Pure: data in, (HTML text, buttons) out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.telegram.alerts import cash_lines, closed_view, refused_view, results_lines
from bot.telegram.callbacks import SNOOZE_HOURS, Action, encode
from bot.telegram.format import esc
from bot.telegram.views import View, plan_view, wrap_lines
from core.domain.moments import moment
from core.engine.approvals import Approval, ApprovalState, Decision
from core.engine.events import ApprovalClosed, ExecutionFailed, PlanExecuted
from core.engine.ports import SnoozedNow

Outcome = PlanExecuted | ExecutionFailed | ApprovalClosed


def who(by: str | None) -> str:
    """Who decided, in words: the owner's Telegram id is "you"."""
    if by is None or by.startswith("telegram:"):
        return "you"
    if by == "auto":
        return "Ballast (auto approval)"
    if by == "terminal":
        return "the terminal"
    return by


def decided_view(
    approval: Approval, outcome: Sequence[str], quote: str, zone: tzinfo = UTC,
    buttons: InlineKeyboardMarkup | None = None,
) -> View:
    """The plan's lines with `outcome` (HTML lines) in place of its expiry."""
    shown = plan_view(approval.plan, approval.id, approval.expires_at, quote,
                      with_buttons=False, zone=zone, outcome=outcome)
    return View(shown.text, buttons)


def outcome_lines(letter: Outcome, quote: str, zone: tzinfo = UTC) -> list[str]:
    """What became of a plan, for the bottom of its message."""
    at = moment(letter.at, zone)
    match letter:
        case PlanExecuted():
            part = any(r.filled < r.amount for r in letter.results)
            head = "◐ <b>Plan executed in part</b>" if part else "✅ <b>Plan executed</b>"
            return [head, f"at {esc(at)}", *results_lines(letter.results, quote),
                    *cash_lines(letter, quote)]
        case ExecutionFailed():
            return ["❌ <b>Plan failed</b>", f"at {esc(at)}", *wrap_lines(letter.reason),
                    *results_lines(letter.results, quote), *cash_lines(letter, quote)]
        case ApprovalClosed(state=ApprovalState.REJECTED):
            return rejected_lines(letter.by, letter.at, letter.snoozed_until, zone)
        case ApprovalClosed(state=ApprovalState.EXPIRED):
            return expired_lines(letter.at, zone)
        case ApprovalClosed():
            return [f"↪️ <b>Plan {esc(letter.state.value)}</b>", f"at {esc(at)}",
                    *wrap_lines(letter.reason)]


def rejected_lines(by: str | None, at: datetime, until: datetime | None,
                   zone: tzinfo = UTC) -> list[str]:
    """`🚫 Rejected by you at …` and until when its trades are snoozed."""
    lines = [f"🚫 <b>Plan rejected</b> by {esc(who(by))}", f"at {esc(moment(at, zone))}"]
    if until is not None:
        lines += wrap_lines(f"Snoozed until {moment(until, zone)}: these trades are not "
                            "proposed again before, unless the price, a band or the signal "
                            "changes.")
    return lines


def expired_lines(at: datetime, zone: tzinfo = UTC) -> list[str]:
    """`⌛ Plan expired at …`: nobody decided in time."""
    return ["⌛ <b>Plan expired</b>", f"at {esc(moment(at, zone))}; no decision came"]


def snooze_buttons(approval_id: str) -> InlineKeyboardMarkup:
    """Other snooze lengths for a rejected plan."""
    names = {4: "4 hours", 72: "3 days", 168: "1 week"}
    return InlineKeyboardMarkup([[
        InlineKeyboardButton(f"😴 {names.get(hours, f'{hours} h')}",
                             callback_data=encode(Action.SNOOZE, approval_id, hours))
        for hours in SNOOZE_HOURS
    ]])


def executing_lines(by: str, at: datetime, zone: tzinfo = UTC) -> list[str]:
    """Between the tap and the result."""
    return [f"⏳ <b>Plan approved</b> by {esc(who(by))}", f"at {esc(moment(at, zone))}",
            "Executing…"]


def snoozed_view(snoozed: Sequence[SnoozedNow], quote: str, zone: tzinfo = UTC) -> View:
    """/plan when every trade it would make was rejected: what waits, and until when."""
    lines = ["😴 <b>Nothing new to approve</b>", *wrap_lines(
        "You rejected these trades; they stay out of plans until:")]
    for note in snoozed:
        trade = note.trade
        lines.append(f"· {esc(trade.side.value.upper())} {esc(trade.asset)}")
        lines.append(f"  until {esc(moment(note.until, zone))}")
    lines += wrap_lines("Sooner if the price moves, a band is crossed or the signal changes.")
    return View("\n".join(lines))


def refusal_view(decision: Decision, approval: Approval | None, quote: str,
                 zone: tzinfo) -> View | None:
    """What a plan message should say after a tap that did not execute, or None to leave it:
    the plan's lines with why under them.

    Results and re-proposals arrive as events and edit the message themselves; an unknown id
    (a forged or foreign button) changes nothing.
    """
    state = decision.state
    if state is None:
        return None
    closed = state in (ApprovalState.EXPIRED, ApprovalState.REJECTED) or (
        state is ApprovalState.SUPERSEDED and decision.new_approval_id is None)
    if closed and approval is not None:
        if state is ApprovalState.REJECTED:
            lines = rejected_lines(approval.decided_by, approval.decided_at
                                   or approval.created_at, None, zone)
        elif state is ApprovalState.EXPIRED:
            lines = expired_lines(approval.expires_at, zone)
        else:
            lines = wrap_lines(sentence(decision.message))
        return decided_view(approval, lines, quote, zone)
    if closed:
        return closed_view(decision.approval_id, state.value, sentence(decision.message))
    if state is ApprovalState.PENDING:
        return refused_view(sentence(decision.message))
    return None


def sentence(text: str) -> str:
    """`text` as a sentence: capital first, full stop last."""
    text = text.strip()
    if not text:
        return text
    return text[0].upper() + text[1:] + ("" if text.endswith((".", "!", "?")) else ".")
