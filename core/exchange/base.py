"""The async `Exchange` protocol that the rest of core uses.

Live (ccxt), paper and backtest exchanges all implement it, so the engine has one code path.
Amounts and prices are `Decimal`; symbols are ccxt-style `BASE/QUOTE`; times are UTC.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, runtime_checkable

from core.domain.models import Balance, Candle, Market, Price, Side

CLIENT_ORDER_ID = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")
"""Binance's rule for client order ids. The live and paper adapters check it before sending
(an id that works on paper works on the exchange), and the Binance stand-in enforces it."""


def client_order_id_problem(client_order_id: str) -> str | None:
    """Why `client_order_id` breaks `CLIENT_ORDER_ID`, or None when it is fine."""
    if CLIENT_ORDER_ID.match(client_order_id):
        return None
    return (f"client order id {client_order_id!r} must be 1-36 characters of "
            "letters, digits and . : / _ -")


class OrderStatus(StrEnum):
    """Where an order stands at the exchange."""

    OPEN = "open"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """An order for `amount` of the base asset, tagged with Ballast's client order id.

    Without `limit_price` a market order. With it a limit order: a buy pays at most, a sell gets
    at least, that price; it fills what it can at once and the rest ends (IOC) where the
    exchange supports that, else it rests until Ballast cancels it (`order_timeout`).
    """

    symbol: str
    side: Side
    amount: Decimal
    client_order_id: str
    limit_price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Order:
    """An order as the exchange reports it, with what has been filled so far."""

    client_order_id: str
    exchange_order_id: str | None
    symbol: str
    side: Side
    status: OrderStatus
    amount: Decimal
    filled: Decimal
    average_price: Decimal | None
    cost: Decimal
    fee: Decimal
    fee_currency: str | None
    timestamp: datetime | None


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution from the account's own trade history."""

    trade_id: str
    order_id: str | None
    symbol: str
    side: Side
    amount: Decimal
    price: Decimal
    fee: Decimal
    fee_currency: str | None
    timestamp: datetime


@runtime_checkable
class Exchange(Protocol):
    """What Ballast needs from an exchange. Implementations raise `core.exchange.errors` types."""

    @property
    def name(self) -> str:
        """The exchange id (e.g. `binance`, `paper`)."""
        ...

    async def load_markets(self) -> Mapping[str, Market]:
        """Spot markets by symbol, with amount step, price tick and minimums."""
        ...

    async def fetch_balances(self) -> dict[str, Balance]:
        """Every asset with a non-zero balance, free and locked."""
        ...

    async def fetch_prices(self, symbols: Sequence[str]) -> dict[str, Price]:
        """Last prices for many symbols in one batch; symbols the exchange lacks are omitted."""
        ...

    async def fetch_candles(
        self, symbol: str, timeframe: str, since: int | None = None, limit: int | None = None
    ) -> list[Candle]:
        """Candles from `since` (epoch ms of an open), oldest first; the last may be forming."""
        ...

    async def create_order(self, request: OrderRequest) -> Order:
        """Place an order. Never retried blindly: on a lost response, look it up."""
        ...

    async def fetch_order_by_client_id(self, symbol: str, client_order_id: str) -> Order | None:
        """The order with this client order id, or None if the exchange has none."""
        ...

    async def cancel_order(self, symbol: str, client_order_id: str) -> Order | None:
        """Cancel what is left of an open order; the order as it ended (None: no such order).

        An order that already ended is returned as it is: cancelling is safe to repeat.
        """
        ...

    async def fetch_open_orders(self, symbol: str | None = None) -> list[Order]:
        """Orders still open (on one symbol, or all)."""
        ...

    async def fetch_orders(self, symbol: str, since: datetime | None = None) -> list[Order]:
        """The account's orders on one symbol, open and ended, placed from `since` on.

        Whoever sent them: Ballast compares their client order ids with its own record, so an
        order a second machine sent on the same account is seen.
        """
        ...

    async def fetch_my_trades(self, symbol: str, since: datetime | None = None) -> list[Fill]:
        """The account's own executions on one symbol, oldest first."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
