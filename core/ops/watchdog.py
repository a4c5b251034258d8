"""The scan watchdog: one alert when no scan has succeeded for too long, one when scans resume.

The engine already says once when the exchange stops and starts answering. This catches the
rest too — a scan that keeps raising for any reason, a loop that hangs — by looking only at
when the last scan succeeded. Pure decision (`ScanWatchdog.check`), time passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class ScansFailing:
    """No scan has succeeded since `since`, for longer than the configured threshold."""

    at: datetime
    since: datetime
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ScansResumed:
    """A scan succeeded again after `ScansFailing` was sent."""

    at: datetime
    since: datetime


class ScanWatchdog:
    """Decides when to alert about failing scans: once per stretch of failures."""

    def __init__(self, threshold: timedelta, started: datetime) -> None:
        self.threshold = threshold
        self.started = started
        self.failing_since: datetime | None = None

    def check(
        self, now: datetime, last_scan: datetime | None, error: str | None = None
    ) -> ScansFailing | ScansResumed | None:
        """The alert owed now, if any, given when the last scan succeeded.

        A scan from before this process started counts as at start-up: after a restart the
        engine gets a whole threshold to succeed before anyone is alerted.
        """
        reference = self.started if last_scan is None else max(last_scan, self.started)
        failing = now - reference > self.threshold
        if failing and self.failing_since is None:
            self.failing_since = reference
            return ScansFailing(now, reference, error)
        if not failing and self.failing_since is not None:
            since, self.failing_since = self.failing_since, None
            return ScansResumed(now, since)
        return None
