"""Button payloads: what an inline button's `callback_data` says, written and read strictly.

Telegram hands back whatever bytes a button carried, and anyone can craft a callback query, so
the payload is parsed as untrusted input: a known action, a well-formed id, at most 64 bytes.
Anything else is refused (`None`) and the handler does nothing with it. The payload names an
approval; whether that approval may still be executed is the engine's decision, not the button's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

MAX_CALLBACK_BYTES = 64
_APPROVAL_ID = re.compile(r"[A-Za-z0-9_\-]{1,48}")


class Action(StrEnum):
    """What a button asks for. The values are the wire prefixes."""

    APPROVE = "ap"
    REJECT = "rj"
    CHART_ALLOCATION = "ca"
    CHART_VALUE = "cv"
    CONFIRM_ACCOUNT = "cf"  # the owner says the account as it is now is right
    SNOOZE = "sz"  # `sz:<approval id>:<hours>`: keep a rejected plan's trades quiet this long
    SIGNAL_DETAILS = "sd"
    SETTINGS_STEP = "ss"


# Actions whose payload names one of Ballast's own keys (a settings step), not an approval.
_NEEDS_KEY = frozenset({Action.SETTINGS_STEP})


_NEEDS_ID = frozenset({Action.APPROVE, Action.REJECT, Action.SNOOZE})
SNOOZE_HOURS = (4, 72, 168)  # the lengths offered after Reject (the default is a setting)


@dataclass(frozen=True, slots=True)
class ButtonPress:
    """A parsed, well-formed button payload: an action and, for approvals, the approval id."""

    action: Action
    approval_id: str | None = None
    hours: int | None = None  # a snooze's length
    key: str | None = None  # a settings step's key


def encode(action: Action, approval_id: str | None = None, hours: int | None = None, *,
           key: str | None = None) -> str:
    """The `callback_data` for a button; raises ValueError if it would be malformed."""
    if (action is Action.SNOOZE) != (hours is not None):
        raise ValueError(f"button {action.name}: a snooze, and only a snooze, has hours")
    if action in _NEEDS_KEY:
        if key is None or not _APPROVAL_ID.fullmatch(key):
            raise ValueError(f"key {key!r} cannot go into a button")
        return f"{action.value}:{key}"
    if action in _NEEDS_ID:
        if approval_id is None or not _APPROVAL_ID.fullmatch(approval_id):
            raise ValueError(f"approval id {approval_id!r} cannot go into a button: "
                             "use 1–48 characters of A-Z, a-z, 0-9, _ and -")
        data = f"{action.value}:{approval_id}"
        if hours is not None:
            if hours not in SNOOZE_HOURS:
                raise ValueError(f"a snooze of {hours} h is not offered")
            data += f":{hours}"
    else:
        if approval_id is not None:
            raise ValueError(f"button {action.name} takes no approval id")
        data = action.value
    if len(data.encode()) > MAX_CALLBACK_BYTES:
        raise ValueError(f"callback data {data!r} is over {MAX_CALLBACK_BYTES} bytes")
    return data


def decode(data: str | None) -> ButtonPress | None:
    """The button press `data` describes, or None when it is not one Ballast could have made."""
    if not data or len(data.encode()) > MAX_CALLBACK_BYTES:
        return None
    prefix, sep, rest = data.partition(":")
    try:
        action = Action(prefix)
    except ValueError:
        return None
    if action is Action.SNOOZE:
        approval_id, _, hours = rest.partition(":")
        if not _APPROVAL_ID.fullmatch(approval_id) or hours not in {str(h) for h in SNOOZE_HOURS}:
            return None
        return ButtonPress(action, approval_id, int(hours))
    if action in _NEEDS_KEY:
        if not sep or not _APPROVAL_ID.fullmatch(rest):
            return None
        return ButtonPress(action, key=rest)
    if action in _NEEDS_ID:
        if not sep or not _APPROVAL_ID.fullmatch(rest):
            return None
        return ButtonPress(action, rest)
    if sep:
        return None
    return ButtonPress(action)
