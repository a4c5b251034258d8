"""A backtest's `--input PORTFOLIO.json`: the what-if format (docs/formats.md), as a start.

What a backtest takes from the file: `quote`, `balances` (the starting portfolio), each
position's `cost_basis`, `watchlist` and `settings` (policy overrides, validated like the
settings file). What it does not: `prices`, `signals`, `markets` and `now` describe one moment,
and the replayed history supplies all of them; a position's `last_buy`/`last_sell` belong to
that moment's clock, so they are left out rather than blocking sells for years.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from core.config.settings import PolicySettings, SettingsError
from core.domain.models import Balance, PositionFacts
from core.exchange.factory import parse_balances

KNOWN_FIELDS = {"quote", "balances", "prices", "signals", "positions", "markets", "watchlist",
                "settings", "now"}


@dataclass(frozen=True, slots=True)
class PortfolioFile:
    """What a backtest reads from a what-if file."""

    quote: str
    balances: dict[str, Balance]
    positions: dict[str, PositionFacts]
    watchlist: tuple[str, ...] | None
    settings: dict[str, Any]


def parse_portfolio(data: Any, where: str) -> PortfolioFile:
    """Read a parsed what-if JSON document; `SettingsError` names the offending field."""
    if not isinstance(data, Mapping):
        raise SettingsError(f"{where}: must be a JSON object with at least `balances`")
    unknown = sorted(set(data) - KNOWN_FIELDS)
    if unknown:
        raise SettingsError(f"{where}: {unknown[0]} is not a field of the what-if format")
    if "balances" not in data:
        raise SettingsError(f"{where}: balances is required")
    quote = data.get("quote", "USDT")
    if not isinstance(quote, str) or not quote.strip():
        raise SettingsError(f"{where}: quote = {quote!r}: must be a currency code like USDT")
    return PortfolioFile(
        quote=quote.strip().upper(),
        balances=parse_balances(data["balances"], where),
        positions=_positions(data.get("positions", {}), where),
        watchlist=_watchlist(data.get("watchlist"), where),
        settings=_settings(data.get("settings", {}), where),
    )


def _positions(data: Any, where: str) -> dict[str, PositionFacts]:
    if not isinstance(data, Mapping):
        raise SettingsError(f"{where}: positions must be an object of assets")
    positions: dict[str, PositionFacts] = {}
    for asset, entry in data.items():
        if not isinstance(entry, Mapping):
            raise SettingsError(f"{where}: positions.{asset} must be an object")
        value = entry.get("cost_basis")
        if value is None:
            continue
        field = f"{where}: positions.{asset}.cost_basis"
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise SettingsError(f"{field} = {value!r}: must be a number or a decimal string")
        try:
            cost = Decimal(str(value))
        except InvalidOperation:
            raise SettingsError(f"{field} = {value!r}: not a number") from None
        if not cost.is_finite() or cost <= 0:
            raise SettingsError(f"{field} = {value!r}: must be above zero")
        positions[str(asset).upper()] = PositionFacts(cost_basis=cost)
    return positions


def _watchlist(data: Any, where: str) -> tuple[str, ...] | None:
    if data is None:
        return None
    if not isinstance(data, list) or not all(isinstance(a, str) for a in data):
        raise SettingsError(f"{where}: watchlist must be a list of asset names")
    return tuple(a.strip().upper() for a in data if a.strip())


def _settings(data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise SettingsError(f"{where}: settings must be an object of policy settings")
    unknown = sorted(set(data) - set(PolicySettings.model_fields))
    if unknown:
        raise SettingsError(f"{where}: settings.{unknown[0]} is not a policy setting")
    return dict(data)
