"""The account snapshot: every balance, priced in one batch, valued as in docs/rules.md.

The I/O shell around `core.domain.valuation`: read balances and markets from the exchange,
choose the symbols to price, fetch all prices at once, and hand everything to the pure valuation.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from core.config.settings import Settings
from core.domain.models import Holding, Portfolio
from core.domain.valuation import symbols_to_price, value_portfolio
from core.exchange.base import Exchange


async def read_portfolio(
    exchange: Exchange,
    settings: Settings,
    now: datetime,
    *,
    watchlist: Sequence[str] | None = None,
    max_price_age: int | None = None,
) -> Portfolio:
    """The whole account valued in `settings.quote` at `now`.

    Watchlist assets (default `settings.watchlist`) are priced too, so the policy can size buys
    of assets not held. `max_price_age` (seconds) overrides the setting, e.g. for replayed
    candles whose closes are up to one candle old.
    """
    watch = tuple(settings.watchlist if watchlist is None else watchlist)
    balances = await exchange.fetch_balances()
    markets = await exchange.load_markets()
    assets = sorted(set(balances) | set(watch))
    symbols = symbols_to_price(assets, quote=settings.quote, available=set(markets))
    prices = await exchange.fetch_prices(symbols) if symbols else {}
    rules = {m.base: m.rules for m in markets.values() if m.quote == settings.quote}
    age = settings.max_price_age if max_price_age is None else max_price_age
    return value_portfolio(
        balances,
        prices,
        quote=settings.quote,
        cash_assets=settings.cash_assets,
        markets=rules,
        now=now,
        max_price_age=timedelta(seconds=age),
        watchlist=watch,
        listed={symbol for symbol, market in markets.items() if market.active},
    )


def unrealised_pnl(holding: Holding, cost_basis: Decimal | None) -> Decimal | None:
    """What the holding gained (or lost) against its cost basis, in the quote; None if unknown."""
    if cost_basis is None:
        return None
    return holding.value - cost_basis * holding.amount
