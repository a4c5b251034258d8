"""The scan watchdog: one alert when scans fail longer than the threshold, one when they resume."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.ops.watchdog import ScansFailing, ScansResumed, ScanWatchdog

START = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
LIMIT = timedelta(minutes=15)


def minutes(n: float) -> datetime:
    return START + timedelta(minutes=n)


def test_one_alert_per_stretch_of_failures_and_one_when_it_ends() -> None:
    watchdog = ScanWatchdog(LIMIT, START)
    assert watchdog.check(minutes(1), minutes(1)) is None  # scanning fine
    assert watchdog.check(minutes(10), minutes(1), "timeout") is None  # failing, not for long
    assert watchdog.check(minutes(17), minutes(1), "timeout") == ScansFailing(
        minutes(17), minutes(1), "timeout"
    )
    assert watchdog.check(minutes(30), minutes(1), "timeout") is None  # said once
    assert watchdog.check(minutes(31), minutes(31)) == ScansResumed(minutes(31), minutes(1))
    assert watchdog.check(minutes(32), minutes(32)) is None
    assert watchdog.check(minutes(48), minutes(32)) == ScansFailing(minutes(48), minutes(32))


def test_a_restart_gets_a_whole_threshold_before_alerting() -> None:
    """The last scan before a night of downtime is not held against the new process."""
    yesterday = START - timedelta(days=1)
    watchdog = ScanWatchdog(LIMIT, START)
    assert watchdog.check(minutes(14), yesterday) is None
    assert watchdog.check(minutes(16), yesterday) == ScansFailing(minutes(16), START)


def test_no_scan_ever_counts_from_start_up() -> None:
    watchdog = ScanWatchdog(LIMIT, START)
    assert watchdog.check(minutes(15), None) is None  # exactly the threshold: not yet
    assert isinstance(watchdog.check(minutes(15.1), None), ScansFailing)
