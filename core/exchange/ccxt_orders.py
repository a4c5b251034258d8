"""Orders on a live ccxt exchange: placed exactly once, cancelled, looked up by client id.

`OrderDesk` is the order half of `core.exchange.ccxt_exchange.CcxtExchange`, which reads
markets, balances, prices and history. An order is rounded to the market's step and refused
locally below its minimums; it is sent once and never resent here. When its answer is lost the
order is looked up by its client order id, and if it cannot be found the caller gets
`OrderOutcomeUnknown` and decides.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

from core.domain.models import Market, Price, Side
from core.domain.rounding import floor_to_step, on_tick, order_problem
from core.exchange.base import Order, OrderRequest, client_order_id_problem
from core.exchange.ccxt_errors import Redactor, translate
from core.exchange.ccxt_loader import ccxt
from core.exchange.ccxt_parsing import parse_fee, parse_order
from core.exchange.ccxt_retry import RetryPolicy, Sleep
from core.exchange.errors import (
    BelowMinimum,
    ExchangeError,
    ExchangeUnavailable,
    InvalidOrder,
    OrderOutcomeUnknown,
    RateLimited,
)

log = logging.getLogger(__name__)


class Reader(Protocol):
    """A read with retries and translated errors (`CcxtExchange`'s)."""

    async def __call__[T](self, action: str, call: Callable[[], Awaitable[T]]) -> T: ...


class MarketData(Protocol):
    """What placing an order reads first: the market's rules, and a price for its minimum."""

    async def load_markets(self) -> Mapping[str, Market]: ...

    async def fetch_prices(self, symbols: Sequence[str]) -> dict[str, Price]: ...


class OrderDesk:
    """Places, cancels and finds orders through one ccxt client."""

    def __init__(
        self,
        client: Any,
        exchange_id: str,
        *,
        markets: MarketData,
        read: Reader,
        redact: Redactor,
        retry: RetryPolicy,
        sleep: Sleep,
    ) -> None:
        self._client = client
        self._id = exchange_id
        self._markets = markets
        self._read = read
        self._redact = redact
        self.retry = retry
        self._sleep = sleep

    @property
    def supports_ioc(self) -> bool:
        """Whether ccxt says the exchange takes immediate-or-cancel spot limit orders."""
        features = getattr(self._client, "features", None) or {}
        spot = features.get("spot") or {}
        tif = (spot.get("createOrder") or {}).get("timeInForce") or {}
        return bool(tif.get("IOC"))

    async def place(self, request: OrderRequest) -> Order:
        """Round, check and place an order once; recover a lost answer by client id.

        A limit order (`request.limit_price`) goes out as ccxt's unified `limit` type with
        `timeInForce: IOC` where the exchange supports it; its price is put on the market's
        tick on the safe side (a buy's limit down, a sell's up).
        """
        cid = request.client_order_id
        problem = client_order_id_problem(cid)
        if problem is not None:
            raise InvalidOrder(problem)
        market = (await self._markets.load_markets()).get(request.symbol)
        if market is None or not market.active:
            raise InvalidOrder(f"{self._id} has no active spot market {request.symbol}")
        amount = floor_to_step(request.amount, market.rules.amount_step)
        limit = request.limit_price
        if limit is not None:
            limit = on_tick(limit, market.rules.price_tick, up=request.side is Side.SELL)
            check_price = limit
        else:
            price = (await self._markets.fetch_prices([request.symbol])).get(request.symbol)
            if price is None or price.last is None:
                raise ExchangeUnavailable(f"{self._id} gave no price for {request.symbol}; the "
                                          "order was not sent (its minimum value cannot be "
                                          "checked)")
            check_price = price.last
        problem = order_problem(market.rules, amount, check_price)
        if problem is not None:
            raise BelowMinimum(f"{request.side} {request.amount} {request.symbol} not sent: "
                               f"{problem}")
        action = f"placing {request.side} {amount} {request.symbol} ({cid})"
        params: dict[str, Any] = {"clientOrderId": cid}
        if limit is not None and self.supports_ioc:
            params["timeInForce"] = "IOC"
        try:
            raw = await self._client.create_order(
                request.symbol, "market" if limit is None else "limit", str(request.side),
                float(amount), None if limit is None else float(limit), params)
        except ccxt.BaseError as error:
            return await self._after_failed_send(request, error, action)
        order = parse_order(raw, request)
        log.info("%s: %s %s %s filled %s at %s", self._id, order.status, order.side,
                 order.symbol, order.filled, order.average_price)
        return order

    async def cancel(self, symbol: str, client_order_id: str) -> Order | None:
        """Cancel the rest of an open order by client id; the order as it ended, with fees."""
        action = f"cancelling order {client_order_id}"
        try:
            await self._client.cancel_order(None, symbol, {"clientOrderId": client_order_id})
        except ccxt.OrderNotFound:
            pass  # it ended already (filled, expired) or never existed: the lookup says which
        except ccxt.BaseError as error:
            raise translate(error, self._id, action, self._redact) from None
        return await self.look_up(symbol, client_order_id)

    async def look_up(self, symbol: str, client_order_id: str) -> Order | None:
        """The order with this client order id, with its fees, or None if there is none."""
        found = await self._read(
            f"looking up order {client_order_id}",
            lambda: self._find_order(symbol, client_order_id))
        return None if found is None else await self._with_fees(found)

    async def _after_failed_send(self, request: OrderRequest, error: ccxt.BaseError,
                                 action: str) -> Order:
        """Decide what a failed send means: refused (raise), or fate unknown (look it up).

        Only an unavailable exchange (timeout, cut connection, 5xx) leaves the fate unknown;
        a rate limit, a refused key or timestamp, or a rejected order placed nothing.
        """
        problem = translate(error, self._id, action, self._redact)
        if isinstance(problem, ExchangeUnavailable):
            return await self._recover(request, problem)
        if isinstance(error, ccxt.InvalidOrder) and "Duplicate order" in str(error):
            # An open order already has this client id: it is this order, placed before.
            existing = await self.look_up(request.symbol, request.client_order_id)
            if existing is not None:
                return existing
        raise problem from None

    async def _recover(self, request: OrderRequest, cause: ExchangeError) -> Order:
        """The answer to an order was lost: find it by client id, a few times, never resend."""
        cid = request.client_order_id
        log.warning("%s: answer to order %s lost (%s); looking it up", self._id, cid, cause)
        last_problem = "it was not found"
        for attempt in range(1, self.retry.lookup_attempts + 1):
            try:
                found = await self._find_order(request.symbol, cid)
            except ccxt.BaseError as error:
                problem = translate(error, self._id, "looking it up", self._redact)
                last_problem = str(problem)
                if not isinstance(problem, ExchangeUnavailable | RateLimited):
                    break
            else:
                if found is not None:
                    log.info("%s: order %s found after a lost answer", self._id, cid)
                    return await self._with_fees(found, request)
                last_problem = "the exchange has no order with this client id yet"
            if attempt < self.retry.lookup_attempts:
                await self._sleep(self.retry.delay(attempt))
        raise OrderOutcomeUnknown(
            f"{self._id}: order {cid} ({request.side} {request.amount} {request.symbol}) was "
            f"sent but its answer was lost ({cause}); after {self.retry.lookup_attempts} "
            f"lookups {last_problem}. It may still appear: look it up by client id before "
            "placing it again.")

    async def _find_order(self, symbol: str, client_order_id: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = await self._client.fetch_order(
                None, symbol, {"clientOrderId": client_order_id})
        except ccxt.OrderNotFound:
            return None
        return found

    async def _with_fees(self, raw: dict[str, Any], request: OrderRequest | None = None
                         ) -> Order:
        """An order from a lookup (which carries no fills) with its fee from its trades.

        The order exists whatever happens to the fee: failing to read it leaves the fee at zero
        (logged) rather than hiding a placed order behind an error.
        """
        order = parse_order(raw, request)
        if (order.filled == 0 or order.fee != 0 or order.exchange_order_id is None
                or not self._client.has.get("fetchOrderTrades")):
            return order
        order_id = order.exchange_order_id
        try:
            trades = await self._read(
                f"reading the trades of order {order.client_order_id}",
                lambda: self._client.fetch_order_trades(order_id, order.symbol))
        except ExchangeError as error:
            log.warning("%s; the fee of order %s is unknown", error, order.client_order_id)
            return order
        fee, currency = parse_fee({"fees": [t.get("fee") for t in trades if t.get("fee")]})
        return dataclasses.replace(order, fee=fee, fee_currency=currency)
