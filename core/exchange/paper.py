"""The paper exchange: simulated market orders with the real exchange's fees, rounding and minimums.

Balances and orders live in SQLite (`paper_balances`, `paper_orders`), so a restart keeps the
paper account. Prices come from a `PriceSource` (a live public exchange, or candles replayed on a
clock); market rules from the shipped markets file. Orders are refused with the same error types
the live adapter raises, so a plan that works on paper works on the exchange.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal

import aiosqlite

from core.domain.models import ZERO, Balance, Candle, Market, Price, Side
from core.exchange.base import Fill, Order, OrderRequest, OrderStatus, client_order_id_problem
from core.exchange.errors import ExchangeUnavailable, InvalidOrder
from core.exchange.fill_model import fill_price, order_amount, simulate_fill, within_limit
from core.exchange.prices import Clock, PriceSource, utc_now
from core.storage.store import Store


class PaperExchange:
    """An `Exchange` that fills orders at once at the current price ± slippage.

    A limit order (`OrderRequest.limit_price`) fills the same way when that price is within
    its limit, and otherwise ends at once unfilled (`expired`), as an IOC order would.

    A buy pays `price × (1 + slippage)`, a sell gets `price × (1 − slippage)` (on the price
    tick); the fee is `fee_rate × cost`, charged in the quote currency. Amounts are floored to
    the market's step and checked against its minimums exactly like the live adapter. A client
    order id is used once: creating it again returns the existing order and fills nothing.
    """

    def __init__(
        self,
        store: Store,
        prices: PriceSource,
        markets: Mapping[str, Market],
        *,
        fee_rate: Decimal,
        slippage: Decimal = ZERO,
        clock: Clock = utc_now,
        name: str = "paper",
    ) -> None:
        if fee_rate < 0 or slippage < 0:
            raise ValueError(
                f"fee_rate ({fee_rate}) and slippage ({slippage}) must not be negative"
            )
        self._store = store
        self._prices = prices
        self._markets = dict(markets)
        self._fee_rate = fee_rate
        self._slippage = slippage
        self._clock = clock
        self._name = name
        # One connection serves every coroutine: orders must not interleave their transactions.
        self._lock = asyncio.Lock()

    @property
    def name(self) -> str:
        """The exchange id reported to the owner (`paper`)."""
        return self._name

    async def is_seeded(self) -> bool:
        """Whether this database already holds a paper account (balances or orders)."""
        for table in ("paper_balances", "paper_orders"):
            async with self._store.conn.execute(f"SELECT 1 FROM {table} LIMIT 1") as cursor:
                if await cursor.fetchone() is not None:
                    return True
        return False

    async def seed(self, balances: Mapping[str, Balance]) -> bool:
        """Start a fresh paper account with `balances`; an existing account is kept as it is.

        Returns True if the balances were written, False if the account already existed.
        """
        async with self._lock:
            if await self.is_seeded():
                return False
            async with self._store.transaction():
                for asset, balance in balances.items():
                    await self._write_balance(asset.upper(), balance)
            return True

    async def load_markets(self) -> Mapping[str, Market]:
        """The shipped market rules this paper exchange trades by."""
        return dict(self._markets)

    async def fetch_balances(self) -> dict[str, Balance]:
        """Every paper asset with a non-zero balance."""
        balances: dict[str, Balance] = {}
        async with self._store.conn.execute(
            "SELECT asset, free, locked FROM paper_balances ORDER BY asset"
        ) as cursor:
            async for row in cursor:
                balance = Balance(free=Decimal(row["free"]), locked=Decimal(row["locked"]))
                if balance.total != 0:
                    balances[row["asset"]] = balance
        return balances

    async def fetch_prices(self, symbols: Sequence[str]) -> dict[str, Price]:
        """Prices from the price source."""
        return await self._prices.fetch_prices(symbols)

    async def fetch_candles(
        self, symbol: str, timeframe: str, since: int | None = None, limit: int | None = None
    ) -> list[Candle]:
        """Candles from the price source."""
        return await self._prices.fetch_candles(symbol, timeframe, since, limit)

    async def create_order(self, request: OrderRequest) -> Order:
        """Fill a market order at once, or refuse it as the real exchange would.

        Raises `InvalidOrder` (unknown market, malformed client id, or one reused for another
        order), `BelowMinimum` (amount or value under the market's minimums once floored to the
        step), `InsufficientFunds`, or `ExchangeUnavailable` (no current price).
        """
        problem = client_order_id_problem(request.client_order_id)
        if problem is not None:
            raise InvalidOrder(problem)
        async with self._lock:
            existing = await self._read_order(request.client_order_id)
            if existing is not None:
                if existing.symbol != request.symbol or existing.side != request.side:
                    raise InvalidOrder(
                        f"client order id {request.client_order_id} was already used for a "
                        f"{existing.side} of {existing.symbol}"
                    )
                return existing
            market = self._market(request.symbol)
            last = await self._last_price(request.symbol)
            amount = order_amount(request.side, request.amount, market, last)
            price = fill_price(request.side, last, market, self._slippage)
            if not within_limit(request.side, price, request.limit_price):
                return await self._expire(request, amount)
            return await self._fill(request, market, amount, last)

    async def fetch_order_by_client_id(self, symbol: str, client_order_id: str) -> Order | None:
        """The paper order with this client order id on `symbol`, or None."""
        order = await self._read_order(client_order_id)
        if order is None or order.symbol != symbol:
            return None
        return order

    async def fetch_open_orders(self, symbol: str | None = None) -> list[Order]:
        """Always empty: paper orders fill at once or end unfilled."""
        return []

    async def fetch_orders(self, symbol: str, since: datetime | None = None) -> list[Order]:
        """The paper account's orders on `symbol` from `since` on, oldest first."""
        query = "SELECT * FROM paper_orders WHERE symbol = ?"
        params = [symbol]
        if since is not None:
            query += " AND created_at >= ?"
            params.append(_utc_text(since))
        async with self._store.conn.execute(query + " ORDER BY created_at", params) as cursor:
            rows = await cursor.fetchall()
        return [_order_from_row(row) for row in rows]

    async def cancel_order(self, symbol: str, client_order_id: str) -> Order | None:
        """The order as it ended: paper orders are never left open, so nothing is cancelled."""
        return await self.fetch_order_by_client_id(symbol, client_order_id)

    async def fetch_my_trades(self, symbol: str, since: datetime | None = None) -> list[Fill]:
        """The paper account's fills on `symbol` (one per order), oldest first."""
        query = "SELECT * FROM paper_orders WHERE symbol = ? AND status = ?"
        params: list[str] = [symbol, OrderStatus.FILLED.value]
        if since is not None:
            query += " AND created_at >= ?"
            params.append(_utc_text(since))
        query += " ORDER BY created_at, rowid"
        fills: list[Fill] = []
        async with self._store.conn.execute(query, params) as cursor:
            async for row in cursor:
                order = _order_from_row(row)
                if order.average_price is None or order.timestamp is None:
                    continue
                fills.append(
                    Fill(
                        trade_id=row["exchange_order_id"],
                        order_id=row["exchange_order_id"],
                        symbol=order.symbol,
                        side=order.side,
                        amount=order.filled,
                        price=order.average_price,
                        fee=order.fee,
                        fee_currency=order.fee_currency,
                        timestamp=order.timestamp,
                    )
                )
        return fills

    async def close(self) -> None:
        """Close the price source (the store belongs to the caller)."""
        await self._prices.close()

    def _market(self, symbol: str) -> Market:
        market = self._markets.get(symbol)
        if market is None or not market.active:
            raise InvalidOrder(f"{symbol} is not a market this exchange trades")
        return market

    async def _last_price(self, symbol: str) -> Decimal:
        price = (await self._prices.fetch_prices([symbol])).get(symbol)
        if price is None or price.last is None or not price.last.is_finite() or price.last <= 0:
            raise ExchangeUnavailable(f"no current price for {symbol}: cannot fill a paper order")
        return price.last

    async def _fill(
        self, request: OrderRequest, market: Market, amount: Decimal, last: Decimal
    ) -> Order:
        async with self._store.transaction():
            fill = simulate_fill(
                request.side,
                amount,
                last,
                market,
                fee_rate=self._fee_rate,
                slippage=self._slippage,
                base=await self._read_balance(market.base),
                quote=await self._read_balance(market.quote),
            )
            await self._write_balance(market.base, fill.base)
            await self._write_balance(market.quote, fill.quote)
            order = Order(
                client_order_id=request.client_order_id,
                exchange_order_id=await self._next_order_id(),
                symbol=request.symbol,
                side=request.side,
                status=OrderStatus.FILLED,
                amount=amount,
                filled=amount,
                average_price=fill.price,
                cost=fill.cost,
                fee=fill.fee,
                fee_currency=market.quote,
                timestamp=self._clock(),
            )
            await self._write_order(order)
        return order

    async def _expire(self, request: OrderRequest, amount: Decimal) -> Order:
        """A limit order the price is beyond: it ends at once with nothing filled (IOC)."""
        async with self._store.transaction():
            order = Order(
                client_order_id=request.client_order_id,
                exchange_order_id=await self._next_order_id(),
                symbol=request.symbol,
                side=request.side,
                status=OrderStatus.EXPIRED,
                amount=amount,
                filled=ZERO,
                average_price=None,
                cost=ZERO,
                fee=ZERO,
                fee_currency=None,
                timestamp=self._clock(),
            )
            await self._write_order(order)
        return order

    async def _read_balance(self, asset: str) -> Balance:
        async with self._store.conn.execute(
            "SELECT free, locked FROM paper_balances WHERE asset = ?", (asset,)
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return Balance(ZERO)
        return Balance(free=Decimal(row["free"]), locked=Decimal(row["locked"]))

    async def _write_balance(self, asset: str, balance: Balance) -> None:
        await self._store.conn.execute(
            "INSERT INTO paper_balances (asset, free, locked) VALUES (?, ?, ?) "
            "ON CONFLICT (asset) DO UPDATE SET free = excluded.free, locked = excluded.locked",
            (asset, str(balance.free), str(balance.locked)),
        )

    async def _next_order_id(self) -> str:
        async with self._store.conn.execute("SELECT COUNT(*) FROM paper_orders") as cursor:
            row = await cursor.fetchone()
        return f"paper-{(int(row[0]) if row else 0) + 1}"

    async def _write_order(self, order: Order) -> None:
        timestamp = order.timestamp or self._clock()
        await self._store.conn.execute(
            "INSERT INTO paper_orders (client_order_id, exchange_order_id, symbol, side, status,"
            " amount, filled, average_price, cost, fee, fee_currency, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                order.client_order_id,
                order.exchange_order_id,
                order.symbol,
                order.side.value,
                order.status.value,
                str(order.amount),
                str(order.filled),
                None if order.average_price is None else str(order.average_price),
                str(order.cost),
                str(order.fee),
                order.fee_currency,
                _utc_text(timestamp),
            ),
        )

    async def _read_order(self, client_order_id: str) -> Order | None:
        async with self._store.conn.execute(
            "SELECT * FROM paper_orders WHERE client_order_id = ?", (client_order_id,)
        ) as cursor:
            row = await cursor.fetchone()
        return None if row is None else _order_from_row(row)


def _utc_text(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError(f"time {moment} has no time zone; Ballast works in UTC")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _order_from_row(row: aiosqlite.Row) -> Order:
    average = row["average_price"]
    return Order(
        client_order_id=row["client_order_id"],
        exchange_order_id=row["exchange_order_id"],
        symbol=row["symbol"],
        side=Side(row["side"]),
        status=OrderStatus(row["status"]),
        amount=Decimal(row["amount"]),
        filled=Decimal(row["filled"]),
        average_price=None if average is None else Decimal(average),
        cost=Decimal(row["cost"]),
        fee=Decimal(row["fee"]),
        fee_currency=row["fee_currency"],
        timestamp=datetime.fromisoformat(row["created_at"]),
    )
