"""The one reader of time options (`--from`, `--to`, `--at`) every command shares."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.cli.common import parse_moment


@pytest.mark.parametrize(("text", "end_of_day", "expected"), [
    ("2024-12-31", False, datetime(2024, 12, 31, tzinfo=UTC)),
    ("2024-12-31", True, datetime(2025, 1, 1, tzinfo=UTC)),
    ("2024-12-31T12:00:00Z", True, datetime(2024, 12, 31, 12, tzinfo=UTC)),
    ("2024-12-31T12:00:00", False, datetime(2024, 12, 31, 12, tzinfo=UTC)),
    ("2024-12-31T14:00:00+02:00", False, datetime(2024, 12, 31, 12, tzinfo=UTC)),
])
def test_days_and_iso_times_read_as_utc(text: str, end_of_day: bool, expected: datetime) -> None:
    assert parse_moment(text, "--to", end_of_day=end_of_day) == expected


@pytest.mark.parametrize("text", ["March", "2024-13-01", "31/12/2024"])
def test_what_cannot_be_read_is_named_with_its_option(text: str) -> None:
    with pytest.raises(ValueError, match=f"--from {text!r}: expected a day like 2024-12-31"):
        parse_moment(text, "--from")
