"""Reading what the P&L figures (`core.account.pnl`) need: the account's trade history.

The exchange's own history of each market is the record (it holds the owner's trades and those
from before Ballast, which the average cost needs); where the exchange cannot give it, Ballast's
recorded fills stand in for that market.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Sequence
from datetime import datetime
from decimal import Decimal

from core.account.cost_basis import TradeHistory, own_fills_by_asset
from core.account.pnl import Profit, profit_report
from core.domain.models import Portfolio
from core.exchange.base import Fill
from core.exchange.errors import ExchangeError
from core.storage.store import Store

log = logging.getLogger(__name__)


async def account_fills(
    store: Store, history: TradeHistory, assets: Collection[str], quote: str, *,
    every_traded: bool = True,
) -> list[Fill]:
    """The trades of `assets` and (`every_traded`) of every asset Ballast traded, against
    `quote`, oldest first."""
    own = await own_fills_by_asset(store, quote)
    wanted = sorted(set(assets) | set(own)) if every_traded else sorted(assets)

    async def of(asset: str) -> list[Fill]:
        try:
            return await history.fetch_my_trades(f"{asset}/{quote}")
        except ExchangeError as error:
            log.info("trade history of %s/%s unavailable, Ballast's fills used: %s",
                     asset, quote, error)
            return own.get(asset, [])

    found = await asyncio.gather(*(of(asset) for asset in wanted))
    return sorted((f for fills in found for f in fills), key=lambda f: f.timestamp)


async def read_profit(
    store: Store,
    history: TradeHistory,
    portfolio: Portfolio,
    points: Sequence[tuple[datetime, Decimal]],
    *,
    now: datetime,
    day_start: datetime,
) -> Profit:
    """/profit for `portfolio` now, with the recorded values `points` (time, value)."""
    assets = set(portfolio.holdings) | set(portfolio.dust)
    fills = await account_fills(store, history, assets, portfolio.quote)
    return profit_report(now=now, day_start=day_start, quote=portfolio.quote,
                         value_now=portfolio.total_value, prices=portfolio.prices,
                         points=points, fills=fills)
