"""Which assets get a signal: one rule for the engine's scanner and the fast backtest.

`core.engine.signals.SignalScanner.assets` and `core.backtest.simulation.Simulation.signal_assets`
both call `signal_assets`, so the live scan and the backtest cannot pick different assets. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable

from core.domain.models import Portfolio


def signal_assets(
    portfolio: Portfolio, watchlist: Iterable[str], cash_assets: Iterable[str]
) -> list[str]:
    """Holdings that are not dust, and watchlist assets with a price — cash assets left out."""
    held = {asset for asset, holding in portfolio.holdings.items() if not holding.dust}
    watched = {asset for asset in watchlist if asset in portfolio.prices}
    return sorted((held | watched) - set(cash_assets))
