"""Changing a setting from the chat: the same validation as start-up, then handed to the engine.

Offered: the policy table (what the next plan uses) and the alert switches. Not offered, because
they guard execution itself and are read when Ballast starts: `cash_floor`, `fee_rate`,
`approval_ttl`, `max_price_drift`; nor mode, keys, exchange or signal parameters. Those change
in the settings file or environment, with a restart.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, get_args

from pydantic import ValidationError

from bot.telegram.setting_words import InputError, did_you_mean, parse_value, value_text
from core.config.rules import PolicySettings
from core.config.settings import Settings, SettingsError
from core.config.sources import format_validation_error
from core.storage.chat_settings import SettingsLedger, switch_preset_in_chat

START_UP_ONLY = frozenset({"cash_floor", "fee_rate", "approval_ttl", "max_price_drift"})
EDITABLE: tuple[str, ...] = (
    *(name for name in PolicySettings.model_fields if name not in START_UP_ONLY),
    "alert_plans",
    "alert_trades",
    "alert_failures",
    "alert_safety",
    "alert_signals",
    "alert_cash",
    "alert_exchange",
)
_OFF = frozenset({"off", "none", "null", "-"})
_RESET = frozenset({"reset", "default"})

Apply = Callable[[Settings], Awaitable[None]]


class SettingsEditor:
    """Holds the settings in force and changes one at a time, validated as a whole."""

    def __init__(self, settings: Settings, apply: Apply,
                 ledger: SettingsLedger | None = None) -> None:
        self.current = settings
        self._apply = apply
        # Where each value comes from, and the server's own values for `reset`.
        self.ledger = ledger
        self.note: str | None = None  # what the last change did beyond itself (a preset)

    def shown(self) -> dict[str, object]:
        """The settings the owner may change, with their values."""
        return {name: getattr(self.current, name) for name in EDITABLE}

    def sources(self) -> dict[str, str]:
        """Where each shown setting's value comes from (chat / env / file / default), or
        nothing when that is not known."""
        if self.ledger is None:
            return {}
        return {name: self.ledger.source(name).value for name in EDITABLE}

    async def change(self, name: str, raw: str) -> Settings:
        """Set `name` to `raw` (text as typed), validate every rule, apply, and return the result.

        Raises SettingsError naming the setting, the value and the rule, and changes nothing.
        """
        return await self.change_many([(name, raw)])

    async def change_many(self, pairs: Sequence[tuple[str, str]]) -> Settings:
        """Set several settings at once (those that must move together, such as min_cash and
        target_cash), validated together: all are applied or none (`change`)."""
        self.note = None
        if any(self._editable(name) == "preset" for name, _ in pairs):
            if len(pairs) > 1:
                raise SettingsError("preset: change it on its own (it sets many values at once)")
            return await self._switch_preset(pairs[0][1])
        values: dict[str, Any] = {field: getattr(self.current, field)
                                  for field in Settings.model_fields}
        for name, raw in pairs:
            key = self._editable(name)
            word = raw.strip().lower()
            if word in _RESET:
                if self.ledger is None:
                    raise SettingsError(f"{key}: reset is not available here")
                values[key] = getattr(self.ledger.base, key)
            elif word in _OFF and _optional(key):
                values[key] = None
            else:
                try:
                    values[key] = parse_value(key, raw)
                except InputError as error:
                    raise SettingsError(str(error)) from None
        try:
            changed = Settings(**values)
        except ValidationError as error:
            raise SettingsError(_one_line(format_validation_error(error))) from None
        await self._apply(changed)
        self.current = changed
        return changed

    async def _switch_preset(self, raw: str) -> Settings:
        """A whole set of values, worked out in core (`switch_preset_in_chat`)."""
        target = raw
        if raw.strip().lower() in _RESET:
            if self.ledger is None:
                raise SettingsError("preset: reset is not available here")
            target = self.ledger.base.preset
        changed, self.note = switch_preset_in_chat(self.ledger, self.current, target)
        await self._apply(changed)
        self.current = changed
        return changed

    def _editable(self, name: str) -> str:
        key = name.strip().lower()
        if key in START_UP_ONLY:
            raise SettingsError(
                f"{key}: guards execution, so it changes only in the settings file or "
                f"environment (BALLAST_{key.upper()}) with a restart"
            )
        if key not in EDITABLE:
            guess = did_you_mean(key, EDITABLE)
            hint = f"did you mean {guess}?" if guess else "see /settings for the names"
            raise SettingsError(f"{name}: not a setting that can be changed here; {hint}")
        return key


# A rule between two settings as `core.config` words it: `min_cash = 0.3: must be ≤ …`.
_RULE = re.compile(r"^(\w+) = ([^:]+): must be ([≤≥<>]) (\w+) \(([^)]+)\)$")
_CASH_ORDER = frozenset({"cash_floor", "min_cash", "target_cash", "max_cash",
                         "buy_cash_threshold", "cash_band"})


def _one_line(message: str) -> str:
    """A refusal in the owner's units, with what to do when two settings must move together."""
    match = _RULE.match(message)
    if match is None:
        return message
    name, value, sign, other, limit = match.groups()
    shown = f"{name} {_shown(name, value)} must be {sign} {other} ({_shown(other, limit)})"
    if {name, other} <= _CASH_ORDER:
        shown += ("; the cash settings keep floor ≤ minimum ≤ target ≤ maximum, so change "
                  f"them together: /settings {name} … {other} …")
    return shown


def _shown(name: str, text: str) -> str:
    try:
        return value_text(name, Decimal(text))
    except InvalidOperation:
        return text


def _optional(name: str) -> bool:
    """Whether the setting can be switched off (its type admits None)."""
    return type(None) in get_args(Settings.model_fields[name].annotation)
