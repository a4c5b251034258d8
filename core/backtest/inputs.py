"""A backtest's `--input PORTFOLIO.json`: the what-if format (docs/formats.md), as a start.

What a backtest takes from the file: `quote`, `balances` (the starting portfolio), each
position's `cost_basis`, `watchlist` and `settings` (policy overrides, validated like the
settings file). What it does not: `prices`, `signals`, `markets` and `now` describe one moment,
and the replayed history supplies all of them; a position's `last_buy`/`last_sell` belong to
that moment's clock, so they are left out rather than blocking sells for years. The whole file
is still validated by the what-if format's model, so a file `ballast plan` refuses is refused
here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.config.rules import PolicySettings
from core.config.settings import SettingsError
from core.domain.models import Balance, PositionFacts
from core.policy.whatif import read_json_file, read_portfolio_document


@dataclass(frozen=True, slots=True)
class PortfolioFile:
    """What a backtest reads from a what-if file."""

    quote: str
    balances: dict[str, Balance]
    positions: dict[str, PositionFacts]
    watchlist: tuple[str, ...] | None
    settings: dict[str, Any]


def read_portfolio_file(path: Path, where: str) -> PortfolioFile:
    """The what-if file at `path` as a backtest's starting point; errors start with `where`."""
    return parse_portfolio(read_json_file(path, where), where)


def parse_portfolio(data: Any, where: str) -> PortfolioFile:
    """Read a parsed what-if JSON document; `SettingsError` names the offending field."""
    doc = read_portfolio_document(data, where)
    if "cash_assets" in doc.model_fields_set:
        # Refused rather than ignored: the backtest counts the settings' cash assets as cash.
        raise SettingsError(f"{where}: cash_assets is not read by a backtest; "
                            "set BALLAST_CASH_ASSETS instead")
    unknown = sorted(set(doc.settings) - set(PolicySettings.model_fields))
    if unknown:
        raise SettingsError(f"{where}: settings.{unknown[0]} is not a policy setting")
    return PortfolioFile(
        quote=doc.quote,
        balances=doc.account(),
        positions={asset: PositionFacts(cost_basis=position.cost_basis)
                   for asset, position in doc.positions.items()
                   if position.cost_basis is not None},
        watchlist=doc.watchlist if "watchlist" in doc.model_fields_set else None,
        settings=dict(doc.settings),
    )
