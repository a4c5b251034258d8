"""docs/settings.md lists every setting, by the variable that sets it, with its real default.

The page is the reference a user reads; a setting added, renamed or given a new default in
`core/config/` must show up there too, or this test names it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from core.config.settings import Settings

DOC = Path(__file__).resolve().parents[1] / "docs" / "settings.md"
ROW = re.compile(r"^\| `BALLAST_([A-Z0-9_]+)` \| ([^|]*) \|")


def default_text(value: Any) -> str:
    """A default as the page writes it: in backticks, lists comma-separated, unset as —."""
    if value is None or value == ():
        return "—"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, tuple):
        return f"`{','.join(str(v) for v in value)}`"
    return f"`{value}`"


def documented(text: str) -> dict[str, str]:
    """Setting name → the default cell, from the page's table rows."""
    rows = (ROW.match(line) for line in text.splitlines())
    return {m[1].lower(): m[2].strip() for m in rows if m}


def test_every_setting_is_documented_with_its_default() -> None:
    rows = documented(DOC.read_text(encoding="utf-8"))
    fields = Settings.model_fields
    assert sorted(set(fields) - set(rows)) == [], "settings missing from docs/settings.md"
    assert sorted(set(rows) - set(fields)) == [], "docs/settings.md names unknown settings"
    wrong = {name: (rows[name], default_text(field.default))
             for name, field in fields.items() if rows[name] != default_text(field.default)}
    assert wrong == {}, "documented default ≠ the code's (documented, actual)"


def test_a_stale_row_is_caught() -> None:
    rows = documented("| `BALLAST_MIN_CASH` | `0.20` | cash |\n| `BALLAST_GONE` | — | x |")
    assert rows == {"min_cash": "`0.20`", "gone": "—"}
    assert rows["min_cash"] != default_text(Settings.model_fields["min_cash"].default)
