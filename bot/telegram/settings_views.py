"""/settings on a phone: grouped (cash, positions, signals, trading, alerts), in % and durations,
with buttons for the common changes; after a change, only what changed. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.telegram.callbacks import Action, encode
from bot.telegram.format import LINE_WIDTH, esc, fit
from bot.telegram.setting_words import grouped, value_text
from bot.telegram.views import View
from core.config.settings import AlertLevel

NAME_WIDTH = 21
STEP = Decimal("0.05")

# The buttons' steps: key → (label, the settings it changes and by how much, or a switch).
STEPS: dict[str, tuple[str, tuple[tuple[str, Decimal], ...]]] = {
    "cash_down": ("💵 Cash −5%", (("min_cash", -STEP), ("target_cash", -STEP))),
    "cash_up": ("💵 Cash +5%", (("target_cash", STEP), ("min_cash", STEP))),
    "pos_down": ("📦 Max position −5%", (("max_position", -STEP),)),
    "pos_up": ("📦 Max position +5%", (("max_position", STEP),)),
}
# Switches: key → the on/off setting it flips.
SWITCHES = {"signal_alerts": "alert_signals", "sell_signal": "sell_on_signal"}


def settings_view(values: Mapping[str, object], sources: Mapping[str, str] | None = None) -> View:
    """Every setting the chat may change, by group, as the owner reads them; `sources` marks
    those changed in the chat (name → chat / env / file / default)."""
    lines = ["⚙️ <b>Settings</b>"]
    changed_here = {name for name, source in (sources or {}).items() if source == "chat"}
    for title, names in grouped(values):
        lines.append(f"<b>{esc(title)}</b>")
        rows = [_row(name, values[name], name in changed_here) for name in names]
        lines.append("<pre>" + "\n".join(esc(row) for row in rows) + "</pre>")
    if changed_here:
        lines.append("* changed here; to undo one:")
        lines.append("<code>/settings NAME reset</code>")
    lines.append("Change: <code>/settings min_cash 22%</code>")
    lines.append("Durations: <code>30d</code>, <code>1h</code>, <code>15m</code>")
    lines.append("Together: <code>/settings min_cash 30%</code>")
    lines.append("<code>  target_cash 30%</code>")
    return View("\n".join(lines), step_buttons(values))


def _row(name: str, value: object, here: bool) -> str:
    shown = f"{name}{'*' if here else ''}"
    text = value_text(name, value)
    return fit(f"{shown:<{NAME_WIDTH}} {text}", LINE_WIDTH)


def step_buttons(values: Mapping[str, object]) -> InlineKeyboardMarkup:
    """The common changes as buttons (only for settings the chat may change)."""
    rows = []
    for down, up in (("cash_down", "cash_up"), ("pos_down", "pos_up")):
        if all(name in values for _, steps in (STEPS[down], STEPS[up]) for name, _ in steps):
            rows.append([InlineKeyboardButton(STEPS[key][0],
                                              callback_data=encode(Action.SETTINGS_STEP, key=key))
                         for key in (down, up)])
    switches = []
    for key, name in SWITCHES.items():
        if name in values:
            state = "off" if _on(values[name]) else "on"
            label = f"{name.replace('_', ' ').capitalize()} {state}"
            switches.append(InlineKeyboardButton(
                label, callback_data=encode(Action.SETTINGS_STEP, key=key)))
    if switches:
        rows.append(switches)
    return InlineKeyboardMarkup(rows)


def _on(value: object) -> bool:
    """Whether a switch is on: a flag that is set, or an alert level other than `off` (the
    level is a string, so "off" alone would read as true)."""
    return bool(value) and value != AlertLevel.OFF


def step_changes(key: str, values: Mapping[str, object]) -> list[tuple[str, str]] | None:
    """The (name, value) pairs a button asks for, from the values in force; None: unknown."""
    if key in SWITCHES:
        name = SWITCHES[key]
        return [(name, "off" if _on(values.get(name)) else "on")] if name in values else None
    if key not in STEPS:
        return None
    pairs = []
    for name, delta in STEPS[key][1]:
        current = values.get(name)
        if not isinstance(current, Decimal):
            return None
        pairs.append((name, f"{(current + delta).normalize():f}"))
    return pairs


def changed_view(before: Mapping[str, object], after: Mapping[str, object]) -> View:
    """What a change changed, one line each ("min_cash 25% → 22%"), and nothing else."""
    lines = [f"✅ {esc(name)} {esc(value_text(name, before.get(name)))} → "
             f"<b>{esc(value_text(name, after[name]))}</b>"
             for name in after if before.get(name) != after[name]]
    if not lines:
        lines = ["No change: that is the value in force."]
    return View("\n".join(lines))
