"""How the engine writes times, decimals and plans into SQLite TEXT columns.

Times are UTC with a fixed width so that text order is time order in SQL comparisons. Plans are
dataclass trees stored as JSON text through `core.storage.stored_json.StoredJson`, which checks
their shape both ways, so a damaged row is refused naming the field.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from core.domain.models import Plan
from core.storage.stored_json import StoredJson

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def time_text(at: datetime) -> str:
    """A UTC time as fixed-width text (naive times are taken as UTC)."""
    if at.tzinfo is not None:
        at = at.astimezone(UTC)
    return at.strftime(_TIME_FORMAT)


def parse_time(text: str) -> datetime:
    """The inverse of `time_text`: an aware UTC datetime."""
    return datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=UTC)


def maybe_time(text: str | None) -> datetime | None:
    """`parse_time` for nullable columns."""
    return None if text is None else parse_time(text)


def maybe_decimal(text: str | None) -> Decimal | None:
    """A nullable TEXT column as a Decimal."""
    return None if text is None else Decimal(text)


_PLAN_JSON = StoredJson(Plan, "plan")


def plan_to_json(plan: Plan) -> str:
    """A plan as JSON text, losslessly (Decimals as strings)."""
    return _PLAN_JSON.dump(plan)


def plan_from_json(text: str) -> Plan:
    """Read a plan written by `plan_to_json`; `StoredJsonError` if the text is not one."""
    return _PLAN_JSON.load(text)
