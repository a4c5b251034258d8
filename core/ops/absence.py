"""Stopping and starting again: why Ballast stopped, and on the next start what it missed.

After Ctrl+C or SIGTERM the phone used to hear nothing, and the next start said only "Ballast is
running". Now `ballast run` records each stop (when and why) in `engine_state`; the next start
measures the time away — from that stop, or from the last scan if Ballast never stopped cleanly
(a crash, a power cut) — and what it missed: plans that waited for a decision and expired
meanwhile, and the scans that did not happen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from core.engine.approvals import ApprovalState
from core.engine.codec import parse_time, time_text
from core.engine.service import EngineService
from core.engine.state import LAST_SCAN

STOPPED_AT = "stopped:at"
STOPPED_WHY = "stopped:why"


@dataclass(frozen=True, slots=True)
class Absence:
    """How long Ballast was away and what it missed."""

    since: datetime
    why: str  # the recorded reason, or that it did not stop cleanly
    away: timedelta
    scans_missed: int
    plans_expired: tuple[str, ...]


async def record_stop(service: EngineService, at: datetime, why: str) -> None:
    """Remember that Ballast stops now, and why (read back by the next start)."""
    await service.remember(STOPPED_AT, time_text(at))
    await service.remember(STOPPED_WHY, why)


async def measure_absence(service: EngineService, now: datetime) -> Absence | None:
    """What the time since the last run missed; None on a first start.

    Call before the engine's first step: it counts the plans still waiting from before the
    stop whose time ran out (the first step expires them), and it reads the last scan's time.
    """
    stopped = await service.recall(STOPPED_AT)
    last_scan = await service.recall(LAST_SCAN)
    if stopped is not None and (last_scan is None or stopped >= last_scan):
        since = parse_time(stopped)
        why = await service.recall(STOPPED_WHY) or "stopped"
    elif last_scan is not None:
        since = parse_time(last_scan)
        why = "did not stop cleanly (a crash or a power cut?)"
    else:
        return None
    away = max(now - since, timedelta(0))
    waiting = await service.engine.approvals.in_states(ApprovalState.PENDING)
    expired = tuple(a.id for a in waiting if a.expires_at <= now)
    scans = int(away.total_seconds() // service.settings.scan_interval)
    return Absence(since, why, away, scans, expired)


@dataclass(slots=True)
class StopReason:
    """Why the running Ballast is stopping, set by whoever stops it (a signal, `quit`)."""

    text: str = "a request to quit"
