"""Where the policy acts: the cash and position levels its rules start at, in one place.

The rules (`core.policy.rules`), the fast trigger screen (`core.policy.triggers`), the engine's
cash alert and every view that speaks of "too little cash" or "over its limit" read the levels
from here, so that no message promises what the policy will not do (issue: "Cash 24.9% is below
the 25% minimum. The next plan will raise cash." when the policy waits until 20%). Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum

from core.config.rules import PolicySettings


@dataclass(frozen=True, slots=True)
class Bands:
    """The policy's levels, as fractions of the portfolio's value.

    - cash below `raise_cash_below` (min_cash − cash_band) is raised back to `min_cash` by the
      next plan, when `raises_cash` (maintain_reserve) is on; between the two it waits;
    - cash above `max_cash` lets a plain BUY signal spend it (down to target_cash);
    - a holding above `trim_above` (max_position + trim_band) is trimmed to `max_position`;
    - a holding below `exit_below` (min_position) is sold off.
    """

    min_cash: Decimal
    raise_cash_below: Decimal
    max_cash: Decimal
    raises_cash: bool
    max_position: Decimal
    trim_above: Decimal
    exit_below: Decimal


def bands(settings: PolicySettings) -> Bands:
    """The levels at which `settings`' rules act."""
    return Bands(
        min_cash=settings.min_cash,
        raise_cash_below=settings.min_cash - settings.cash_band,
        max_cash=settings.max_cash,
        raises_cash=settings.maintain_reserve,
        max_position=settings.max_position,
        trim_above=settings.max_position + settings.trim_band,
        exit_below=settings.min_position,
    )


class CashLevel(IntEnum):
    """Where cash stands against the bands, lowest first."""

    RAISED_NEXT = 0
    """below min_cash − cash_band: the next plan sells to raise it (with maintain_reserve)"""
    WITHIN_BAND = 1
    """under min_cash but within cash_band of it: the policy waits"""
    FINE = 2
    ABOVE_MAX = 3
    """above max_cash: a plain BUY signal may spend it"""


def cash_level(allocation: Decimal, levels: Bands) -> CashLevel:
    """Where a cash share of `allocation` stands."""
    if allocation < levels.raise_cash_below:
        return CashLevel.RAISED_NEXT
    if allocation < levels.min_cash:
        return CashLevel.WITHIN_BAND
    if allocation > levels.max_cash:
        return CashLevel.ABOVE_MAX
    return CashLevel.FINE


class PositionLevel(IntEnum):
    """Where a holding's share stands against the position limits, lowest first."""

    EXITED_NEXT = 0
    FINE = 1
    WITHIN_TRIM_BAND = 2
    TRIMMED_NEXT = 3


def position_level(allocation: Decimal, levels: Bands) -> PositionLevel:
    """Where a holding worth `allocation` of the portfolio stands."""
    if allocation < levels.exit_below:
        return PositionLevel.EXITED_NEXT
    if allocation > levels.trim_above:
        return PositionLevel.TRIMMED_NEXT
    if allocation > levels.max_position:
        return PositionLevel.WITHIN_TRIM_BAND
    return PositionLevel.FINE
