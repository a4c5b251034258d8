"""The live exchange: any ccxt spot exchange behind Ballast's `Exchange` protocol.

What it guarantees on top of ccxt:
- spot markets only, loaded with one request on Binance (no currency or margin calls), and
  only those Ballast can use: markets in or against the quote currency, BTC (valuation's
  intermediary) and the cash assets, with the exchange's raw nested payloads dropped — ccxt
  otherwise keeps all 2,000+ of Binance's markets with their filters in memory for good;
- `BALLAST_EXCHANGE_API_URL` replaces the host of every REST endpoint (regional endpoint,
  proxy, test server), keeping each endpoint's path;
- orders are rounded down to the market's step and refused locally (`BelowMinimum`) when
  below the minimum amount or notional — ccxt would send them and let the exchange refuse;
- reads are retried with exponential backoff on network errors and rate limits, honouring
  `Retry-After`, a bounded number of times;
- an order is sent exactly once. When its answer is lost (timeout, cut connection, 5xx) the
  order is looked up by its client order id; if it cannot be found the error is
  `OrderOutcomeUnknown` and the caller decides — it is never resent here;
- ccxt exceptions become `core.exchange.errors` types whose messages never contain the key or
  secret (ccxt's own debug log, which prints request headers, is redacted too).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

from core.config.settings import DEFAULT_CASH_ASSETS, Settings
from core.domain.models import Balance, Candle, Market, Price, Side, epoch_ms
from core.domain.rounding import floor_to_step, on_tick, order_problem
from core.exchange.base import Fill, Order, OrderRequest, client_order_id_problem
from core.exchange.ccxt_errors import (
    RedactingLogger,
    Redactor,
    instrument_errors,
    translate,
)
from core.exchange.ccxt_loader import ccxt, exchange_class
from core.exchange.ccxt_parsing import (
    parse_fee,
    parse_fill,
    parse_market,
    parse_order,
    redirect_urls,
    slim_market,
    to_decimal,
    to_time,
)
from core.exchange.ccxt_retry import RetryPolicy, Sleep, read_with_retry
from core.exchange.errors import (
    BelowMinimum,
    ExchangeError,
    ExchangeUnavailable,
    InvalidOrder,
    OrderOutcomeUnknown,
    RateLimited,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

_TRADES_PAGE = 1000
# Valuation routes through BTC; `ballast check` names these quotes when the configured one is
# missing. Markets touching none of them (or the quote or a cash asset) are never used.
ROUTING_ASSETS = ("BTC", "USDT", "USD", "USDC", "FDUSD")


class UnknownExchange(ExchangeError):
    """The configured exchange id is not a ccxt exchange, or not a spot exchange."""


@dataclass(frozen=True, slots=True)
class KeyPermissions:
    """What the API key may do, as far as the exchange tells (None: it does not say)."""

    can_read: bool | None
    can_trade: bool | None
    can_withdraw: bool | None
    source: str


class CcxtExchange:
    """A live spot exchange through `ccxt.async_support`; see the module docstring."""

    def __init__(
        self,
        exchange_id: str = "binance",
        *,
        api_key: str | None = None,
        api_secret: str | None = None,
        api_url: str | None = None,
        quote: str = "USDT",
        cash_assets: Sequence[str] = DEFAULT_CASH_ASSETS,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        found = exchange_class(exchange_id)
        if found is None:
            raise UnknownExchange(f"BALLAST_EXCHANGE = {exchange_id!r}: ccxt has no such "
                                  "exchange (e.g. 'binance', 'binanceus')")
        if api_url is not None:
            parts = urlsplit(api_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ExchangeError(f"BALLAST_EXCHANGE_API_URL = {api_url!r}: must be an "
                                    "http(s) URL such as https://api.binance.us")
        self._id = exchange_id
        self.quote = quote
        self.kept_assets = frozenset((quote, *cash_assets, *ROUTING_ASSETS))
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._redact = Redactor([api_key, api_secret])
        self._has_keys = bool(api_key and api_secret)
        config: dict[str, Any] = {
            "enableRateLimit": True,
            # Count request weight over the exchange's rolling window (Binance: 6000 a minute)
            # instead of spacing every request evenly: a refresh's burst of candle requests
            # then goes out at once while staying within the exchange's limit. Exchanges
            # without a window size in ccxt keep the evenly spaced bucket.
            "rateLimiterAlgorithm": "rollingWindow",
            "timeout": int(timeout * 1000),
            # ccxt would keep the last response's text (the 3.7 MB market listing after a
            # start) until the next request; Ballast never reads it.
            "enableLastHttpResponse": False,
            "logger": RedactingLogger(logging.getLogger(f"{__name__}.wire"), self._redact),
            "options": {
                "defaultType": "spot",
                "fetchMarkets": {"types": ["spot"]},
                "fetchCurrencies": False,
                "fetchMargins": False,
                "fetchOpenOrders": {"warnWithoutSymbol": False},
                "warnOnFetchOpenOrdersWithoutSymbol": False,
            },
        }
        if api_key and api_secret:
            config["apiKey"] = api_key
            config["secret"] = api_secret
        client: Any = found(config)
        if not client.has.get("spot"):
            raise UnknownExchange(f"BALLAST_EXCHANGE = {exchange_id!r}: not a spot exchange")
        if api_url is not None:
            client.urls["api"] = redirect_urls(client.urls["api"], api_url)
            if api_url.startswith("http:"):
                # ccxt waits 250 ms on close for TLS transports to shut; plain HTTP has none.
                client.timeout_on_exit = 0
        instrument_errors(client)
        self._client = client
        self._markets: dict[str, Market] | None = None

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> CcxtExchange:
        """The exchange, keys, API URL and quote currency from Ballast's settings."""
        key = settings.exchange_api_key.get_secret_value() if settings.exchange_api_key else None
        secret = (settings.exchange_api_secret.get_secret_value()
                  if settings.exchange_api_secret else None)
        return cls(settings.exchange, api_key=key, api_secret=secret,
                   api_url=settings.exchange_api_url, quote=settings.quote,
                   cash_assets=settings.cash_assets, **kwargs)

    def __repr__(self) -> str:
        return f"CcxtExchange({self._id!r}, keys={'set' if self._has_keys else 'none'})"

    @property
    def name(self) -> str:
        """The ccxt exchange id."""
        return self._id

    @property
    def has_keys(self) -> bool:
        """Whether an API key and secret were given (private calls need them)."""
        return self._has_keys

    # ---- reads ------------------------------------------------------------------------------

    async def load_markets(self) -> Mapping[str, Market]:
        """The usable spot markets by symbol with their step, tick and minimums (loaded once).

        Usable: base or quote is one of `kept_assets` (the quote, the cash assets, BTC and the
        usual dollar quotes) — every market valuation can route through and `ballast check`
        looks at. ccxt is given only these, so it holds no table of the exchange's whole
        listing; orders and lookups on them work as before.
        """
        if self._markets is None:
            client = self._client
            raw, currencies = await self._read("loading markets", self._fetch_markets)
            kept = [slim_market(m) for m in raw
                    if m.get("spot") and not self.kept_assets.isdisjoint((m.get("base"),
                                                                          m.get("quote")))]
            client.set_markets(kept, currencies)
            mode = client.precisionMode
            self._markets = {symbol: parse_market(m, mode)
                             for symbol, m in client.markets.items()}
        return self._markets

    async def _fetch_markets(self) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """ccxt's markets and currencies as its `load_markets` fetches them, not yet indexed.

        Fetched rather than loaded: ccxt's `load_markets` keeps its whole result alive (for
        later callers) however the markets are replaced afterwards.
        """
        client = self._client
        currencies = None
        if client.has.get("fetchCurrencies") is True:
            currencies = await client.fetch_currencies()
        markets: list[dict[str, Any]] = await client.fetch_markets()
        return markets, currencies

    async def fetch_balances(self) -> dict[str, Balance]:
        """Every asset with a non-zero balance, free and locked."""
        raw = await self._read("reading balances", lambda: self._client.fetch_balance())
        free, used = raw.get("free") or {}, raw.get("used") or {}
        balances: dict[str, Balance] = {}
        for asset in sorted(set(free) | set(used)):
            balance = Balance(free=to_decimal(free.get(asset)), locked=to_decimal(used.get(asset)))
            if balance.total > 0:
                balances[asset] = balance
        return balances

    async def fetch_prices(self, symbols: Sequence[str]) -> dict[str, Price]:
        """Last prices of the listed symbols in one request; unknown symbols are left out."""
        markets = await self.load_markets()
        known = [s for s in dict.fromkeys(symbols) if s in markets]
        if not known:
            return {}
        tickers = await self._read("reading prices", lambda: self._client.fetch_tickers(known))
        prices: dict[str, Price] = {}
        for symbol in known:
            ticker = tickers.get(symbol)
            if ticker is None:
                continue
            last = to_decimal(ticker.get("last"))
            market = markets[symbol]
            prices[symbol] = Price(market.base, market.quote, last if last > 0 else None,
                                   to_time(ticker.get("timestamp")))
        return prices

    async def fetch_candles(
        self, symbol: str, timeframe: str, since: int | None = None, limit: int | None = None
    ) -> list[Candle]:
        """Candles from `since` on, oldest first (the last one may still be forming)."""
        rows = await self._read(f"reading {timeframe} candles of {symbol}",
                                lambda: self._client.fetch_ohlcv(symbol, timeframe, since, limit))
        return [Candle(int(r[0]), float(r[1]), float(r[2]), float(r[3]), float(r[4]),
                       float(r[5] or 0)) for r in rows]

    async def fetch_order_by_client_id(self, symbol: str, client_order_id: str) -> Order | None:
        """The order with this client order id, with its fees, or None if there is none."""
        found = await self._read(
            f"looking up order {client_order_id}",
            lambda: self._find_order(symbol, client_order_id))
        return None if found is None else await self._with_fees(found)

    async def fetch_open_orders(self, symbol: str | None = None) -> list[Order]:
        """Orders still open, on one symbol or all."""
        raw = await self._read("reading open orders",
                               lambda: self._client.fetch_open_orders(symbol))
        return [parse_order(o) for o in raw]

    async def fetch_my_trades(self, symbol: str, since: datetime | None = None) -> list[Fill]:
        """The account's executions on `symbol` from `since` on, oldest first (all pages)."""
        since_ms = epoch_ms(since) if since is not None else None
        action = f"reading trade history of {symbol}"

        async def page(from_id: int | None) -> list[dict[str, Any]]:
            params = {} if from_id is None else {"fromId": from_id}
            trades: list[dict[str, Any]] = await self._read(
                action, lambda: self._client.fetch_my_trades(symbol, None, _TRADES_PAGE, params))
            return trades

        raw = await page(None)
        if len(raw) >= _TRADES_PAGE:
            # The latest page is not the whole history. Walk it from the first trade on with
            # Binance's `fromId`: its time-range queries span at most 24 hours.
            raw, from_id = [], 0
            while True:
                batch = await page(from_id)
                raw.extend(batch)
                if len(batch) < _TRADES_PAGE:
                    break
                from_id = int(batch[-1]["id"]) + 1
        fills = [parse_fill(t) for t in raw
                 if since_ms is None or (t.get("timestamp") or 0) >= since_ms]
        return sorted(fills, key=lambda f: (f.timestamp, f.trade_id))

    async def fetch_key_permissions(self) -> KeyPermissions:
        """What the API key may do: Binance's key restrictions, else the account's flags."""
        client = self._client
        if hasattr(client, "sapiGetAccountApiRestrictions"):
            try:
                r = await client.sapiGetAccountApiRestrictions()
            except ccxt.AuthenticationError as error:
                raise translate(error, self._id, "reading the API key's permissions",
                                self._redact) from None
            except ccxt.BaseError as error:
                # Not every Binance flavour serves this endpoint: fall back to the account.
                log.info("%s: no API key restrictions (%s); using the account's flags",
                         self._id, self._redact(str(error)))
            else:
                return KeyPermissions(r.get("enableReading"), r.get("enableSpotAndMarginTrading"),
                                      r.get("enableWithdrawals"), "API key restrictions")
        info = (await self._read("reading the account",
                                 lambda: client.fetch_balance())).get("info") or {}
        flag = info if isinstance(info, dict) else {}
        return KeyPermissions(True, flag.get("canTrade"), flag.get("canWithdraw"), "account")

    async def fetch_server_time(self) -> datetime | None:
        """The exchange's clock (a public call that shows the exchange answers)."""
        if not self._client.has.get("fetchTime"):
            await self.load_markets()
            return None
        return to_time(await self._read("reading the server time",
                                        lambda: self._client.fetch_time()))

    # ---- orders -----------------------------------------------------------------------------

    @property
    def supports_ioc(self) -> bool:
        """Whether ccxt says the exchange takes immediate-or-cancel spot limit orders."""
        features = getattr(self._client, "features", None) or {}
        spot = features.get("spot") or {}
        tif = (spot.get("createOrder") or {}).get("timeInForce") or {}
        return bool(tif.get("IOC"))

    async def create_order(self, request: OrderRequest) -> Order:
        """Round, check and place an order once; recover a lost answer by client id.

        A limit order (`request.limit_price`) goes out as ccxt's unified `limit` type with
        `timeInForce: IOC` where the exchange supports it; its price is put on the market's
        tick on the safe side (a buy's limit down, a sell's up).
        """
        cid = request.client_order_id
        problem = client_order_id_problem(cid)
        if problem is not None:
            raise InvalidOrder(problem)
        market = (await self.load_markets()).get(request.symbol)
        if market is None or not market.active:
            raise InvalidOrder(f"{self._id} has no active spot market {request.symbol}")
        amount = floor_to_step(request.amount, market.rules.amount_step)
        limit = request.limit_price
        if limit is not None:
            limit = on_tick(limit, market.rules.price_tick, up=request.side is Side.SELL)
            check_price = limit
        else:
            price = (await self.fetch_prices([request.symbol])).get(request.symbol)
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

    async def cancel_order(self, symbol: str, client_order_id: str) -> Order | None:
        """Cancel the rest of an open order by client id; the order as it ended, with fees."""
        action = f"cancelling order {client_order_id}"
        try:
            await self._client.cancel_order(None, symbol, {"clientOrderId": client_order_id})
        except ccxt.OrderNotFound:
            pass  # it ended already (filled, expired) or never existed: the lookup says which
        except ccxt.BaseError as error:
            raise translate(error, self._id, action, self._redact) from None
        return await self.fetch_order_by_client_id(symbol, client_order_id)

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
            existing = await self.fetch_order_by_client_id(request.symbol,
                                                           request.client_order_id)
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

    async def close(self) -> None:
        """Close the HTTP session."""
        await self._client.close()

    # ---- plumbing ---------------------------------------------------------------------------

    async def _read(self, action: str, call: Callable[[], Awaitable[T]]) -> T:
        """Run a read, retrying network errors and rate limits with backoff (bounded).

        An answer ccxt cannot parse (a NaN price makes it raise ValueError from `int()`) is
        exchange trouble like any other, not a crash of the scan.
        """
        try:
            return await read_with_retry(
                call,
                policy=self.retry,
                translate=lambda error: translate(error, self._id, action, self._redact),
                sleep=self._sleep,
            )
        except (ValueError, TypeError, ArithmeticError, KeyError, IndexError) as error:
            raise ExchangeUnavailable(self._redact(
                f"{self._id} {action}: the exchange's answer could not be read "
                f"({type(error).__name__}: {error})")) from None
