"""A Binance spot REST stand-in: a small aiohttp server on 127.0.0.1 for tests and benchmarks.

The real ccxt client talks to it over HTTP exactly as it would to api.binance.com (point every
`exchange.urls['api']` entry at `standin.url`). It verifies HMAC-SHA256 signatures over the raw
query or body, serves real recorded `exchangeInfo` filters and real candles (both from
`tests/fixtures` unless given), keeps balances, orders and trades (see `binance_book`), logs
every request so tests and benches can count them, and injects faults on demand:

    async with BinanceStandIn(balances={"USDT": "1000"}, prices={"BTC/USDT": "30000"}) as ex:
        ex.fail_next("POST /api/v3/order", "timeout_after_accept")
        ...
        assert ex.count("POST /api/v3/order") == 1

Fault kinds (`FAULT_KINDS`): `rate_limit` (429 + Retry-After), `ip_ban` (418 + Retry-After),
`server_error` (5xx, not processed), `timeout` (hangs, not processed), `timeout_after_accept`
(processed, then hangs), `drop_after_accept` (processed, then the connection is cut),
`error_after_accept` (processed, then 5xx), `insufficient_funds`, `below_notional`, `bad_keys`,
`bad_signature`.

Client order ids follow Binance: one may be reused once the earlier order is no longer open
(`reject_reused_client_ids=True` refuses any reuse). For a process that outlives the client
(crash tests), run `python -m tests.standins.binance --port N ...` and drive it through the
`/_standin/...` control endpoints (see `main`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import signal
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from tests.standins.binance_book import (
    CANDLES_DIR,
    EXCHANGE_INFO_FULL,
    EXCHANGE_INFO_SUBSET,
    INTERVAL_MS,
    JSON,
    BinanceReject,
    Book,
    CandleSource,
    filter_failure,
    insufficient_balance,
    load_exchange_info,
    rename_quotes,
)

__all__ = [
    "CANDLES_DIR",
    "EXCHANGE_INFO_FULL",
    "EXCHANGE_INFO_SUBSET",
    "FAULT_KINDS",
    "BinanceStandIn",
    "LoggedRequest",
]

FAULT_KINDS = frozenset({
    "rate_limit", "ip_ban", "server_error", "timeout", "timeout_after_accept",
    "drop_after_accept", "error_after_accept", "insufficient_funds", "below_notional",
    "bad_keys", "bad_signature",
})
_AFTER_ACCEPT = frozenset({"timeout_after_accept", "drop_after_accept", "error_after_accept"})
_SERVER_ERRORS = {
    500: {"code": -1000, "msg": "An unknown error occurred while processing the request."},
    502: None,
    503: {"code": -1008, "msg": "Server is currently overloaded with other requests. "
                                "Please try again in a few minutes."},
    504: None,
}
Handler = Callable[[dict[str, str]], Awaitable[Any]]


@dataclass
class LoggedRequest:
    """One request the stand-in received (signature left out) and the HTTP status it got."""

    method: str
    path: str
    params: dict[str, str]
    at: float
    status: int = 0
    fault: str | None = None

    @property
    def route(self) -> str:
        return f"{self.method} {self.path}"


@dataclass
class Fault:
    """A fault waiting for the next `times` requests that match `route`."""

    route: str
    kind: str
    times: int = 1
    retry_after: float | None = None
    status: int | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.route == "*":
            return True
        if " " in self.route:
            return self.route == f"{method} {path}"
        return self.route == path


@dataclass
class _Route:
    handler: Handler
    weight: int | Callable[[dict[str, str]], int]
    signed: bool

    def weight_of(self, params: dict[str, str]) -> int:
        return self.weight(params) if callable(self.weight) else self.weight


def _ticker_weight(params: dict[str, str]) -> int:
    """Binance's 24hr ticker weight: by how many symbols are asked for (all: 80)."""
    if params.get("symbol"):
        return 2
    try:
        count = len(json.loads(params.get("symbols") or "null") or [])
    except json.JSONDecodeError:
        count = 0
    if count == 0 or count > 100:
        return 80
    return 2 if count <= 20 else 40


@dataclass
class _Permissions:
    can_trade: bool = True
    withdrawals_enabled: bool = False
    api_restrictions: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


class BinanceStandIn:
    """The stand-in server; start it with `async with` (or `start()` / `stop()`)."""

    def __init__(
        self,
        *,
        api_key: str = "standin-api-key",
        api_secret: str = "standin-api-secret",
        balances: Mapping[str, Any] | None = None,
        prices: Mapping[str, Any] | None = None,
        exchange_info: Path | Mapping[str, Any] = EXCHANGE_INFO_SUBSET,
        quote_renames: Mapping[str, str] | None = None,
        candles_dir: Path | None = CANDLES_DIR,
        latency: float = 0.0,
        commission_rate: Decimal = Decimal("0.001"),
        clock_ms: Callable[[], int] | None = None,
        can_trade: bool = True,
        withdrawals_enabled: bool = False,
        api_restrictions: bool = True,
        reject_reused_client_ids: bool = False,
        recv_window_ms: int = 5000,
        hang_seconds: float = 60.0,
        max_klines: int = 1000,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        self.latency = latency
        self.recv_window_ms = recv_window_ms
        self.hang_seconds = hang_seconds
        # Binance returns at most 1000 klines a request (500 when no limit is asked); a test
        # may lower the cap to page through a short real series.
        self.max_klines = max_klines
        self.host = host
        self.port = port
        self.permissions = _Permissions(can_trade, withdrawals_enabled, api_restrictions)
        self.clock_ms = clock_ms or (lambda: int(time.time() * 1000))
        info = load_exchange_info(exchange_info)
        renames = dict(quote_renames or {})
        if renames:
            info = rename_quotes(info, renames)
        source = CandleSource(candles_dir, {new: old for old, new in renames.items()})
        self.book = Book(info, clock_ms=self.clock_ms, commission_rate=commission_rate,
                         candles=source, reject_reused_client_ids=reject_reused_client_ids)
        for asset, value in (balances or {}).items():
            self.set_balance(asset, value)
        for symbol, price in (prices or {}).items():
            self.book.set_price(symbol, price)
        self.requests: list[LoggedRequest] = []
        self.faults: list[Fault] = []
        self._waiters: list[tuple[str, int, bool, asyncio.Event]] = []
        self._holds: list[tuple[str, asyncio.Event]] = []
        self._weights: deque[tuple[float, int]] = deque()
        self._released = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._routes = self._route_table()

    # ---- life cycle -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL to put in place of `https://api.binance.com`."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        """Listen on `host:port` (port 0: a free port, then `self.port` holds it)."""
        self._released = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        sockets = getattr(site._server, "sockets", None)
        if sockets:
            self.port = int(sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Release hung requests and shut the server down."""
        self._released.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> BinanceStandIn:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---- test API ---------------------------------------------------------------------------

    def fail_next(self, route: str, kind: str, *, times: int = 1,
                  retry_after: float | None = None, status: int | None = None) -> None:
        """Answer the next `times` requests on `route` ("POST /api/v3/order", a path, or "*")
        with fault `kind` (see `FAULT_KINDS`)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {sorted(FAULT_KINDS)}")
        self.faults.append(Fault(route, kind, times, retry_after, status))

    def count(self, route: str | None = None) -> int:
        """How many requests arrived on `route` ("GET /api/v3/klines" or a path); all if None."""
        if route is None:
            return len(self.requests)
        return sum(1 for r in self.requests if route in (r.route, r.path))

    async def arrived(self, route: str, count: int = 1) -> None:
        """Return once `count` requests on `route` have arrived (answered or not).

        A test starts a second client's work at a known point of the first one's, with no sleep.
        """
        await self._wait(route, count, answered=False)

    async def answered(self, route: str, count: int = 1) -> None:
        """Return once `count` requests on `route` have been answered."""
        await self._wait(route, count, answered=True)

    def hold_next(self, route: str, release: asyncio.Event) -> None:
        """Process the next request on `route` only once `release` is set (it waits, unanswered,
        as a request still on the wire would)."""
        self._holds.append((route, release))

    def _seen(self, route: str, answered: bool) -> int:
        return sum(1 for r in self.requests
                   if route in (r.route, r.path) and (r.status != 0 or not answered))

    async def _wait(self, route: str, count: int, *, answered: bool) -> None:
        if self._seen(route, answered) >= count:
            return
        event = asyncio.Event()
        self._waiters.append((route, count, answered, event))
        await event.wait()

    def _wake_waiters(self) -> None:
        for waiter in [w for w in self._waiters if self._seen(w[0], w[2]) >= w[1]]:
            self._waiters.remove(waiter)
            waiter[3].set()

    def clear_log(self) -> None:
        self.requests.clear()

    def set_balance(self, asset: str, value: Any) -> None:
        """`value`: a free amount, or `{"free": ..., "locked": ...}`."""
        if isinstance(value, Mapping):
            self.book.set_balance(asset, value.get("free", 0), value.get("locked", 0))
        else:
            self.book.set_balance(asset, value)

    def set_price(self, symbol: str, price: Any) -> None:
        """Set the ticker's last price of `BTC/USDT` (or `BTCUSDT`); market orders fill at it."""
        self.book.set_price(symbol, price)

    def set_liquidity(self, symbol: str, qty: Any) -> None:
        """At most `qty` of one limit order on `symbol` fills at once (None: all of it)."""
        symbol_id = self.book.symbol_id(symbol)
        if qty is None:
            self.book.liquidity.pop(symbol_id, None)
        else:
            self.book.liquidity[symbol_id] = Decimal(str(qty))

    def balances(self) -> dict[str, tuple[Decimal, Decimal]]:
        """Every asset's (free, locked)."""
        return {asset: (v[0], v[1]) for asset, v in self.book.balances.items()}

    @property
    def orders(self) -> list[Any]:
        """Every order the stand-in accepted, oldest first (`binance_book.Order`)."""
        return list(self.book.orders)

    def orders_by_client_id(self) -> dict[str, list[Any]]:
        """Accepted orders grouped by client order id: more than one per id is a duplicate."""
        grouped: dict[str, list[Any]] = {}
        for order in self.book.orders:
            grouped.setdefault(order.client_order_id, []).append(order)
        return grouped

    def set_klines(self, symbol: str, interval: str, rows: Sequence[Sequence[Any]]) -> None:
        """Serve these candles (`[open_ms, open, high, low, close, volume]`) for a symbol."""
        self.book.candles.set_rows(self.book.symbol_id(symbol), interval, rows)

    def use_candle_file(self, symbol: str, interval: str, path: Path) -> None:
        """Serve a symbol's candles from a given candle file (e.g. another asset's series)."""
        self.book.candles.use_file(self.book.symbol_id(symbol), interval, path)

    def shift_candles(self, offset_ms: int) -> None:
        """Move every served candle by `offset_ms`, e.g. so that old data ends at 'now'."""
        self.book.candle_offset_ms = offset_ms

    def set_prices_from_candles(self, symbols: Sequence[str], interval: str = "1h") -> None:
        """Set each symbol's ticker to the close of its latest candle up to the clock."""
        for symbol in symbols:
            rows = self.book.klines(self.book.symbol_id(symbol), interval, None, None, 1)
            if rows:
                self.book.set_price(symbol, rows[-1][4])

    def used_weight(self) -> int:
        """Request weight used in the last minute, as Binance counts it."""
        cutoff = time.monotonic() - 60
        while self._weights and self._weights[0][0] < cutoff:
            self._weights.popleft()
        return sum(w for _, w in self._weights)

    # ---- HTTP -------------------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        if request.path.startswith("/_standin/"):
            return await self._control(request)
        try:
            return await self._answer(request)
        finally:
            self._wake_waiters()

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        raw_query = request.rel_url.raw_query_string
        raw_body = await request.text() if request.can_read_body else ""
        params = dict(parse_qsl(raw_query, keep_blank_values=True))
        params.update(parse_qsl(raw_body, keep_blank_values=True))
        signature = params.pop("signature", None)
        logged = LoggedRequest(request.method, request.path, params, time.monotonic())
        self.requests.append(logged)
        self._wake_waiters()
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        for hold in [h for h in self._holds if h[0] == logged.route][:1]:
            self._holds.remove(hold)
            await hold[1].wait()
        fault = self._take_fault(request.method, request.path)
        logged.fault = fault.kind if fault else None
        route = self._routes.get((request.method, request.path))
        if route is not None:
            self._weights.append((time.monotonic(), route.weight_of(params)))
        try:
            if fault is not None and fault.kind not in _AFTER_ACCEPT:
                return await self._before_processing(fault, logged)
            if route is None:
                logged.status = 404
                return web.Response(status=404, text="<html><body>Not Found</body></html>",
                                    content_type="text/html")
            if route.signed:
                self._verify(request, raw_query, raw_body, params, signature)
            result = await route.handler(params)
        except BinanceReject as reject:
            logged.status = reject.status
            return self._json(reject.body(), reject.status)
        if fault is not None:
            return await self._after_processing(fault, logged, request)
        logged.status = 200
        return self._json(result, 200)

    def _json(self, payload: Any, status: int, headers: Mapping[str, str] | None = None
              ) -> web.Response:
        all_headers = {"X-MBX-USED-WEIGHT-1M": str(self.used_weight()), **(headers or {})}
        return web.Response(status=status, text=json.dumps(payload),
                            content_type="application/json", headers=all_headers)

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.matches(method, path):
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    async def _before_processing(self, fault: Fault, logged: LoggedRequest) -> web.StreamResponse:
        kind = fault.kind
        if kind in ("rate_limit", "ip_ban"):
            status = 429 if kind == "rate_limit" else 418
            retry_after = fault.retry_after if fault.retry_after is not None else 1
            logged.status = status
            msg = ("Too many requests; current limit of IP(127.0.0.1) is 6000 requests per "
                   "minute. Please use the websocket for live updates to avoid polling the API."
                   if status == 429 else
                   "Way too much request weight used; IP banned until "
                   f"{self.clock_ms() + int(retry_after * 1000)}. Please use the websocket for "
                   "live updates to avoid bans.")
            return self._json({"code": -1003, "msg": msg}, status,
                              {"Retry-After": str(int(retry_after))})
        if kind == "server_error":
            return self._server_error(fault, logged)
        if kind == "timeout":
            await self._hang()
            logged.status = 504
            return web.Response(status=504)
        rejects = {
            "insufficient_funds": insufficient_balance(),
            "below_notional": filter_failure("NOTIONAL"),
            "bad_keys": BinanceReject(401, -2015, "Invalid API-key, IP, or permissions for "
                                                  "action."),
            "bad_signature": BinanceReject(400, -1022, "Signature for this request is not "
                                                       "valid."),
        }
        reject = rejects[kind]
        logged.status = reject.status
        return self._json(reject.body(), reject.status)

    async def _after_processing(self, fault: Fault, logged: LoggedRequest,
                                request: web.Request) -> web.StreamResponse:
        if fault.kind == "timeout_after_accept":
            await self._hang()
            logged.status = 504
            return web.Response(status=504)
        if fault.kind == "drop_after_accept":
            logged.status = -1
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=500)
        return self._server_error(fault, logged)

    def _server_error(self, fault: Fault, logged: LoggedRequest) -> web.Response:
        status = fault.status or 503
        logged.status = status
        body = _SERVER_ERRORS.get(status)
        if body is None:
            return web.Response(status=status, text=f"<html><body>{status}</body></html>",
                                content_type="text/html")
        return self._json(body, status)

    async def _hang(self) -> None:
        """Hold a request until the client gives up (or the stand-in stops)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._released.wait(), self.hang_seconds)

    def _verify(self, request: web.Request, raw_query: str, raw_body: str,
                params: Mapping[str, str], signature: str | None) -> None:
        key = request.headers.get("X-MBX-APIKEY")
        if not key:
            raise BinanceReject(401, -2014, "API-key format invalid.")
        if key != self.api_key:
            raise BinanceReject(401, -2015, "Invalid API-key, IP, or permissions for action.")
        if not signature:
            raise BinanceReject(400, -1102, "Mandatory parameter 'signature' was not sent, was "
                                            "empty/null, or malformed.")
        # Binance signs the query string and the body concatenated, as sent (still encoded).
        payload = _without_signature(raw_query) + _without_signature(raw_body)
        expected = hmac.new(self.api_secret.encode(), payload.encode(), hashlib.sha256)
        if not hmac.compare_digest(expected.hexdigest(), signature):
            raise BinanceReject(400, -1022, "Signature for this request is not valid.")
        timestamp = int(params.get("timestamp") or 0)
        window = int(params.get("recvWindow") or self.recv_window_ms)
        now = self.clock_ms()
        if timestamp > now + 1000 or now - timestamp > window:
            raise BinanceReject(400, -1021, "Timestamp for this request is outside of the "
                                            "recvWindow.")

    # ---- endpoints --------------------------------------------------------------------------

    def _route_table(self) -> dict[tuple[str, str], _Route]:
        def public(handler: Handler, weight: int | Callable[[dict[str, str]], int]) -> _Route:
            return _Route(handler, weight, signed=False)

        def signed(handler: Handler, weight: int) -> _Route:
            return _Route(handler, weight, signed=True)

        return {
            ("GET", "/api/v3/ping"): public(self._ping, 1),
            ("GET", "/api/v3/time"): public(self._time, 1),
            ("GET", "/api/v3/exchangeInfo"): public(self._exchange_info, 20),
            ("GET", "/api/v3/ticker/24hr"): public(self._ticker_24hr, _ticker_weight),
            ("GET", "/api/v3/ticker/price"): public(self._ticker_price, 2),
            ("GET", "/api/v3/klines"): public(self._klines, 2),
            ("GET", "/api/v3/account"): signed(self._account, 20),
            ("POST", "/api/v3/order"): signed(self._new_order, 1),
            ("GET", "/api/v3/order"): signed(self._query_order, 4),
            ("DELETE", "/api/v3/order"): signed(self._cancel_order, 1),
            ("GET", "/api/v3/openOrders"): signed(self._open_orders, 6),
            ("GET", "/api/v3/allOrders"): signed(self._all_orders, 20),
            ("GET", "/api/v3/myTrades"): signed(self._my_trades, 20),
            ("GET", "/sapi/v1/account/apiRestrictions"): signed(self._api_restrictions, 1),
        }

    async def _ping(self, params: dict[str, str]) -> JSON:
        return {}

    async def _time(self, params: dict[str, str]) -> JSON:
        return {"serverTime": self.clock_ms()}

    async def _exchange_info(self, params: dict[str, str]) -> JSON:
        wanted = self._symbols_param(params)
        info = dict(self.book.exchange_info)
        info["serverTime"] = self.clock_ms()
        if wanted is not None:
            info["symbols"] = [self.book.symbols[s] for s in wanted]
        return info

    async def _ticker_24hr(self, params: dict[str, str]) -> Any:
        wanted = self._symbols_param(params)
        if "symbol" in params and wanted is not None:
            return self.book.ticker(wanted[0])
        return [self.book.ticker(s) for s in (wanted or self.book.symbols)]

    async def _ticker_price(self, params: dict[str, str]) -> Any:
        wanted = self._symbols_param(params)
        rows = [{"symbol": s, "price": self.book.ticker(s)["lastPrice"]}
                for s in (wanted or self.book.symbols)]
        return rows[0] if "symbol" in params else rows

    async def _klines(self, params: dict[str, str]) -> list[list[Any]]:
        symbol = self._known_symbol(params)
        interval = params.get("interval", "")
        if interval not in INTERVAL_MS:
            raise BinanceReject(400, -1120, "Invalid interval.")
        limit = min(int(params.get("limit") or 500), 1000, self.max_klines)
        start = int(params["startTime"]) if params.get("startTime") else None
        end = int(params["endTime"]) if params.get("endTime") else None
        return self.book.klines(symbol, interval, start, end, limit)

    async def _account(self, params: dict[str, str]) -> JSON:
        return self.book.account(can_trade=self.permissions.can_trade,
                                 can_withdraw=self.permissions.withdrawals_enabled)

    async def _new_order(self, params: dict[str, str]) -> JSON:
        if not self.permissions.can_trade:
            raise BinanceReject(401, -2015, "Invalid API-key, IP, or permissions for action.")
        order = self.book.new_order(params)
        default = "FULL" if order.type == "MARKET" else "ACK"
        return order.as_new_order_response(params.get("newOrderRespType") or default)

    async def _query_order(self, params: dict[str, str]) -> JSON:
        symbol = self._known_symbol(params)
        return self.book.find_order(symbol, params).as_query_result()

    async def _cancel_order(self, params: dict[str, str]) -> JSON:
        symbol = self._known_symbol(params)
        order = self.book.cancel(symbol, self.book.find_order(symbol, params))
        return {**order.as_query_result(), "origClientOrderId": order.client_order_id}

    async def _open_orders(self, params: dict[str, str]) -> list[JSON]:
        symbol = self._known_symbol(params) if params.get("symbol") else None
        return [o.as_query_result() for o in self.book.orders
                if o.is_open and (symbol is None or o.symbol == symbol)]

    async def _all_orders(self, params: dict[str, str]) -> list[JSON]:
        return self.book.all_orders(self._known_symbol(params), params)

    async def _my_trades(self, params: dict[str, str]) -> list[JSON]:
        return self.book.my_trades(self._known_symbol(params), params)

    async def _api_restrictions(self, params: dict[str, str]) -> JSON:
        if not self.permissions.api_restrictions:
            raise BinanceReject(404, -1, "Not Found")
        return {
            "ipRestrict": False, "createTime": 1698645219000, "enableReading": True,
            "enableWithdrawals": self.permissions.withdrawals_enabled,
            "enableInternalTransfer": False, "enableMargin": False, "enableFutures": False,
            "permitsUniversalTransfer": False, "enableVanillaOptions": False,
            "enableFixApiTrade": False, "enableFixReadOnly": False,
            "enableSpotAndMarginTrading": self.permissions.can_trade,
            "enablePortfolioMarginTrading": False, **self.permissions.extra,
        }

    def _known_symbol(self, params: Mapping[str, str]) -> str:
        symbol = params.get("symbol")
        if not symbol:
            raise BinanceReject(400, -1102, "Mandatory parameter 'symbol' was not sent, was "
                                            "empty/null, or malformed.")
        if symbol not in self.book.symbols:
            raise BinanceReject(400, -1121, "Invalid symbol.")
        return symbol

    def _symbols_param(self, params: Mapping[str, str]) -> list[str] | None:
        if params.get("symbol"):
            return [self._known_symbol(params)]
        if not params.get("symbols"):
            return None
        try:
            wanted = json.loads(params["symbols"])
        except json.JSONDecodeError:
            raise BinanceReject(400, -1100, "Illegal characters found in parameter "
                                            "'symbols'.") from None
        if any(s not in self.book.symbols for s in wanted):
            raise BinanceReject(400, -1121, "Invalid symbol.")
        return [str(s) for s in wanted]

    # ---- control API (for a stand-in in its own process) ------------------------------------

    async def _control(self, request: web.Request) -> web.Response:
        action = request.path.removeprefix("/_standin/")
        body: Any = await request.json() if request.can_read_body else {}
        try:
            result = self._control_action(request.method, action, body)
        except (KeyError, ValueError, TypeError) as error:
            return web.json_response({"error": str(error)}, status=400)
        if result is None:
            return web.json_response({"error": f"unknown control {request.method} {action}"},
                                     status=404)
        return web.json_response(result, dumps=lambda v: json.dumps(v, default=str))

    def _control_action(self, method: str, action: str, body: Any) -> Any:
        if (method, action) == ("POST", "faults"):
            self.fail_next(body["route"], body["kind"], times=int(body.get("times", 1)),
                           retry_after=body.get("retry_after"), status=body.get("status"))
            return {"ok": True}
        if (method, action) == ("POST", "prices"):
            for symbol, price in body.items():
                self.set_price(symbol, price)
            return {"ok": True}
        if (method, action) == ("POST", "balances"):
            for asset, value in body.items():
                self.set_balance(asset, value)
            return {"ok": True}
        if (method, action) == ("POST", "settings"):
            for name in ("latency", "hang_seconds"):
                if name in body:
                    setattr(self, name, float(body[name]))
            for name in ("can_trade", "withdrawals_enabled"):
                if name in body:
                    setattr(self.permissions, name, bool(body[name]))
            if "stuck_orders" in body:
                self.book.stuck_orders = bool(body["stuck_orders"])
            for symbol, qty in (body.get("liquidity") or {}).items():
                self.set_liquidity(symbol, qty)
            return {"ok": True}
        if (method, action) == ("GET", "state"):
            return {
                "balances": {a: {"free": str(f), "locked": str(lk)}
                             for a, (f, lk) in self.balances().items()},
                "orders": [o.as_query_result() for o in self.book.orders],
                "trades": [f.as_my_trade() for f in self.book.fills],
                "prices": {s: str(p) for s, p in self.book.prices.items()},
            }
        if (method, action) == ("GET", "requests"):
            return [asdict(r) for r in self.requests]
        return None


def _without_signature(raw: str) -> str:
    parts = [p for p in raw.split("&") if p and not p.startswith("signature=")]
    return "&".join(parts)


def _json_arg(text: str | None) -> Any:
    if not text:
        return {}
    if text.startswith("@"):
        return json.loads(Path(text[1:]).read_text(encoding="utf-8"))
    return json.loads(text)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the stand-in as its own process until SIGTERM/SIGINT.

    Prints `ready http://127.0.0.1:PORT` on stdout once listening. Control it over HTTP:
    `POST /_standin/faults {"route": "POST /api/v3/order", "kind": "timeout_after_accept"}`,
    `POST /_standin/prices {"BTC/USDT": "30000"}`, `POST /_standin/balances {"BTC": "0.5"}`,
    `POST /_standin/settings {"latency": 0.02, "withdrawals_enabled": true}`,
    `GET /_standin/state` (balances, orders, trades, prices), `GET /_standin/requests`.
    """
    parser = argparse.ArgumentParser(prog="python -m tests.standins.binance",
                                     description="Binance spot REST stand-in on 127.0.0.1")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", default="standin-api-key")
    parser.add_argument("--api-secret", default="standin-api-secret")
    parser.add_argument("--balances", help='JSON or @file: {"BTC": "0.5", "USDT": {"free": 1}}')
    parser.add_argument("--prices", help='JSON or @file: {"BTC/USDT": "30000"}')
    parser.add_argument("--exchange-info", type=Path, default=EXCHANGE_INFO_SUBSET)
    parser.add_argument("--quote", default="USDT",
                        help="USD re-quotes the USDT markets, standing in for Binance.US")
    parser.add_argument("--candles", type=Path, default=CANDLES_DIR)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    parser.add_argument("--withdrawals-enabled", action="store_true")
    args = parser.parse_args(argv)
    renames = {"USDT": args.quote} if args.quote != "USDT" else None

    async def serve() -> None:
        standin = BinanceStandIn(
            api_key=args.api_key, api_secret=args.api_secret,
            balances=_json_arg(args.balances), prices=_json_arg(args.prices),
            exchange_info=args.exchange_info, quote_renames=renames, candles_dir=args.candles,
            latency=args.latency, withdrawals_enabled=args.withdrawals_enabled,
            host=args.host, port=args.port,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        async with standin:
            print(f"ready {standin.url}", flush=True)
            await stop.wait()

    asyncio.run(serve())
    sys.exit(0)


if __name__ == "__main__":
    main()
