"""The live exchange: any ccxt spot exchange behind Ballast's `Exchange` protocol.

What it guarantees on top of ccxt:
- spot markets only, loaded with one request on Binance (no currency or margin calls), and
  only those Ballast can use: markets in or against the quote currency, BTC (valuation's
  intermediary) and the cash assets, with the exchange's raw nested payloads dropped — ccxt
  otherwise keeps all 2,000+ of Binance's markets with their filters in memory for good;
- `BALLAST_EXCHANGE_API_URL` replaces the host of every REST endpoint (regional endpoint,
  proxy, test server), keeping each endpoint's path;
- orders are rounded down to the market's step and refused locally (`BelowMinimum`) when
  below the minimum amount or notional — ccxt would send them and let the exchange refuse
  (orders are placed by `core.exchange.ccxt_orders`);
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
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

from core.config.settings import DEFAULT_CASH_ASSETS, Settings
from core.domain.models import Balance, Candle, Market, Price, epoch_ms
from core.exchange.base import Fill, Order, OrderRequest
from core.exchange.ccxt_errors import RedactingLogger, Redactor, instrument_errors, translate
from core.exchange.ccxt_loader import ccxt, exchange_class
from core.exchange.ccxt_orders import OrderDesk
from core.exchange.ccxt_parsing import (
    parse_fill,
    parse_market,
    parse_order,
    redirect_urls,
    slim_market,
    to_decimal,
    to_time,
)
from core.exchange.ccxt_retry import RetryPolicy, Sleep, read_with_retry
from core.exchange.errors import ExchangeError, ExchangeUnavailable

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
        self._desk = OrderDesk(client, exchange_id, markets=self, read=self._read,
                               redact=self._redact, retry=self.retry, sleep=sleep)

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

    @property
    def candle_limit(self) -> int:
        """The most candles the exchange returns for one request (ccxt's `features`; Binance
        1000, Coinbase 300), or 500 when ccxt does not say."""
        features = (self._client.features or {}).get("spot") or {}
        limit = (features.get("fetchOHLCV") or {}).get("limit")
        return int(limit) if limit else 500

    async def fetch_candles(
        self, symbol: str, timeframe: str, since: int | None = None, limit: int | None = None
    ) -> list[Candle]:
        """Candles from `since` on, oldest first (the last one may still be forming)."""
        rows = await self._read(f"reading {timeframe} candles of {symbol}",
                                lambda: self._client.fetch_ohlcv(symbol, timeframe, since, limit))
        return [Candle(int(r[0]), float(r[1]), float(r[2]), float(r[3]), float(r[4]),
                       float(r[5] or 0)) for r in rows]

    async def fetch_open_orders(self, symbol: str | None = None) -> list[Order]:
        """Orders still open, on one symbol or all."""
        raw = await self._read("reading open orders",
                               lambda: self._client.fetch_open_orders(symbol))
        return [parse_order(o) for o in raw]

    async def fetch_orders(self, symbol: str, since: datetime | None = None) -> list[Order]:
        """The account's orders on `symbol` placed from `since` on, open and ended."""
        since_ms = epoch_ms(since) if since is not None else None
        raw = await self._read(f"reading the orders on {symbol}",
                               lambda: self._client.fetch_orders(symbol, since_ms))
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

    # ---- orders (core.exchange.ccxt_orders) ---------------------------------------------------

    @property
    def supports_ioc(self) -> bool:
        """Whether ccxt says the exchange takes immediate-or-cancel spot limit orders."""
        return self._desk.supports_ioc

    async def create_order(self, request: OrderRequest) -> Order:
        """Round, check and place an order once; recover a lost answer by client id."""
        return await self._desk.place(request)

    async def cancel_order(self, symbol: str, client_order_id: str) -> Order | None:
        """Cancel the rest of an open order by client id; the order as it ended, with fees."""
        return await self._desk.cancel(symbol, client_order_id)

    async def fetch_order_by_client_id(self, symbol: str, client_order_id: str) -> Order | None:
        """The order with this client order id, with its fees, or None if there is none."""
        return await self._desk.look_up(symbol, client_order_id)

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
