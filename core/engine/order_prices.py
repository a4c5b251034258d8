"""What the exchange says just before an order is sent: the current price (and whether it
moved too far from the plan to send), the order's price limit, and how much of a buy the account
can pay. The executor (`core.engine.execution`) asks these again before every send."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal

from core.config.settings import Settings
from core.domain.models import ZERO, Portfolio
from core.domain.rounding import protection_limit
from core.engine.orders import OrderRow
from core.engine.outcomes import drift
from core.exchange.base import Exchange
from core.policy.buy_cap import buy_cap

PortfolioReader = Callable[[datetime], Awaitable[Portfolio]]


async def current_price(exchange: Exchange, row: OrderRow, max_price_drift: Decimal) -> tuple[
        Decimal | None, str | None]:
    """The price just before sending, and why it forbids sending (None: it does not)."""
    prices = await exchange.fetch_prices([row.symbol])
    price = prices.get(row.symbol)
    last = price.last if price is not None else None
    if last is None or not last.is_finite() or last <= 0:
        return None, f"no current price for {row.symbol}"
    moved = drift(row.planned_price, last)
    if moved > max_price_drift:
        return last, (
            f"{row.asset} moved {moved:.1%} since the plan "
            f"(limit {max_price_drift:.1%})"
        )
    return last, None


async def price_limit(exchange: Exchange, row: OrderRow, reference: Decimal,
                      max_slippage: Decimal) -> Decimal:
    """The order's price limit: `max_slippage` from `reference`, on the market's tick."""
    markets = await exchange.load_markets()
    market = markets.get(row.symbol)
    tick = market.rules.price_tick if market else None
    return protection_limit(row.side, reference, max_slippage, tick)


async def affordable(exchange: Exchange, read_portfolio: PortfolioReader, row: OrderRow,
                     now: datetime, settings: Settings) -> tuple[Decimal, str]:
    """How much of a buy the account can pay now without taking cash below the floor."""
    portfolio = await read_portfolio(now)  # its quote_free is the cash a buy can spend
    quote = settings.quote
    markets = await exchange.load_markets()
    market = markets.get(row.symbol)
    return buy_cap(
        row.asset, row.amount, row.planned_price,
        portfolio=portfolio,
        free_quote=portfolio.quote_free if portfolio.quote_free is not None else ZERO,
        rules=market.rules if market is not None else None,
        quote=quote,
        cash_floor=settings.cash_floor,
        fee_rate=settings.fee_rate,
        max_slippage=settings.max_slippage,
        max_position=settings.max_position,
    )
