"""Push alerts: which engine events become messages, and how they read. Pure: no I/O, no clock.

The engine already emits most events once per change; `AlertFilter` makes the bot's side
idempotent too (an event delivered twice, a signal that flaps back to what was last said). How
loud each is comes from `core.ops.alert_levels`. Time comes from the events themselves, shown in
the owner's zone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, tzinfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.telegram.callbacks import Action, encode
from bot.telegram.format import amount, esc, fee, fit, money, pct, price
from bot.telegram.views import SIGNAL_MARKS, View, plan_view, wrap_lines
from core.domain.moments import moment
from core.engine.events import (
    ApprovalClosed,
    CashBelowMinimum,
    Event,
    ExchangeRecovered,
    ExchangeTrouble,
    ExecutionFailed,
    OrderResult,
    PlanExecuted,
    PlanProposed,
    SignalChanged,
    SuspectData,
    SuspectDataCleared,
    TradingPaused,
)
from core.engine.orders import OrderState
from core.engine.service import AccountConfirmed
from core.ops.outbox import Letter
from core.ops.summary import DailySummary
from core.ops.watchdog import ScansFailing, ScansResumed


class AlertFilter:
    """Says once what is new: repeated or already-announced events are let through only once.

    Keys and what counts as new:
    - a holding's signal: announced when it differs from the last one announced for it;
    - a plan, its result, its closing: once per approval;
    - cash below minimum: once, then again only after `repeat_after` if it recurs;
    - exchange trouble / recovery: only when the state flips.
    """

    def __init__(self, repeat_after: timedelta = timedelta(hours=12)) -> None:
        self._repeat_after = repeat_after
        self._last: dict[tuple[str, ...], tuple[object, datetime]] = {}

    def admit(self, letter: Letter) -> bool:
        """Whether `letter` should produce a message now (and count it as said if so)."""
        if not self.is_new(letter):
            return False
        self.remember(letter)
        return True

    def is_new(self, letter: Letter) -> bool:
        """Whether `letter` was not already said (changes nothing)."""
        key, value, window = self._identity(letter)
        previous = self._last.get(key)
        return not (previous is not None and previous[0] == value and (
            window is None or letter.at - previous[1] < window
        ))

    def remember(self, letter: Letter) -> None:
        """Count `letter` as said (call once its message went out, so a failed send is retried)."""
        key, value, _ = self._identity(letter)
        self._last[key] = (value, letter.at)

    def _identity(self, event: Letter) -> tuple[tuple[str, ...], object, timedelta | None]:
        match event:
            case SignalChanged(asset=asset, current=current):
                return ("signal", asset), current, None
            case PlanProposed(approval_id=approval_id):
                return ("plan", approval_id), True, None
            case PlanExecuted(approval_id=approval_id) | ExecutionFailed(approval_id=approval_id):
                return ("result", approval_id), True, None
            case ApprovalClosed(approval_id=approval_id):
                return ("closed", approval_id), True, None
            case CashBelowMinimum():
                return ("cash",), True, self._repeat_after
            case ExchangeTrouble():
                return ("exchange",), "down", None
            case ExchangeRecovered():
                return ("exchange",), "up", None
            case SuspectData():
                return ("data",), "suspect", None
            case SuspectDataCleared():
                return ("data",), "sane", None
            case TradingPaused(at=at):
                return ("paused",), at, None
            case ScansFailing():
                return ("scans",), "down", None
            case ScansResumed():
                return ("scans",), "up", None
            case DailySummary(at=at):
                return ("summary",), at.date(), None
        return ("other", type(event).__name__), event, None


def alert_view(event: Event, quote: str, zone: tzinfo = UTC) -> View | None:
    """The message for an event, or None when it needs no message of its own; times in `zone`."""
    match event:
        case SignalChanged():
            return _signal_changed(event)
        case PlanProposed():
            return proposed_view(event, quote, zone)
        case PlanExecuted():
            if any(r.filled < r.amount for r in event.results):
                # Some order ended part-filled (price limit, order_timeout): say so up front.
                return with_cash(outcome_view(event.approval_id, "◐", "executed in part",
                                              event.results, quote), event, quote)
            return with_cash(outcome_view(event.approval_id, "✅", "executed", event.results,
                                          quote), event, quote)
        case ExecutionFailed():
            return with_cash(outcome_view(event.approval_id, "❌", "failed", event.results,
                                          quote, reason=event.reason), event, quote)
        case ApprovalClosed():
            return closed_view(event.approval_id, event.state, event.reason)
        case CashBelowMinimum():
            return View("\n".join(wrap_lines(cash_low_words(event))))
        case ExchangeTrouble():
            return View("\n".join(["🔌 <b>Exchange trouble</b>",
                                   *wrap_lines(event.message),
                                   "Ballast keeps retrying."]))
        case ExchangeRecovered():
            return View("\n".join([
                "🔌 <b>Exchange back</b>",
                f"Down since {moment(event.since, zone)}",
                f"{event.failed_scans} scan(s) missed.",
            ]))
        case SuspectData():
            return View("\n".join([
                "🛑 <b>Not planning</b>",
                "The account data looks wrong:",
                *(line for problem in event.problems for line in wrap_lines(f"· {problem}")),
                *wrap_lines("Nothing is traded until it looks right again. If these figures "
                            "are right (a deposit, a withdrawal, a trade of yours), tap ✅."),
            ]), InlineKeyboardMarkup([[InlineKeyboardButton(
                "✅ These figures are right", callback_data=encode(Action.CONFIRM_ACCOUNT))]]))
        case SuspectDataCleared():
            return View("\n".join(["✅ <b>Account data looks right again</b>",
                                   f"Planning resumes (held since {moment(event.since, zone)})."]))
        case TradingPaused():
            return View("\n".join([
                "⏸ <b>Trading paused</b>",
                *wrap_lines(event.reason),
                *wrap_lines("Stop the other bot, check the account, then /resume."),
            ]))
    return None


def confirmed_view(confirmed: AccountConfirmed) -> View:
    """The answer to ✅ on the safety alert: planning resumes, or what still looks wrong."""
    if not confirmed.answered:
        return View("\n".join(["⚠️ <b>Nothing confirmed</b>",
                               *(line for p in confirmed.still_wrong for line in wrap_lines(p))]))
    if not confirmed.still_wrong:
        return View("✅ <b>Confirmed</b>\nThese balances and prices are Ballast's reference now; "
                    "planning resumes.")
    return View("\n".join([
        "✅ <b>Balances confirmed</b>", "Still not planning:",
        *(line for problem in confirmed.still_wrong for line in wrap_lines(f"· {problem}")),
    ]))


def cash_low_words(event: CashBelowMinimum) -> str:
    """The cash alert in the policy's own levels (`core.policy.bands`): it promises a plan
    only when the policy will make one."""
    share = pct(event.cash_allocation)
    if event.raise_below is None:
        return f"⚠️ Cash {share} is below the {pct(event.min_cash, 0)} minimum."
    level = (f"⚠️ Cash {share} is below {pct(event.raise_below, 0)} (the "
             f"{pct(event.min_cash, 0)} minimum less its band).")
    if event.raises:
        return f"{level} The next plan will sell to bring cash back to {pct(event.min_cash, 0)}."
    return f"{level} maintain_reserve is off: no plan raises cash."


def _signal_changed(event: SignalChanged) -> View:
    mark = SIGNAL_MARKS.get(event.current, "")
    lines = [
        f"{mark} <b>{esc(fit(event.asset, 12))}</b> {event.previous.value} → "
        f"<b>{event.current.value}</b>",
        f"score {event.score:+.2f}",
    ]
    if event.why:
        lines.extend(wrap_lines(event.why))
    for reason in event.reasons[:6]:
        lines.extend(wrap_lines(reason, indent="  "))
    return View("\n".join(lines))


def proposed_view(event: PlanProposed, quote: str, zone: tzinfo = UTC) -> View:
    """The plan message: Approve/Reject buttons unless the plan is executed automatically."""
    notes = []
    if event.replaces:
        notes.append(f"Replaces plan {event.replaces}.")
    if event.reason:
        notes.append(event.reason)
    if event.auto:
        notes.append("Auto-approved: executing now.")
    return plan_view(event.plan, event.approval_id, event.expires_at, quote,
                     note=" ".join(notes), with_buttons=not event.auto, zone=zone)


def with_cash(view: View, event: PlanExecuted | ExecutionFailed, quote: str) -> View:
    """`view` with the cash and its new share of the value under it, when known."""
    return View("\n".join([view.text, *cash_lines(event, quote)]), view.buttons)


def cash_lines(letter: PlanExecuted | ExecutionFailed, quote: str) -> list[str]:
    """The cash after the plan and its new share of the value, when known."""
    if letter.cash_value is None or letter.cash_allocation is None:
        return []
    return [f"Cash now <b>{money(letter.cash_value)}</b> {esc(quote)} · "
            f"<b>{pct(letter.cash_allocation)}</b>"]


def outcome_view(
    approval_id: str,
    mark: str,
    verb: str,
    results: Sequence[OrderResult],
    quote: str,
    reason: str = "",
) -> View:
    """How an executed plan ended: per order the filled amount, average price and fee."""
    lines = [f"{mark} <b>Plan {esc(approval_id)} {verb}</b>"]
    if reason:
        lines.extend(wrap_lines(reason))
    lines.extend(results_lines(results, quote))
    return View("\n".join(lines))


def results_lines(results: Sequence[OrderResult], quote: str) -> list[str]:
    """Per order: the filled amount, average price and fee (HTML lines)."""
    return [line for number, result in enumerate(results, start=1)
            for line in _result_lines(number, result, quote)]


def _result_lines(number: int, result: OrderResult, quote: str) -> list[str]:
    done = result.filled > 0 and result.state is OrderState.FILLED
    mark = "✅" if done else ("◐" if result.filled > 0 else "❌")
    lines = [f"{number}. {mark} <b>{result.side.value.upper()} {esc(fit(result.asset, 10))}</b> "
             f"{esc(result.state.value)}"]
    if result.filled > 0:
        lines.append(f"   {amount(result.filled)} of {amount(result.amount)}")
        if result.average_price is not None:
            value = result.filled * result.average_price
            lines.append(f"   @ {price(result.average_price)} = {money(value)}")
        lines.append(f"   fee {fee(result.fee)} {esc(fit(result.fee_currency or quote, 8))}")
    if result.detail:
        lines.extend(wrap_lines(result.detail, indent="   "))
    return lines


_CLOSED = {
    "expired": ("⌛", "expired"),
    "rejected": ("🚫", "rejected"),
    "superseded": ("↪️", "superseded"),
}


def closed_view(approval_id: str, state: str, reason: str) -> View:
    """A plan that will not run: expired, rejected, superseded (or drifted), and why."""
    mark, word = _CLOSED.get(state, ("•", state))
    lines = [f"{mark} <b>Plan {esc(approval_id)} {esc(word)}</b>"]
    if reason:
        lines.extend(wrap_lines(reason))
    return View("\n".join(lines))


def refused_view(message: str) -> View:
    """A tap that did nothing (expired, superseded, already executed …), with the reason."""
    return View("\n".join(["ℹ️ Nothing was executed", *wrap_lines(message)]))
