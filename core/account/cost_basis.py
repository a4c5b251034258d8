"""Cost basis: the average price paid per unit of each holding, where it can be known.

The pure part (`average_cost`, `explained_cost_basis`) turns a list of fills into an average
cost. The I/O part records Ballast's own fills in SQLite (the `fills` table) and rebuilds the
cost basis of holdings that predate Ballast from the exchange's trade history.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol

from core.domain.models import ZERO, PositionFacts, Side
from core.exchange.base import Fill, Order
from core.exchange.errors import ExchangeError
from core.storage.store import Store

log = logging.getLogger(__name__)

# How far the quantity the trades explain may differ from the balance (fee dust, rounding)
# before the history is judged not to explain the holding.
DEFAULT_TOLERANCE = Decimal("0.01")
BALLAST_SOURCE = "ballast"


@dataclass(frozen=True, slots=True)
class AverageCost:
    """A position rebuilt from fills: units held and what they cost in the quote currency.

    `complete` is False when a sell took more than the fills had bought, i.e. the fills do not
    start at the beginning of the position.
    """

    quantity: Decimal
    cost: Decimal
    complete: bool = True

    @property
    def average(self) -> Decimal | None:
        """The average cost per unit, or None with nothing held."""
        return self.cost / self.quantity if self.quantity > 0 else None


def average_cost(fills: Iterable[Fill]) -> AverageCost:
    """Replay fills of one market, oldest first, with the average-cost method.

    A buy adds its units and its cost (amount × price, plus the fee when charged in the quote);
    a fee charged in the base asset reduces the units received instead. A sell removes units at
    the current average, so the average is unchanged. A fee in a third currency (e.g. BNB) is
    left out: it cannot be converted without that currency's price at the time.
    """
    position = AverageCost(ZERO, ZERO)
    symbol: str | None = None
    for fill in sorted(fills, key=lambda f: f.timestamp):
        if symbol is None:
            symbol = fill.symbol
        elif fill.symbol != symbol:
            raise ValueError(f"fills of {symbol} and {fill.symbol} cannot share an average cost")
        position = after_fill(position, fill)
    return position


def after_fill(position: AverageCost, fill: Fill) -> AverageCost:
    """`position` after one more fill of its market (the method of `average_cost`).

    A sell of more than the position holds starts afresh, not `complete`.
    """
    base, quote = fill.symbol.split("/")
    fee_in_base = fill.fee if fill.fee_currency == base else ZERO
    fee_in_quote = fill.fee if fill.fee_currency == quote else ZERO
    if fill.side is Side.BUY:
        return AverageCost(position.quantity + fill.amount - fee_in_base,
                           position.cost + fill.amount * fill.price + fee_in_quote,
                           position.complete)
    sold = fill.amount + fee_in_base
    if sold > position.quantity:
        return AverageCost(ZERO, ZERO, complete=False)
    average = position.cost / position.quantity
    quantity = position.quantity - sold
    return AverageCost(quantity, average * quantity if quantity > 0 else ZERO,
                       position.complete)


def explained_cost_basis(
    fills: Iterable[Fill], held: Decimal, *, tolerance: Decimal = DEFAULT_TOLERANCE
) -> Decimal | None:
    """The average cost of `held` units if the fills explain the whole holding, else None.

    The fills explain a holding when replaying them never sells more than was bought and ends
    within `tolerance` (a fraction) of the amount held. Anything else means units came or went
    by deposit, withdrawal, transfer or trades outside the history, at prices nobody recorded.
    Such a holding's cost basis is *unknown* rather than a guess from part of the history: the
    stop-loss and the loss guard act on it, and a wrong cost basis would make them sell or hold
    on fiction, while an unknown one only switches them off for that asset.
    """
    if held <= 0:
        return None
    position = average_cost(fills)
    if not position.complete or abs(position.quantity - held) > tolerance * held:
        return None
    return position.average


class TradeHistory(Protocol):
    """Anything with the account's own trade history (every `Exchange` has it)."""

    async def fetch_my_trades(self, symbol: str, since: datetime | None = None) -> list[Fill]:
        """The account's own executions on one symbol, oldest first."""
        ...


async def record_fill(
    store: Store, fill: Fill, *, client_order_id: str | None = None, source: str = BALLAST_SOURCE
) -> bool:
    """Record one of Ballast's fills; recording the same fill again changes nothing.

    Returns True if the fill was new.
    """
    base, quote = fill.symbol.split("/")
    async with store.transaction() as conn:
        cursor = await conn.execute(
            "INSERT OR IGNORE INTO fills (fill_id, client_order_id, asset, quote, side, amount,"
            " price, fee, fee_currency, at, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                f"{fill.symbol}#{fill.trade_id}",
                client_order_id,
                base,
                quote,
                fill.side.value,
                str(fill.amount),
                str(fill.price),
                str(fill.fee),
                fill.fee_currency,
                fill.timestamp.astimezone(UTC).isoformat(timespec="microseconds"),
                source,
            ),
        )
    return cursor.rowcount == 1


async def record_order_fill(store: Store, order: Order, *, source: str = BALLAST_SOURCE) -> bool:
    """Record what an executed order filled, as one fill at its average price (idempotent).

    An order that filled nothing records nothing and returns False.
    """
    if order.filled <= 0 or order.average_price is None:
        return False
    order_id = order.exchange_order_id or order.client_order_id
    fill = Fill(
        trade_id=f"order:{order_id}",
        order_id=order_id,
        symbol=order.symbol,
        side=order.side,
        amount=order.filled,
        price=order.average_price,
        fee=order.fee,
        fee_currency=order.fee_currency,
        timestamp=order.timestamp or datetime.now(UTC),
    )
    return await record_fill(store, fill, client_order_id=order.client_order_id, source=source)


async def read_fills(store: Store, asset: str | None = None) -> list[Fill]:
    """Ballast's recorded fills (of one asset, or all), oldest first.

    Each fill's `order_id` is Ballast's client order id, the key the engine knows orders by.
    """
    query = "SELECT * FROM fills"
    params: tuple[str, ...] = ()
    if asset is not None:
        query += " WHERE asset = ?"
        params = (asset,)
    query += " ORDER BY at, rowid"
    fills: list[Fill] = []
    async with store.conn.execute(query, params) as cursor:
        async for row in cursor:
            fills.append(
                Fill(
                    trade_id=row["fill_id"].split("#", 1)[1],
                    order_id=row["client_order_id"],
                    symbol=f"{row['asset']}/{row['quote']}",
                    side=Side(row["side"]),
                    amount=Decimal(row["amount"]),
                    price=Decimal(row["price"]),
                    fee=Decimal(row["fee"]),
                    fee_currency=row["fee_currency"],
                    timestamp=datetime.fromisoformat(row["at"]),
                )
            )
    return fills


async def own_fills_by_asset(store: Store, quote: str) -> dict[str, list[Fill]]:
    """Ballast's recorded fills against `quote`, by base asset, oldest first."""
    by_asset: dict[str, list[Fill]] = {}
    for fill in await read_fills(store):
        base, fill_quote = fill.symbol.split("/")
        if fill_quote == quote:
            by_asset.setdefault(base, []).append(fill)
    return by_asset


async def rebuild_cost_basis(
    history: TradeHistory, asset: str, quote: str, held: Decimal
) -> Decimal | None:
    """The cost basis of `held` units of `asset` from the exchange's `ASSET/QUOTE` trades.

    None when the history does not explain the whole holding, or cannot be read (the exchange
    lacks the market or the endpoint): unknown stays unknown.
    """
    symbol = f"{asset}/{quote}"
    try:
        trades = await history.fetch_my_trades(symbol)
    except ExchangeError as error:
        log.warning("trade history of %s unavailable, cost basis unknown: %s", symbol, error)
        return None
    return explained_cost_basis(trades, held)


async def read_position_facts(
    store: Store, history: TradeHistory, held: Mapping[str, Decimal], quote: str
) -> dict[str, PositionFacts]:
    """Cost basis and Ballast's own last buy and sell, for held assets and any Ballast traded.

    The cost basis comes from the exchange's trade history when it explains the holding (it
    includes Ballast's trades), else from Ballast's recorded fills when those explain it (a
    position Ballast built from nothing), else it is unknown. Assets no longer held keep their
    last buy and sell (the rebuy cooldown needs them) with no cost basis.
    """
    own_by_asset = await own_fills_by_asset(store, quote)
    held_assets = sorted(asset for asset, amount in held.items() if amount > 0)
    rebuilt = await asyncio.gather(
        *(rebuild_cost_basis(history, asset, quote, held[asset]) for asset in held_assets)
    )
    bases = dict(zip(held_assets, rebuilt, strict=True))
    facts: dict[str, PositionFacts] = {}
    for asset in sorted(set(held_assets) | set(own_by_asset)):
        own = own_by_asset.get(asset, [])
        basis = bases.get(asset)
        if basis is None and own and asset in bases:
            basis = explained_cost_basis(own, held[asset])
        facts[asset] = PositionFacts(
            cost_basis=basis,
            last_buy=max((f.timestamp for f in own if f.side is Side.BUY), default=None),
            last_sell=max((f.timestamp for f in own if f.side is Side.SELL), default=None),
        )
    return facts
