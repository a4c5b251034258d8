"""How a moment reads for the owner: `7 Dec 17:01 CET`, in their time zone. Pure.

Every time the chat shows — a plan's expiry, /history, /status, summaries, alerts, refusals —
goes through `moment`, so setting `timezone` (BALLAST_TIMEZONE) changes all of them at once, and
each carries its day and month, so "17:01" never leaves the owner guessing which day it was.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo


def moment(at: datetime, zone: tzinfo = UTC) -> str:
    """`7 Dec 17:01 CET`: day, month, time and zone abbreviation in `zone`."""
    local = at.astimezone(zone)
    return f"{local.day} {local:%b %H:%M} {local.tzname() or zone}"


def owner_zone(name: str) -> tzinfo:
    """The owner's time zone from the `timezone` setting (already validated as a known name)."""
    return ZoneInfo(name)
