"""The Binance stand-in's exchange state: markets, balances, tickers, candles, orders and trades.

Plain synchronous logic that the HTTP layer (`tests/standins/binance.py`) calls. It applies
Binance's own order checks with Binance's error codes and messages (LOT_SIZE, MARKET_LOT_SIZE,
PRICE_FILTER, NOTIONAL / MIN_NOTIONAL, insufficient balance, duplicate client order id), fills
market orders at once at the ticker price, and charges the commission in the asset received,
as Binance does for an account that does not pay fees in BNB.

Limit orders match against the ticker at once: a buy whose limit is at or above the last price
(a sell at or below it) fills at the last price, up to `liquidity[symbol]` per order when set.
What is left of an IOC order expires (FOK: all or nothing), of a GTC order rests (NEW or
PARTIALLY_FILLED, its funds locked) until cancelled. `stuck_orders = True` makes every limit
order rest as GTC whatever its time in force (an exchange leaving orders open).
"""

from __future__ import annotations

import bisect
import csv
import gzip
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from core.exchange.base import CLIENT_ORDER_ID

# Recorded Binance responses and real candles, kept in the repository (tests/fixtures/README.md)
# so that a bare clone runs every test.
FIXTURES_DIR = Path(__file__).resolve().parents[1] / "fixtures"
EXCHANGE_DIR = FIXTURES_DIR / "exchange"
EXCHANGE_INFO_SUBSET = EXCHANGE_DIR / "binance_spot_exchangeInfo_2023-08-13_subset.json.gz"
EXCHANGE_INFO_FULL = EXCHANGE_DIR / "binance_spot_exchangeInfo_2023-08-13.json.gz"
CANDLES_DIR = FIXTURES_DIR / "candles"

ZERO = Decimal(0)
JSON = dict[str, Any]
CandleRow = tuple[int, str, str, str, str, str]

INTERVAL_MS = {
    "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
    "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000, "6h": 21_600_000, "8h": 28_800_000,
    "12h": 43_200_000, "1d": 86_400_000, "3d": 259_200_000, "1w": 604_800_000,
}


class BinanceReject(Exception):
    """A request Binance would refuse: HTTP status, Binance error code and message."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(f"{status} {code} {msg}")
        self.status = status
        self.code = code
        self.msg = msg

    def body(self) -> JSON:
        return {"code": self.code, "msg": self.msg}


def insufficient_balance() -> BinanceReject:
    return BinanceReject(400, -2010, "Account has insufficient balance for requested action.")


def filter_failure(name: str) -> BinanceReject:
    return BinanceReject(400, -1013, f"Filter failure: {name}")


def fmt(value: Decimal) -> str:
    """Binance writes amounts and prices with eight decimals."""
    return f"{value.quantize(Decimal('0.00000001'), rounding=ROUND_DOWN):f}"


def to_decimal(value: Any, name: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise BinanceReject(400, -1100, f"Illegal characters found in parameter '{name}'; "
                                        f"legal range is '^([0-9]{{1,20}})(\\.[0-9]{{1,20}})?$'."
                            ) from None
    if not number.is_finite():
        raise BinanceReject(400, -1100, f"Illegal characters found in parameter '{name}'.")
    return number


def load_exchange_info(source: Path | Mapping[str, Any] = EXCHANGE_INFO_SUBSET) -> JSON:
    """Read a real `exchangeInfo` response (JSON or gzipped JSON) or copy a given one."""
    if isinstance(source, Mapping):
        copied: JSON = json.loads(json.dumps(source))
        return copied
    opener = gzip.open if source.suffix == ".gz" else open
    with opener(source, "rt", encoding="utf-8") as handle:
        data: JSON = json.load(handle)
    return data


def rename_quotes(info: JSON, renames: Mapping[str, str]) -> JSON:
    """Re-quote markets, e.g. USDT → USD to stand in for Binance.US (same filters otherwise)."""
    symbols: dict[str, JSON] = {}
    for entry in info["symbols"]:
        quote = entry["quoteAsset"]
        if quote in renames:
            entry = {**entry, "quoteAsset": renames[quote],
                     "symbol": entry["baseAsset"] + renames[quote]}
        symbols.setdefault(entry["symbol"], entry)
    return {**info, "symbols": list(symbols.values())}


@dataclass
class Fill:
    """One execution of the stand-in's own account."""

    trade_id: int
    order_id: int
    symbol: str
    price: Decimal
    qty: Decimal
    commission: Decimal
    commission_asset: str
    time: int
    is_buyer: bool

    def as_my_trade(self) -> JSON:
        return {
            "symbol": self.symbol, "id": self.trade_id, "orderId": self.order_id,
            "orderListId": -1, "price": fmt(self.price), "qty": fmt(self.qty),
            "quoteQty": fmt(self.price * self.qty), "commission": fmt(self.commission),
            "commissionAsset": self.commission_asset, "time": self.time,
            "isBuyer": self.is_buyer, "isMaker": False, "isBestMatch": True,
        }


@dataclass
class Order:
    """An order as the stand-in keeps it."""

    order_id: int
    client_order_id: str
    symbol: str
    side: str
    type: str
    orig_qty: Decimal
    price: Decimal
    time: int
    status: str = "NEW"
    executed_qty: Decimal = ZERO
    cumm_quote: Decimal = ZERO
    time_in_force: str = "GTC"
    orig_quote_qty: Decimal = ZERO
    update_time: int = 0
    fills: list[Fill] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.status in ("NEW", "PARTIALLY_FILLED")

    def as_query_result(self) -> JSON:
        """The shape of `GET /api/v3/order` and `openOrders` entries."""
        return {
            "symbol": self.symbol, "orderId": self.order_id, "orderListId": -1,
            "clientOrderId": self.client_order_id, "price": fmt(self.price),
            "origQty": fmt(self.orig_qty), "executedQty": fmt(self.executed_qty),
            "cummulativeQuoteQty": fmt(self.cumm_quote), "status": self.status,
            "timeInForce": self.time_in_force, "type": self.type, "side": self.side,
            "stopPrice": fmt(ZERO), "icebergQty": fmt(ZERO), "time": self.time,
            "updateTime": self.update_time or self.time, "isWorking": True,
            "workingTime": self.time, "origQuoteOrderQty": fmt(self.orig_quote_qty),
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }

    def as_new_order_response(self, resp_type: str) -> JSON:
        """The shape of `POST /api/v3/order` for newOrderRespType ACK, RESULT or FULL."""
        ack: JSON = {"symbol": self.symbol, "orderId": self.order_id, "orderListId": -1,
                     "clientOrderId": self.client_order_id, "transactTime": self.time}
        if resp_type == "ACK":
            return ack
        result = {
            **ack, "price": fmt(self.price), "origQty": fmt(self.orig_qty),
            "executedQty": fmt(self.executed_qty), "origQuoteOrderQty": fmt(self.orig_quote_qty),
            "cummulativeQuoteQty": fmt(self.cumm_quote), "status": self.status,
            "timeInForce": self.time_in_force, "type": self.type, "side": self.side,
            "workingTime": self.time, "selfTradePreventionMode": "EXPIRE_MAKER",
        }
        if resp_type == "FULL":
            result["fills"] = [
                {"price": fmt(f.price), "qty": fmt(f.qty), "commission": fmt(f.commission),
                 "commissionAsset": f.commission_asset, "tradeId": f.trade_id}
                for f in self.fills
            ]
        return result


class CandleSource:
    """Klines per Binance symbol: given rows, or real candles read lazily from a candle directory.

    Files are `binance_<BASE>_<QUOTE>_<interval>.csv[.gz]`; a market re-quoted for Binance.US
    (e.g. BTCUSD) reads the file of its original quote (`file_quotes`).
    """

    def __init__(self, directory: Path | None, file_quotes: Mapping[str, str]) -> None:
        self.directory = directory
        self.file_quotes = dict(file_quotes)
        self._rows: dict[tuple[str, str], list[CandleRow]] = {}
        self._times: dict[tuple[str, str], list[int]] = {}
        self._files: dict[tuple[str, str], Path] = {}

    def set_rows(self, symbol_id: str, interval: str, rows: Iterable[Iterable[Any]]) -> None:
        """Serve these candles `[open_ms, open, high, low, close, volume]` for a symbol."""
        parsed = sorted(
            (int(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), str(r[5]))
            for r in (list(row) for row in rows)
        )
        self._rows[(symbol_id, interval)] = parsed
        self._times[(symbol_id, interval)] = [r[0] for r in parsed]

    def use_file(self, symbol_id: str, interval: str, path: Path) -> None:
        """Serve a symbol's candles from a given file (e.g. another asset's real series)."""
        self._files[(symbol_id, interval)] = path
        self._rows.pop((symbol_id, interval), None)

    def rows(self, base: str, quote: str, symbol_id: str, interval: str) -> list[CandleRow]:
        key = (symbol_id, interval)
        if key not in self._rows:
            path = self._files.get(key) or self._find_file(base, quote, interval)
            self.set_rows(symbol_id, interval, _read_candle_file(path) if path else [])
        return self._rows[key]

    def window(self, base: str, quote: str, symbol_id: str, interval: str, *,
               start: int | None, end: int | None, limit: int, offset: int) -> list[CandleRow]:
        """Candles (timestamps shifted by `offset`) opening in [start, end], at most `limit`."""
        rows = self.rows(base, quote, symbol_id, interval)
        times = self._times[(symbol_id, interval)]
        hi = len(rows) if end is None else bisect.bisect_right(times, end - offset)
        if start is not None:
            lo = bisect.bisect_left(times, start - offset)
            chosen = rows[lo:min(hi, lo + limit)]
        else:
            chosen = rows[max(0, hi - limit):hi]
        return [(r[0] + offset, r[1], r[2], r[3], r[4], r[5]) for r in chosen]

    def _find_file(self, base: str, quote: str, interval: str) -> Path | None:
        if self.directory is None:
            return None
        file_quote = self.file_quotes.get(quote, quote)
        for suffix in (".csv.gz", ".csv"):
            path = self.directory / f"binance_{base}_{file_quote}_{interval}{suffix}"
            if path.exists():
                return path
        return None


def _read_candle_file(path: Path) -> list[list[str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        return [row for row in reader if row]


class Book:
    """The whole simulated spot account and market of one stand-in."""

    def __init__(
        self,
        exchange_info: JSON,
        *,
        clock_ms: Callable[[], int],
        commission_rate: Decimal = Decimal("0.001"),
        candles: CandleSource,
        reject_reused_client_ids: bool = False,
    ) -> None:
        self.exchange_info = exchange_info
        self.clock_ms = clock_ms
        self.commission_rate = commission_rate
        self.candles = candles
        self.reject_reused_client_ids = reject_reused_client_ids
        self.symbols: dict[str, JSON] = {s["symbol"]: s for s in exchange_info["symbols"]}
        self.by_pair: dict[str, str] = {
            f"{s['baseAsset']}/{s['quoteAsset']}": s["symbol"] for s in exchange_info["symbols"]
        }
        self.balances: dict[str, list[Decimal]] = {}
        self.prices: dict[str, Decimal] = {}
        self.orders: list[Order] = []
        self.fills: list[Fill] = []
        self.candle_offset_ms = 0
        self.liquidity: dict[str, Decimal] = {}  # symbol id -> most one order can fill
        self.stuck_orders = False
        self._next_order_id = 1000
        self._next_trade_id = 5000

    # ---- set-up -------------------------------------------------------------------------

    def symbol_id(self, symbol: str) -> str:
        """`BTC/USDT` or `BTCUSDT` → `BTCUSDT`; unknown symbols raise KeyError."""
        if "/" in symbol:
            return self.by_pair[symbol]
        if symbol not in self.symbols:
            raise KeyError(symbol)
        return symbol

    def set_balance(self, asset: str, free: Decimal | str | float, locked: Decimal | str | float = 0
                    ) -> None:
        self.balances[asset] = [Decimal(str(free)), Decimal(str(locked))]

    def set_price(self, symbol: str, price: Decimal | str | float) -> None:
        self.prices[self.symbol_id(symbol)] = Decimal(str(price))

    def balance(self, asset: str) -> tuple[Decimal, Decimal]:
        free, locked = self.balances.get(asset, [ZERO, ZERO])
        return free, locked

    # ---- market data ----------------------------------------------------------------------

    def ticker(self, symbol_id: str) -> JSON:
        last = self.prices.get(symbol_id, ZERO)
        now = self.clock_ms()
        return {
            "symbol": symbol_id, "priceChange": fmt(ZERO), "priceChangePercent": "0.000",
            "weightedAvgPrice": fmt(last), "prevClosePrice": fmt(last), "lastPrice": fmt(last),
            "lastQty": fmt(ZERO), "bidPrice": fmt(last), "bidQty": fmt(ZERO),
            "askPrice": fmt(last), "askQty": fmt(ZERO), "openPrice": fmt(last),
            "highPrice": fmt(last), "lowPrice": fmt(last), "volume": fmt(ZERO),
            "quoteVolume": fmt(ZERO), "openTime": now - 86_400_000, "closeTime": now,
            "firstId": -1, "lastId": -1, "count": 0,
        }

    def klines(self, symbol_id: str, interval: str, start: int | None, end: int | None,
               limit: int) -> list[list[Any]]:
        if interval not in INTERVAL_MS:
            raise BinanceReject(400, -1120, "Invalid interval.")
        info = self.symbols[symbol_id]
        now = self.clock_ms()
        end = now if end is None else min(end, now)
        rows = self.candles.window(info["baseAsset"], info["quoteAsset"], symbol_id, interval,
                                   start=start, end=end, limit=limit, offset=self.candle_offset_ms)
        step = INTERVAL_MS[interval]
        return [[r[0], r[1], r[2], r[3], r[4], r[5], r[0] + step - 1, "0", 0, "0", "0", "0"]
                for r in rows]

    # ---- orders ---------------------------------------------------------------------------

    def new_order(self, params: Mapping[str, str]) -> Order:
        """Validate and place an order (market: filled at once; limit: rests, funds locked)."""
        symbol_id = self._require(params, "symbol")
        if symbol_id not in self.symbols:
            raise BinanceReject(400, -1121, "Invalid symbol.")
        info = self.symbols[symbol_id]
        side = self._require(params, "side")
        order_type = self._require(params, "type")
        if side not in ("BUY", "SELL"):
            raise BinanceReject(400, -1100, "Illegal characters found in parameter 'side'.")
        if order_type not in ("MARKET", "LIMIT"):
            raise BinanceReject(400, -1116, "Invalid orderType.")
        if info["status"] != "TRADING":
            raise BinanceReject(400, -1013, "Market is closed.")
        client_id = params.get("newClientOrderId") or f"standin{self._next_order_id}"
        if not CLIENT_ORDER_ID.match(client_id):
            raise BinanceReject(400, -1100, "Illegal characters found in parameter "
                                            "'newClientOrderId'; legal range is "
                                            "'^[\\.A-Z\\:/a-z0-9_-]{1,36}$'.")
        if any(o.client_order_id == client_id and (o.is_open or self.reject_reused_client_ids)
               for o in self.orders):
            raise BinanceReject(400, -2010, "Duplicate order sent.")
        if order_type == "MARKET":
            return self._market_order(info, side, client_id, params)
        return self._limit_order(info, side, client_id, params)

    def _market_order(self, info: JSON, side: str, client_id: str,
                      params: Mapping[str, str]) -> Order:
        price = self.prices.get(info["symbol"], ZERO)
        if price <= 0:
            raise BinanceReject(400, -1013, "Market is closed.")
        quote_qty = ZERO
        if params.get("quoteOrderQty"):
            quote_qty = to_decimal(params["quoteOrderQty"], "quoteOrderQty")
            step = Decimal(self._filter(info, "LOT_SIZE")["stepSize"])
            qty = ((quote_qty / price) / step).to_integral_value(rounding=ROUND_DOWN) * step
        elif params.get("quantity"):
            qty = to_decimal(params["quantity"], "quantity")
        else:
            raise BinanceReject(400, -1102, "Param 'quantity' or 'quoteOrderQty' must be sent, "
                                            "but both were empty/null!")
        self._check_filters(info, qty, price, market=True)
        base, quote = info["baseAsset"], info["quoteAsset"]
        cost = qty * price
        if side == "BUY" and self.balance(quote)[0] < cost:
            raise insufficient_balance()
        if side == "SELL" and self.balance(base)[0] < qty:
            raise insufficient_balance()
        order = self._record(info["symbol"], client_id, side, "MARKET", qty, ZERO, quote_qty)
        self._fill(order, info, qty, price)
        return order

    def _limit_order(self, info: JSON, side: str, client_id: str,
                     params: Mapping[str, str]) -> Order:
        qty = to_decimal(self._require(params, "quantity"), "quantity")
        price = to_decimal(self._require(params, "price"), "price")
        self._require(params, "timeInForce")
        tick = Decimal(self._filter(info, "PRICE_FILTER")["tickSize"])
        if tick > 0 and price % tick != 0:
            raise filter_failure("PRICE_FILTER")
        self._check_filters(info, qty, price, market=False)
        base, quote = info["baseAsset"], info["quoteAsset"]
        asset, needed = (quote, qty * price) if side == "BUY" else (base, qty)
        free, locked = self.balance(asset)
        if free < needed:
            raise insufficient_balance()
        tif = params["timeInForce"]
        if tif not in ("GTC", "IOC", "FOK"):
            raise BinanceReject(400, -1115, "Invalid timeInForce.")
        symbol_id = info["symbol"]
        last = self.prices.get(symbol_id, ZERO)
        crosses = last > 0 and (last <= price if side == "BUY" else last >= price)
        fillable = min(qty, self.liquidity.get(symbol_id, qty)) if crosses else ZERO
        if tif == "FOK" and fillable < qty and not self.stuck_orders:
            fillable = ZERO
        self.balances[asset] = [free - needed, locked + needed]
        order = self._record(symbol_id, client_id, side, "LIMIT", qty, price, ZERO)
        order.time_in_force = tif
        if fillable > 0:
            self._fill_limit(order, info, fillable, last)
        if order.executed_qty < qty:
            if tif == "GTC" or self.stuck_orders:
                order.status = "PARTIALLY_FILLED" if order.executed_qty > 0 else "NEW"
            else:
                self.cancel(symbol_id, order)
                order.status = "EXPIRED"
        return order

    def _fill_limit(self, order: Order, info: JSON, qty: Decimal, last: Decimal) -> None:
        """Fill `qty` of a resting limit order at `last`, out of the funds it locked."""
        base, quote = info["baseAsset"], info["quoteAsset"]
        cost = qty * last
        if order.side == "BUY":
            commission, commission_asset = qty * self.commission_rate, base
            free, locked = self.balance(quote)
            # Locked at the limit price, paid at the last price: the difference is freed.
            self.balances[quote] = [free + qty * order.price - cost, locked - qty * order.price]
            self._add(base, qty - commission)
        else:
            commission, commission_asset = cost * self.commission_rate, quote
            free, locked = self.balance(base)
            self.balances[base] = [free, locked - qty]
            self._add(quote, cost - commission)
        self._book_fill(order, last, qty, commission, commission_asset)

    def cancel(self, symbol_id: str, order: Order) -> Order:
        """Cancel an open limit order and release what it locked."""
        if not order.is_open:
            raise BinanceReject(400, -2011, "Unknown order sent.")
        info = self.symbols[symbol_id]
        remaining = order.orig_qty - order.executed_qty
        asset, amount = ((info["quoteAsset"], remaining * order.price) if order.side == "BUY"
                         else (info["baseAsset"], remaining))
        free, locked = self.balance(asset)
        self.balances[asset] = [free + amount, locked - amount]
        order.status = "CANCELED"
        order.update_time = self.clock_ms()
        return order

    def find_order(self, symbol_id: str, params: Mapping[str, str]) -> Order:
        """An order by `orderId` or `origClientOrderId` (the latest of a reused client id)."""
        if params.get("orderId"):
            matches = [o for o in self.orders
                       if o.symbol == symbol_id and str(o.order_id) == params["orderId"]]
        elif params.get("origClientOrderId"):
            matches = [o for o in self.orders if o.symbol == symbol_id
                       and o.client_order_id == params["origClientOrderId"]]
        else:
            raise BinanceReject(400, -1102, "Param 'origClientOrderId' or 'orderId' must be "
                                            "sent, but both were empty/null!")
        if not matches:
            raise BinanceReject(400, -2013, "Order does not exist.")
        return matches[-1]

    def all_orders(self, symbol_id: str, params: Mapping[str, str]) -> list[JSON]:
        """`GET /api/v3/allOrders`: the symbol's orders, open and ended, oldest first."""
        start = int(params["startTime"]) if params.get("startTime") else None
        end = int(params["endTime"]) if params.get("endTime") else None
        if start is not None and end is not None and end - start > 86_400_000:
            raise BinanceReject(400, -1127, "More than 24 hours between startTime and endTime.")
        limit = min(int(params.get("limit") or 500), 1000)
        chosen = [o for o in self.orders if o.symbol == symbol_id
                  and (start is None or o.time >= start) and (end is None or o.time <= end)]
        if params.get("orderId"):
            chosen = [o for o in chosen if o.order_id >= int(params["orderId"])][:limit]
        elif start is not None:
            chosen = chosen[:limit]
        else:
            chosen = chosen[-limit:]
        return [o.as_query_result() for o in chosen]

    def my_trades(self, symbol_id: str, params: Mapping[str, str]) -> list[JSON]:
        start = int(params["startTime"]) if params.get("startTime") else None
        end = int(params["endTime"]) if params.get("endTime") else None
        if start is not None and end is not None and end - start > 86_400_000:
            raise BinanceReject(400, -1127, "More than 24 hours between startTime and endTime.")
        limit = min(int(params.get("limit") or 500), 1000)
        chosen = [f for f in self.fills if f.symbol == symbol_id]
        if params.get("orderId"):
            chosen = [f for f in chosen if str(f.order_id) == params["orderId"]]
        if params.get("fromId"):
            chosen = [f for f in chosen if f.trade_id >= int(params["fromId"])][:limit]
        elif start is not None or end is not None:
            chosen = [f for f in chosen if (start is None or f.time >= start)
                      and (end is None or f.time <= end)][:limit]
        else:
            chosen = chosen[-limit:]
        return [f.as_my_trade() for f in chosen]

    def account(self, *, can_trade: bool, can_withdraw: bool) -> JSON:
        rate = fmt(self.commission_rate)
        bps = int(self.commission_rate * 10_000)
        return {
            "makerCommission": bps, "takerCommission": bps, "buyerCommission": 0,
            "sellerCommission": 0,
            "commissionRates": {"maker": rate, "taker": rate, "buyer": fmt(ZERO),
                                "seller": fmt(ZERO)},
            "canTrade": can_trade, "canWithdraw": can_withdraw, "canDeposit": True,
            "brokered": False, "requireSelfTradePrevention": False, "preventSor": False,
            "updateTime": self.clock_ms(), "accountType": "SPOT",
            "balances": [{"asset": asset, "free": fmt(free), "locked": fmt(locked)}
                         for asset, (free, locked) in sorted(self.balances.items())],
            "permissions": ["SPOT"], "uid": 354937868,
        }

    # ---- internals --------------------------------------------------------------------------

    @staticmethod
    def _require(params: Mapping[str, str], name: str) -> str:
        value = params.get(name)
        if not value:
            raise BinanceReject(400, -1102, f"Mandatory parameter '{name}' was not sent, was "
                                            "empty/null, or malformed.")
        return value

    @staticmethod
    def _filter(info: JSON, kind: str) -> JSON:
        for entry in info["filters"]:
            if entry["filterType"] == kind:
                return dict(entry)
        return {}

    def _check_filters(self, info: JSON, qty: Decimal, price: Decimal, *, market: bool) -> None:
        if qty.as_tuple().exponent < -int(info.get("baseAssetPrecision", 8)):  # type: ignore[operator]
            raise BinanceReject(400, -1111, "Parameter 'quantity' has too much precision.")
        lot_kinds = ("LOT_SIZE", "MARKET_LOT_SIZE") if market else ("LOT_SIZE",)
        for kind in lot_kinds:
            lot = self._filter(info, kind)
            if not lot:
                continue
            min_qty, max_qty, step = (Decimal(lot["minQty"]), Decimal(lot["maxQty"]),
                                      Decimal(lot["stepSize"]))
            if qty < min_qty or (max_qty > 0 and qty > max_qty):
                raise filter_failure(kind)
            if step > 0 and (qty - min_qty) % step != 0:
                raise filter_failure(kind)
        notional = qty * price
        new_style = self._filter(info, "NOTIONAL")
        if new_style:
            if ((not market or new_style.get("applyMinToMarket", True))
                    and notional < Decimal(new_style["minNotional"])):
                raise filter_failure("NOTIONAL")
            if ((not market or new_style.get("applyMaxToMarket", False))
                    and notional > Decimal(new_style["maxNotional"])):
                raise filter_failure("NOTIONAL")
        old_style = self._filter(info, "MIN_NOTIONAL")
        if (old_style and (not market or old_style.get("applyToMarket", True))
                and notional < Decimal(old_style["minNotional"])):
            raise filter_failure("MIN_NOTIONAL")

    def _record(self, symbol_id: str, client_id: str, side: str, order_type: str, qty: Decimal,
                price: Decimal, quote_qty: Decimal) -> Order:
        order = Order(order_id=self._next_order_id, client_order_id=client_id, symbol=symbol_id,
                      side=side, type=order_type, orig_qty=qty, price=price,
                      time=self.clock_ms(), orig_quote_qty=quote_qty)
        self._next_order_id += 1
        self.orders.append(order)
        return order

    def _book_fill(self, order: Order, price: Decimal, qty: Decimal, commission: Decimal,
                   commission_asset: str) -> None:
        """Record a fill of `qty` at `price` on `order` (balances are already moved)."""
        fill = Fill(trade_id=self._next_trade_id, order_id=order.order_id, symbol=order.symbol,
                    price=price, qty=qty, commission=commission,
                    commission_asset=commission_asset, time=order.time,
                    is_buyer=order.side == "BUY")
        self._next_trade_id += 1
        self.fills.append(fill)
        order.fills.append(fill)
        order.executed_qty += qty
        order.cumm_quote += qty * price
        order.status = "FILLED" if order.executed_qty >= order.orig_qty else "PARTIALLY_FILLED"
        order.update_time = order.time

    def _fill(self, order: Order, info: JSON, qty: Decimal, price: Decimal) -> None:
        base, quote = info["baseAsset"], info["quoteAsset"]
        cost = qty * price
        if order.side == "BUY":
            commission, commission_asset = qty * self.commission_rate, base
            self._add(quote, -cost)
            self._add(base, qty - commission)
        else:
            commission, commission_asset = cost * self.commission_rate, quote
            self._add(base, -qty)
            self._add(quote, cost - commission)
        self._book_fill(order, price, qty, commission, commission_asset)

    def _add(self, asset: str, amount: Decimal) -> None:
        free, locked = self.balance(asset)
        self.balances[asset] = [free + amount, locked]
