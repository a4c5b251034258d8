"""Upkeep beside the engine: daily backups, the daily summary, the scan watchdog, outbox pruning.

`Upkeep.run` is one more task next to the engine's loop in `ballast run`. Its letters (the
summary, scan alerts) go to `post` — the outbox, when a Telegram front-end delivers it — and
every one is logged as a structured line as well.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from core.config.settings import AlertLevel, Settings
from core.engine.events import SignalChanged
from core.engine.service import EngineService, ServiceError
from core.ops.backup import DailyBackups
from core.ops.outbox import Letter, Outbox
from core.ops.summary import (
    DAY,
    DailySummary,
    EngineHealth,
    SummaryInput,
    compose_summary,
    summary_due,
)
from core.ops.watchdog import ScansFailing, ScansResumed, ScanWatchdog
from core.policy.bands import bands
from core.runtime.logs import log_event
from core.runtime.periodic import sleep_or_stop

log = logging.getLogger(__name__)

SUMMARY_DAY = "daily_summary:last_day"
KEEP_DELIVERED = timedelta(days=30)
MAX_CHECK_INTERVAL = 60.0

Post = Callable[[Letter], Awaitable[object]]
Clock = Callable[[], datetime]


class Upkeep:
    """The daily and watchful chores of a running Ballast, on a clock that is passed in."""

    def __init__(
        self,
        settings: Settings,
        service: EngineService,
        clock: Clock,
        *,
        outbox: Outbox | None = None,
    ) -> None:
        self.settings = settings
        self.service = service
        self.clock = clock
        self.outbox = outbox
        self.zone = ZoneInfo(settings.timezone)
        self.backups = (
            DailyBackups(settings.db, settings.backup_dir, settings.backup_keep_days, self.zone,
                         tell=self.tell)
            if settings.backup_dir is not None and settings.backup_keep_days > 0
            else None
        )
        self.watchdog = ScanWatchdog(
            timedelta(seconds=settings.scan_failure_alert_after), clock()
        )
        self._pruned: date | None = None

    async def post(self, letter: Letter, now: datetime) -> None:
        """Log `letter` and, with a Telegram front-end, queue it for the owner."""
        _log_letter(letter)
        if self.outbox is not None:
            await self.outbox.post(letter, now)

    async def tell(self, letter: Letter) -> None:
        """Queue `letter` for the owner at its own time (the backups' alerts)."""
        if self.outbox is not None:
            await self.outbox.post(letter, letter.at)

    async def gather(self, now: datetime) -> SummaryInput:
        """The summary's inputs from the engine: latest scan, history and health."""
        scan = self.service.latest_scan
        settings = self.service.settings
        status = await self.service.status()
        history = await self.service.history(limit=200)
        profit = None
        if scan is not None:
            try:
                profit = (await self.service.profit(since=now - DAY)).periods[0]
            except ServiceError as error:
                log.info("the summary goes without P&L: %s", error)
        return SummaryInput(
            now=now,
            quote=settings.quote,
            bands=bands(settings.policy),
            portfolio=scan.portfolio if scan else None,
            signals=dict(scan.signals) if scan else {},
            snapshots=history.snapshots,
            orders=history.trades,
            approvals=history.approvals,
            health=EngineHealth(
                paused=status.paused,
                trouble_since=status.trouble_since,
                last_error=status.last_error,
                last_scan=status.last_scan,
                pending=tuple(a.id for a in status.pending),
                executing=tuple(a.id for a in status.executing),
            ),
            zone=self.zone,
            cash_reason=status.cash_reason,
            signal_changes=await self._signal_changes(now),
            profit=profit,
        )

    async def _signal_changes(self, now: datetime) -> list[SignalChanged]:
        """The day's signal flips, as the outbox received them; none when set `off`."""
        if self.outbox is None or self.service.settings.alert_signals is AlertLevel.OFF:
            return []
        return [letter for letter in await self.outbox.posted_since(SignalChanged, now - DAY)
                if isinstance(letter, SignalChanged)]

    async def summary_if_due(self, now: datetime) -> DailySummary | None:
        """Compose and post today's summary once its hour has come (once a day, restarts too)."""
        hour = self.settings.daily_summary_hour
        if hour is None:
            return None
        last = await self.service.recall(SUMMARY_DAY)
        last_day = date.fromisoformat(last) if last else None
        if not summary_due(now, self.zone, hour, last_day):
            return None
        if self.service.latest_scan is None and (
            now - self.watchdog.started < self.watchdog.threshold
        ):
            return None  # just started: wait for the first scan (or the watchdog's verdict)
        summary = compose_summary(await self.gather(now))
        # Remember the day before posting: a crash in between loses one summary, never repeats.
        await self.service.remember(SUMMARY_DAY, now.astimezone(self.zone).date().isoformat())
        await self.post(summary, now)
        return summary

    async def watch_scans(self, now: datetime) -> ScansFailing | ScansResumed | None:
        """Post an alert if scans have failed too long (or work again after one)."""
        scan = self.service.latest_scan
        latest = scan.at if scan is not None else None
        letter = self.watchdog.check(now, latest, self.service.last_error)
        if letter is not None:
            await self.post(letter, now)
        return letter

    async def prune_outbox(self, now: datetime) -> None:
        """Once a day, forget letters delivered more than `KEEP_DELIVERED` ago."""
        today = now.astimezone(self.zone).date()
        if self.outbox is None or self._pruned == today:
            return
        self._pruned = today
        removed = await self.outbox.prune(now - KEEP_DELIVERED)
        if removed:
            log_event(log, "outbox", f"forgot {removed} delivered message(s)", removed=removed)

    async def step(self, now: datetime) -> None:
        """One round of checks; a failing chore is logged and never stops the others."""
        for chore in (self.watch_scans, self.summary_if_due, self.prune_outbox):
            try:
                await chore(now)
            except Exception:
                log.exception("upkeep: %s failed", chore.__name__)

    async def run(self, stop: asyncio.Event) -> None:
        """Backups on their own schedule; the other chores every minute (or scan), until stop."""
        interval = min(float(self.settings.scan_interval), MAX_CHECK_INTERVAL)
        backups = (
            asyncio.create_task(self.backups.run(self.clock, stop), name="daily-backups")
            if self.backups is not None
            else None
        )
        try:
            while not stop.is_set():
                await self.step(self.clock())
                await sleep_or_stop(stop, interval)
        finally:
            if backups is not None:
                backups.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await backups


def _log_letter(letter: Letter) -> None:
    match letter:
        case DailySummary():
            log_event(log, "summary", "daily summary", total_value=letter.total_value,
                      change=letter.change, cash=letter.cash_allocation,
                      trades=len(letter.trades), fees=letter.fees,
                      attention=" | ".join(letter.attention))
        case ScansFailing():
            log_event(log, "error", "no successful scan for too long", logging.ERROR,
                      since=letter.since.isoformat(), error=letter.error)
        case ScansResumed():
            log_event(log, "scan", "scans succeed again", since=letter.since.isoformat())
