"""Database backups: SQLite's online backup API (safe while Ballast runs) and daily copies.

The database holds what cannot be fetched again: approvals, the order ledger that makes
execution exactly-once, cost bases, the paper account. A backup is a consistent snapshot taken
through SQLite's backup API, so it is safe while the engine writes (in WAL mode the copy reads
one snapshot and blocks no writer). It is written beside its target and renamed into place only
once checked, so a file with a backup's name is always a whole, readable database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import sqlite3
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path

from core.runtime.logs import log_event
from core.runtime.periodic import sleep_or_stop

log = logging.getLogger(__name__)

DAILY_NAME = re.compile(r"^ballast-(\d{4}-\d{2}-\d{2})\.db$")
# How long a backup may wait for a writer's lock before giving up.
LOCK_TIMEOUT = 30.0
# A failed daily backup (disk full, directory gone) is tried again this many seconds later.
RETRY_AFTER_FAILURE = 3600.0


class BackupError(Exception):
    """A backup could not be made; the message says which file and why."""


@dataclass(frozen=True, slots=True)
class BackupResult:
    """A finished backup: where, how big, and the schema version it holds."""

    path: Path
    size: int
    schema_version: int


def backup_database(source: Path, target: Path) -> BackupResult:
    """Copy the database at `source` to `target` (replacing it) with SQLite's online backup.

    Blocking: run it in a thread from async code (`asyncio.to_thread`).
    """
    if not source.is_file():
        raise BackupError(f"database {source} does not exist (check BALLAST_DB)")
    if source.resolve() == target.resolve():
        raise BackupError(f"the backup {target} would overwrite the database itself")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        with contextlib.closing(sqlite3.connect(source, timeout=LOCK_TIMEOUT)) as src, \
                contextlib.closing(sqlite3.connect(partial)) as copy:
            src.backup(copy)
            # One self-contained file: a backup should not need a -wal file beside it.
            copy.execute("PRAGMA journal_mode=DELETE")
            check = copy.execute("PRAGMA quick_check").fetchone()
            if check is None or check[0] != "ok":
                raise BackupError(f"the copy of {source} failed its integrity check: {check}")
            version = int(copy.execute("PRAGMA user_version").fetchone()[0])
        os.replace(partial, target)
    except sqlite3.Error as error:
        partial.unlink(missing_ok=True)
        raise BackupError(f"could not back up {source} to {target}: {error}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return BackupResult(target, target.stat().st_size, version)


def daily_backup_name(day: date) -> str:
    """The file name of the automatic backup of `day`."""
    return f"ballast-{day.isoformat()}.db"


def backup_days(names: Iterable[str]) -> dict[str, date]:
    """The daily backups among `names`, each with its day."""
    days = {}
    for name in names:
        match = DAILY_NAME.match(name)
        if match:
            with contextlib.suppress(ValueError):  # `ballast-2026-02-31.db` is no daily backup
                days[name] = date.fromisoformat(match.group(1))
    return days


def backups_to_prune(names: Iterable[str], today: date, keep_days: int) -> list[str]:
    """The daily backups older than the last `keep_days` days (today included), except the
    newest `keep_days` of them: a clock that jumped forward never empties the directory.
    Backups dated after today (the clock went back) are neither pruned nor counted."""
    oldest_kept = today - timedelta(days=keep_days - 1)
    past = sorted((day, name) for name, day in backup_days(names).items() if day <= today)
    older = past[:-keep_days] if keep_days > 0 else past
    return sorted(name for day, name in older if day < oldest_kept)


def clock_went_back(names: Iterable[str], today: date) -> str | None:
    """Backups dated after today say the clock went back (or was ahead when they were made)."""
    future = sorted(day for day in backup_days(names).values() if day > today)
    if not future:
        return None
    # Worded without today's date: the same doubt is told once, not every day anew.
    return (f"backups are dated after today (the latest {future[-1]}): the clock went back, "
            "or was ahead when they were made; they are kept and never pruned")


def clock_jumped_forward(names: Iterable[str], today: date, keep_days: int) -> str | None:
    """No backup in the `keep_days` days before today: the clock jumped forward (or Ballast
    was stopped that long). Pure, like `clock_went_back`."""
    past = sorted(day for day in backup_days(names).values() if day < today)
    if not past or (today - past[-1]).days <= keep_days:
        return None
    return (f"the newest backup is from {past[-1]}, more than {keep_days} days before today "
            f"({today}): the clock jumped forward, or Ballast was stopped that long; no older "
            "backup is deleted today")


def next_midnight(now: datetime, zone: tzinfo) -> datetime:
    """The start of the next day in `zone`, as an aware datetime."""
    local = now.astimezone(zone)
    return datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=zone)


@dataclass(frozen=True, slots=True)
class BackupTrouble:
    """A letter for the owner: the daily backup failed (disk full …), or the backups' dates
    doubt the clock. Said once per stretch of failures, once per doubt."""

    at: datetime
    problem: str


@dataclass(frozen=True, slots=True)
class BackupsResumed:
    """A daily backup succeeded again after `BackupTrouble` said it failed."""

    at: datetime
    since: datetime


Tell = Callable[[BackupTrouble | BackupsResumed], Awaitable[object]]


async def _tell_nobody(letter: BackupTrouble | BackupsResumed) -> None:
    """Without an outbox the log lines are all there is."""


class DailyBackups:
    """One backup a day into `directory`, the last `keep_days` days kept.

    A backup is due when today's file is missing, so a restart neither skips a day nor makes a
    second copy; the directory itself is the state. `tell` takes the owner's letters (the
    outbox): a failed backup once per stretch of failures, a clock the backups' dates doubt.
    """

    def __init__(self, database: Path, directory: Path, keep_days: int, zone: tzinfo,
                 tell: Tell = _tell_nobody) -> None:
        if keep_days < 1:
            raise ValueError(f"backup_keep_days = {keep_days}: daily backups need at least 1")
        self.database = database
        self.directory = directory
        self.keep_days = keep_days
        self.zone = zone
        self.tell = tell
        self.failing_since: datetime | None = None
        self._doubts_told: set[str] = set()

    def path_for(self, now: datetime) -> Path:
        """Where the backup of `now`'s day goes."""
        return self.directory / daily_backup_name(now.astimezone(self.zone).date())

    async def run_due(self, now: datetime) -> BackupResult | None:
        """Make today's backup unless it exists, then delete the ones too old to keep (none
        on a day the clock looks to have jumped forward); say once what doubts the clock."""
        today = now.astimezone(self.zone).date()
        before = self._names()
        jumped = clock_jumped_forward(before, today, self.keep_days)
        for doubt in (clock_went_back(before, today), jumped):
            if doubt is not None and doubt not in self._doubts_told:
                self._doubts_told.add(doubt)
                log_event(log, "backup", f"backups doubt the clock: {doubt}", logging.WARNING)
                await self.tell(BackupTrouble(now, doubt))
        target = self.path_for(now)
        result = None
        if not target.exists():
            result = await asyncio.to_thread(backup_database, self.database, target)
            log_event(log, "backup", f"backed up the database to {target}", path=target,
                      size=result.size, schema_version=result.schema_version)
        if jumped is not None:
            return result
        for name in backups_to_prune(self._names(), today, self.keep_days):
            (self.directory / name).unlink(missing_ok=True)
            log_event(log, "backup", f"deleted the old backup {name}", path=name)
        return result

    def _names(self) -> list[str]:
        return [p.name for p in self.directory.iterdir()] if self.directory.exists() else []

    async def attempt(self, now: datetime) -> bool:
        """`run_due`, with a failure logged and told to the owner once per stretch of
        failures (and its end told too); whether it succeeded."""
        try:
            await self.run_due(now)
        except (BackupError, OSError) as error:
            log_event(log, "error", "daily backup failed", logging.ERROR, error=error)
            if self.failing_since is None:
                self.failing_since = now
                await self.tell(BackupTrouble(now, f"the daily backup failed: {error}. The "
                                              "older backups are kept; Ballast tries again "
                                              "every hour"))
            return False
        if self.failing_since is not None:
            since, self.failing_since = self.failing_since, None
            log_event(log, "backup", "daily backups work again", since=since.isoformat())
            await self.tell(BackupsResumed(now, since))
        return True

    async def run(self, clock: Callable[[], datetime], stop: asyncio.Event) -> None:
        """Back up now if due, then after each midnight, until `stop` is set."""
        while not stop.is_set():
            now = clock()
            delay = (next_midnight(now, self.zone) - now).total_seconds()
            if not await self.attempt(now):
                delay = min(delay, RETRY_AFTER_FAILURE)
            await sleep_or_stop(stop, max(delay, 1.0))
