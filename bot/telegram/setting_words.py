"""Settings as the owner reads and types them on a phone: shares in %, durations in d/h/m/s,
grouped by what they govern. Pure: names and values in, text out (or a value to validate).

Typed input is only translated here (`22%` → 0.22, `30d` → 2592000); whether a value is allowed
stays the settings' own validation (`core.config`), so the chat accepts exactly what start-up
accepts. Plain numbers keep working (`min_cash 0.22`, `turnover_period 2592000`).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

from core.config.rules import PolicySettings

# Settings that are a share of the portfolio (or a fraction of a price): shown and typed in %.
PERCENT = frozenset({
    "min_cash", "target_cash", "max_cash", "cash_floor", "buy_cash_threshold", "cash_band",
    "min_position", "max_position", "trim_band", "stop_loss", "signal_sell_max_loss",
    "turnover_budget", "fee_rate", "max_price_drift", "max_slippage",
})
# Settings in seconds: shown and typed as durations.
DURATION = frozenset(name for name, field in PolicySettings.model_fields.items()
                     if field.description == "seconds") | {"approval_ttl"}

# The groups of /settings, in order; a setting in none of them is listed under "Other".
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("💵 Cash", ("min_cash", "target_cash", "max_cash", "buy_cash_threshold", "cash_band",
                "maintain_reserve")),
    ("📦 Positions", ("min_position", "max_position", "trim_band", "stop_loss",
                     "signal_sell_max_loss", "never_sell", "keep_small_holdings")),
    ("📡 Signals", ("sell_on_signal", "sizing", "watchlist")),
    ("🔁 Trading", ("preset", "plan_on", "max_trades_per_cycle", "min_trade_value",
                   "cost_multiple", "turnover_budget", "turnover_period", "min_hold",
                   "rebuy_cooldown", "rebalance_interval", "scan_interval")),
    ("🔔 Alerts", ()),  # every alert_* setting
)

_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


class InputError(ValueError):
    """Typed input that is not a value of its kind; the message names what was written."""


def group_of(name: str) -> str:
    """The group a setting is listed in."""
    if name.startswith("alert_"):
        return "🔔 Alerts"
    for title, names in GROUPS:
        if name in names:
            return title
    return "⚙️ Other"


def grouped(names: Iterable[str]) -> list[tuple[str, list[str]]]:
    """`names` by group, in the groups' order and each group's own order."""
    order = {name: i for _, members in GROUPS for i, name in enumerate(members)}
    titles = [title for title, _ in GROUPS] + ["⚙️ Other"]
    found: dict[str, list[str]] = {}
    for name in names:
        found.setdefault(group_of(name), []).append(name)
    for members in found.values():
        members.sort(key=lambda n: (order.get(n, len(order)), n))
    return [(title, found[title]) for title in titles if title in found]


def duration_text(seconds: int) -> str:
    """`300` → `5m`, `2592000` → `30d`, `5400` → `1h30m`, `0` → `0s`."""
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in _UNITS.items():
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def percent_text(fraction: Decimal) -> str:
    """`0.25` → `25%`, `0.001` → `0.1%`."""
    text = f"{(fraction * 100).normalize():f}"
    return f"{text}%"


def value_text(name: str, value: object) -> str:
    """A setting's value as the owner reads it."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if value is None:
        return "off"
    if isinstance(value, tuple | list):
        return ", ".join(str(v) for v in value) or "(none)"
    if name in PERCENT and isinstance(value, Decimal | float | int):
        return percent_text(Decimal(str(value)))
    if name in DURATION and isinstance(value, int):
        return duration_text(value)
    return str(value)


def parse_value(name: str, raw: str) -> str:
    """The text to validate for `name` from what the owner typed: `22%` → `0.22` for a share,
    `30d`/`1h`/`15m` → seconds for a duration; anything else unchanged."""
    text = raw.strip()
    if name in PERCENT and text.endswith("%"):
        try:
            return f"{(Decimal(text[:-1].strip()) / 100).normalize():f}"
        except InvalidOperation:
            raise InputError(f"{name} {raw}: not a percentage (e.g. 22%)") from None
    if name in DURATION and text and not text.isdigit():
        match = _DURATION.fullmatch(text.lower())
        if match is None or not any(match.groups()):
            raise InputError(f"{name} {raw}: not a duration (e.g. 30d, 1h, 15m or seconds)")
        return str(sum(int(count or 0) * size
                       for count, size in zip(match.groups(), _UNITS.values(), strict=True)))
    return text


def did_you_mean(name: str, known: Iterable[str]) -> str | None:
    """The setting `name` was probably meant to be (`mincash` → `min_cash`), or None."""
    names = list(known)
    squeezed = name.replace("_", "").replace("-", "").lower()
    for candidate in names:
        if candidate.replace("_", "") == squeezed:
            return candidate
    close = difflib.get_close_matches(name.lower(), names, n=1, cutoff=0.75)
    return close[0] if close else None
