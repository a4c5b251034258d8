"""ccxt's unified structures (markets, orders, trades) as Ballast's types, and URL redirection.

Pure functions: ccxt dicts in, `core` dataclasses out. Numbers become `Decimal` through their
shortest text form, so `0.001` stays `0.001`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from core.domain.models import ZERO, Market, MarketRules, Side
from core.exchange.base import Fill, Order, OrderRequest, OrderStatus
from core.exchange.ccxt_loader import ccxt
from core.exchange.errors import ExchangeError

_STATUS = {"open": OrderStatus.OPEN, "closed": OrderStatus.FILLED,
           "canceled": OrderStatus.CANCELED, "rejected": OrderStatus.REJECTED,
           "expired": OrderStatus.EXPIRED}


def redirect_urls(urls: Any, base_url: str) -> Any:
    """Every URL in ccxt's `urls['api']` tree with its scheme and host replaced by `base_url`.

    Each endpoint keeps its own path (`/api/v3`, `/sapi/v1` …), after any path of `base_url`
    (a proxy mounted under a prefix).
    """
    if isinstance(urls, str):
        return base_url.rstrip("/") + urlsplit(urls).path
    if isinstance(urls, dict):
        return {key: redirect_urls(value, base_url) for key, value in urls.items()}
    return urls


def to_decimal(value: Any) -> Decimal:
    """A ccxt number (float, string or None) as Decimal; None and non-numbers are zero."""
    if value is None:
        return ZERO
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return ZERO
    return number if number.is_finite() else ZERO


def to_time(ms: Any) -> datetime | None:
    """Epoch milliseconds as a UTC datetime (None when absent)."""
    return datetime.fromtimestamp(ms / 1000, UTC) if isinstance(ms, int | float) else None


def precision_step(value: Any, precision_mode: int) -> Decimal | None:
    """A ccxt precision as a step size (None when unknown or in significant digits)."""
    if value is None:
        return None
    if precision_mode == ccxt.DECIMAL_PLACES:
        return Decimal(1).scaleb(-int(value))
    if precision_mode == ccxt.TICK_SIZE:
        step = to_decimal(value)
        return step if step > 0 else None
    return None


def parse_market(raw: Mapping[str, Any], precision_mode: int) -> Market:
    """A ccxt market with its amount step, price tick and minimum amount and notional."""
    limits = raw.get("limits") or {}
    precision = raw.get("precision") or {}
    rules = MarketRules(
        min_notional=to_decimal((limits.get("cost") or {}).get("min")),
        amount_step=precision_step(precision.get("amount"), precision_mode),
        min_amount=to_decimal((limits.get("amount") or {}).get("min")),
        price_tick=precision_step(precision.get("price"), precision_mode),
    )
    return Market(raw["symbol"], raw["base"], raw["quote"], rules,
                  active=raw.get("active") is not False)


def slim_market(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A ccxt market whose raw `info` keeps only its flat entries (numbers, text, lists of text).

    Nested entries — Binance's `filters`, `permissionSets` — are what ccxt already parsed into
    `limits` and `precision`; they are most of a market's memory. Flat ones stay because ccxt
    reads some when placing orders (Binance checks `info['orderTypes']`).
    """
    info = raw.get("info")
    if not isinstance(info, dict):
        return dict(raw)
    flat = {key: value for key, value in info.items() if _is_flat(value)}
    return {**raw, "info": flat}


def _is_flat(value: Any) -> bool:
    if isinstance(value, list | tuple):
        return all(not isinstance(item, dict | list | tuple) for item in value)
    return not isinstance(value, dict)


def parse_fee(raw: Mapping[str, Any]) -> tuple[Decimal, str | None]:
    """One fee per order or trade: ccxt's `fee`, else its `fees` in the first currency listed.

    A fee split over several currencies (rare: e.g. part in BNB) is reported in the first one.
    """
    fee = raw.get("fee")
    if fee and fee.get("cost") is not None:
        return to_decimal(fee.get("cost")), fee.get("currency")
    fees = [f for f in raw.get("fees") or [] if f and f.get("cost") is not None]
    if not fees:
        return ZERO, None
    currency = fees[0].get("currency")
    return sum((to_decimal(f["cost"]) for f in fees if f.get("currency") == currency),
               ZERO), currency


def parse_order(raw: Mapping[str, Any], request: OrderRequest | None = None) -> Order:
    """A ccxt order as Ballast's; what the exchange leaves out comes from the request."""
    fee, fee_currency = parse_fee(raw)
    average = to_decimal(raw.get("average"))
    side = raw.get("side") or (request.side if request else None)
    if side is None:
        raise ExchangeError(f"the exchange reported order {raw.get('id')} without a side")
    return Order(
        client_order_id=raw.get("clientOrderId") or (request.client_order_id if request else ""),
        exchange_order_id=str(raw["id"]) if raw.get("id") is not None else None,
        symbol=raw.get("symbol") or (request.symbol if request else ""),
        side=Side(side),
        status=_STATUS.get(raw.get("status") or "", OrderStatus.OPEN),
        amount=to_decimal(raw.get("amount")),
        filled=to_decimal(raw.get("filled")),
        average_price=average if average > 0 else None,
        cost=to_decimal(raw.get("cost")),
        fee=fee,
        fee_currency=fee_currency,
        timestamp=to_time(raw.get("timestamp")),
    )


def parse_fill(raw: Mapping[str, Any]) -> Fill:
    """A ccxt trade of the account as Ballast's fill."""
    fee, fee_currency = parse_fee(raw)
    if not raw.get("side"):
        raise ExchangeError(f"the exchange reported trade {raw.get('id')} without a side")
    return Fill(
        trade_id=str(raw.get("id")),
        order_id=str(raw["order"]) if raw.get("order") is not None else None,
        symbol=raw.get("symbol") or "",
        side=Side(raw["side"]),
        amount=to_decimal(raw.get("amount")),
        price=to_decimal(raw.get("price")),
        fee=fee,
        fee_currency=fee_currency,
        timestamp=to_time(raw.get("timestamp")) or datetime.fromtimestamp(0, UTC),
    )
