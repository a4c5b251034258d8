"""Changing a setting from the chat: the same validation as start-up, then handed to the engine.

Offered: the policy table (what the next plan uses) and the alert switches. Not offered, because
they guard execution itself and are read when Ballast starts: `cash_floor`, `fee_rate`,
`approval_ttl`, `max_price_drift`; nor mode, keys, exchange or signal parameters. Those change
in the settings file or environment, with a restart.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, get_args

from pydantic import ValidationError

from core.config.rules import PolicySettings
from core.config.settings import Settings, SettingsError
from core.config.sources import format_validation_error
from core.storage.chat_settings import SettingsLedger, switch_preset_in_chat

START_UP_ONLY = frozenset({"cash_floor", "fee_rate", "approval_ttl", "max_price_drift"})
EDITABLE: tuple[str, ...] = (
    *(name for name in PolicySettings.model_fields if name not in START_UP_ONLY),
    "alert_signals",
    "alert_trades",
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
        key = name.strip().lower()
        if key in START_UP_ONLY:
            raise SettingsError(
                f"{key}: guards execution, so it changes only in the settings file or "
                f"environment (BALLAST_{key.upper()}) with a restart"
            )
        if key not in EDITABLE:
            raise SettingsError(
                f"{name}: not a setting that can be changed from Telegram "
                f"(try /settings to see them)"
            )
        self.note = None
        if key == "preset":  # a whole set of values, worked out in core
            target = raw
            if raw.strip().lower() in _RESET:
                if self.ledger is None:
                    raise SettingsError(f"{key}: reset is not available here")
                target = self.ledger.base.preset
            changed, self.note = switch_preset_in_chat(self.ledger, self.current, target)
            await self._apply(changed)
            self.current = changed
            return changed
        values: dict[str, Any] = {field: getattr(self.current, field)
                                  for field in Settings.model_fields}
        word = raw.strip().lower()
        if word in _RESET:
            if self.ledger is None:
                raise SettingsError(f"{key}: reset is not available here")
            values[key] = getattr(self.ledger.base, key)
        else:
            values[key] = None if word in _OFF and _optional(key) else raw.strip()
        try:
            changed = Settings(**values)
        except ValidationError as error:
            raise SettingsError(format_validation_error(error)) from None
        await self._apply(changed)
        self.current = changed
        return changed


def _optional(name: str) -> bool:
    """Whether the setting can be switched off (its type admits None)."""
    return type(None) in get_args(Settings.model_fields[name].annotation)
