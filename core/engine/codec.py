"""How the engine writes times, decimals and plans into SQLite TEXT columns.

Times are UTC with a fixed width so that text order is time order in SQL comparisons. Plans and
the outbox's letters are dataclass trees stored as JSON text (`StoredJson`): a pydantic
`TypeAdapter` checks their shape both ways, so a damaged row is refused naming the field.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

from pydantic import TypeAdapter, ValidationError

from core.domain.models import Plan

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


class StoredJsonError(ValueError):
    """Stored JSON text that does not read as what it should be; the message names the field."""


class StoredJson[T]:
    """One kind of dataclass tree as compact JSON text and back, checked by a `TypeAdapter`.

    The text is what Ballast has always stored: Decimals as their exact `str`, times in
    `isoformat()` (`+00:00`, not `Z`), non-ASCII escaped, floats as Python spells them.
    """

    def __init__(self, kind: type[T], name: str) -> None:
        self.name = name
        self._adapter: TypeAdapter[T] = TypeAdapter(kind)  # built once: building is the slow part

    def dump(self, value: T) -> str:
        """`value` as JSON text."""
        # pydantic turns the tree into dicts and lists (Decimals and times left as they are);
        # the json module writes the text, because pydantic's own JSON would spell UTC times
        # with `Z`, write raw UTF-8 and spell some floats differently (1e-7, not 1e-07).
        plain = self._adapter.dump_python(value)
        return json.dumps(plain, default=_scalar_text, separators=(",", ":"))

    def load(self, text: str | bytes) -> T:
        """The value stored as `text`; `StoredJsonError` says which field is missing or wrong."""
        try:
            return self._adapter.validate_json(text)
        except ValidationError as error:
            message = f"a stored {self.name} no longer reads: {_describe(error)}"
            raise StoredJsonError(message) from None


def _describe(error: ValidationError) -> str:
    """Pydantic's errors as `field.path: message`, one after another."""
    return "; ".join(
        f"{'.'.join(str(part) for part in item['loc']) or 'value'}: {item['msg']}"
        for item in error.errors()
    )


def _scalar_text(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot store a {type(value).__name__} as JSON")


_PLAN_JSON = StoredJson(Plan, "plan")


def plan_to_json(plan: Plan) -> str:
    """A plan as JSON text, losslessly (Decimals as strings)."""
    return _PLAN_JSON.dump(plan)


def plan_from_json(text: str) -> Plan:
    """Read a plan written by `plan_to_json`; `StoredJsonError` if the text is not one."""
    return _PLAN_JSON.load(text)
