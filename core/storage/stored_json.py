"""Values stored as JSON text in SQLite TEXT columns, checked both ways by a pydantic `TypeAdapter`.

Each persisted shape is one module-level `StoredJson`, built once beside the code that stores it:
what it writes reads back as the same value, and a damaged row is refused naming the field
rather than half read.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal

from pydantic import TypeAdapter, ValidationError


class StoredJsonError(ValueError):
    """Stored JSON text that does not read as what it should be; the message names the field."""


class StoredJson[T]:
    """One kind of value (a dataclass tree, a dict of Decimals…) as compact JSON text and back.

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
