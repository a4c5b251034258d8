"""How loud each letter is: loud, silent, only in the daily summary, or off (settings `alert_*`).

Only what asks for a decision or reports money moving rings by default: plans, fills, failed
executions and safety holds (suspect account data, failing scans, Ballast stopping). A holding's
signal flipping goes into the daily summary; cash and exchange notes arrive silently. Before
this, all 98 messages of the 30-day demo rang, 82 of them signal flips that led to nothing.

The Telegram bot and `ballast demo` both ask `level_of`, so the demo counts the pushes the phone
would really get. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import assert_never

from core.config.settings import AlertLevel, Settings
from core.engine.events import (
    ApprovalClosed,
    CashBelowMinimum,
    ExchangeRecovered,
    ExchangeTrouble,
    ExecutionFailed,
    PlanExecuted,
    PlanProposed,
    SignalChanged,
    SuspectData,
    SuspectDataCleared,
    TradingPaused,
)
from core.ops.backup import BackupsResumed, BackupTrouble
from core.ops.outbox import Letter
from core.ops.summary import DailySummary
from core.ops.watchdog import ScansFailing, ScansResumed


class AlertKind(StrEnum):
    """The kinds of alert the owner sets a level for (setting `alert_<kind>`)."""

    PLANS = "plans"
    TRADES = "trades"
    FAILURES = "failures"
    SAFETY = "safety"
    SIGNALS = "signals"
    CASH = "cash"
    EXCHANGE = "exchange"


# Letters that say a trouble is over: never louder than silent, the trouble itself rang.
_ALL_CLEAR = (ExchangeRecovered, SuspectDataCleared, ScansResumed, BackupsResumed)


def kind_of(letter: Letter) -> AlertKind | None:
    """The kind of `letter`; None for the daily summary and a closed plan (an edit)."""
    match letter:
        case PlanProposed():
            return AlertKind.PLANS
        case PlanExecuted():
            return AlertKind.TRADES
        case ExecutionFailed():
            return AlertKind.FAILURES
        case (SuspectData() | SuspectDataCleared() | ScansFailing() | ScansResumed()
              | TradingPaused() | BackupTrouble() | BackupsResumed()):
            return AlertKind.SAFETY
        case SignalChanged():
            return AlertKind.SIGNALS
        case CashBelowMinimum():
            return AlertKind.CASH
        case ExchangeTrouble() | ExchangeRecovered():
            return AlertKind.EXCHANGE
        case DailySummary() | ApprovalClosed():
            return None
        case _:
            # A new kind of letter must be given a kind here, or mypy fails.
            assert_never(letter)


def level_of(letter: Letter, settings: Settings) -> AlertLevel | None:
    """How `letter` reaches the owner; None: it is no message of its own (a closed plan edits
    the plan's message, which never rings)."""
    kind = kind_of(letter)
    if kind is None:
        # The summary is read when convenient: it asks for no decision.
        return AlertLevel.SILENT if isinstance(letter, DailySummary) else None
    level = AlertLevel(getattr(settings, f"alert_{kind.value}"))
    if isinstance(letter, _ALL_CLEAR) and level is AlertLevel.LOUD:
        return AlertLevel.SILENT
    return level


def is_message(level: AlertLevel | None) -> bool:
    """Whether a letter at `level` (`level_of`) is a message of its own: loud or silent, not
    left to the daily summary, switched off or only an edit of the plan's message."""
    return level in (AlertLevel.LOUD, AlertLevel.SILENT)


def asks_for_a_decision(letter: Letter) -> bool:
    """Whether `letter` waits for the owner (a plan with Approve/Reject)."""
    return isinstance(letter, PlanProposed) and not letter.auto


@dataclass(slots=True)
class PushCount:
    """The messages that reached the phone, counted as the owner hears them (`ballast demo`
    prints it; a test holds the 30-day demo to at most one ringing message a day that asks for
    no decision, and every plan ringing)."""

    loud: int = 0
    loud_no_decision: int = 0
    silent: int = 0
    in_summary: int = 0
    plans: int = 0
    loud_plans: int = 0

    def count(self, letter: Letter, level: AlertLevel | None) -> None:
        """Count one delivered `letter` at `level` (None: an edit, not a message)."""
        if isinstance(letter, PlanProposed):
            self.plans += 1
            self.loud_plans += level is AlertLevel.LOUD
        match level:
            case AlertLevel.LOUD:
                self.loud += 1
                self.loud_no_decision += not asks_for_a_decision(letter)
            case AlertLevel.SILENT:
                self.silent += 1
            case AlertLevel.SUMMARY:
                self.in_summary += 1

    def words(self, days: float) -> str:
        """One line for the demo's report."""
        per_day = self.loud_no_decision / days if days > 0 else 0.0
        return (f"On the phone: {self.loud} messages rang ({self.loud_plans} of {self.plans} "
                f"plans; {self.loud_no_decision} asking for no decision, {per_day:.2f} a day), "
                f"{self.silent} arrived silently, {self.in_summary} went into the daily "
                "summary.")
