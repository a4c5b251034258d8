"""Valuation (docs/rules.md): balances + prices → a `Portfolio` in the quote currency. Pure.

Prices are keyed by ccxt symbol (`BASE/QUOTE`). An asset is priced through the first *route*
whose symbols are all present, in this order: the direct market `ASSET/quote`, the inverse
`quote/ASSET`, then through an intermediary (BTC first, then the other cash assets), each leg
direct or inverse. The first route that exists decides: if its price is missing, zero,
negative, NaN or older than `max_price_age`, the asset is *unpriced* — a broken quote on the
market we would trade is never papered over with a derived one.

A price whose `at` is None has an unknown age and is accepted as fresh (what-if files and some
exchanges' tickers carry no timestamp).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from core.domain.models import ZERO, Balance, Holding, MarketRules, Portfolio, Price
from core.domain.rounding import floor_to_step

ONE = Decimal(1)
DEFAULT_VIA = ("BTC",)

# A route is a sequence of legs; each leg is (symbol, inverted): inverted legs contribute 1/price.
Route = tuple[tuple[str, bool], ...]


def _routes(asset: str, quote: str, via: Sequence[str]) -> Iterator[Route]:
    """Every way to price `asset` in `quote`, in order of preference."""
    yield ((f"{asset}/{quote}", False),)
    yield ((f"{quote}/{asset}", True),)
    for middle in via:
        if middle in (asset, quote):
            continue
        for first in ((f"{asset}/{middle}", False), (f"{middle}/{asset}", True)):
            for second in ((f"{middle}/{quote}", False), (f"{quote}/{middle}", True)):
                yield (first, second)


def _usable(price: Price, now: datetime, max_price_age: float | timedelta) -> Decimal | None:
    """The price as a positive finite Decimal, or None if missing, broken or stale."""
    last = price.last
    if last is None:
        return None
    if not isinstance(last, Decimal):
        last = Decimal(str(last))
    if not last.is_finite() or last <= 0:
        return None
    if price.at is not None and now - price.at > _as_timedelta(max_price_age):
        return None
    return last


def _as_timedelta(age: float | timedelta) -> timedelta:
    return age if isinstance(age, timedelta) else timedelta(seconds=age)


def route_price(
    asset: str,
    prices: Mapping[str, Price],
    *,
    quote: str,
    now: datetime,
    max_price_age: float | timedelta,
    via: Sequence[str] = DEFAULT_VIA,
) -> Decimal | None:
    """The price of one `asset` in `quote` through the first existing route, or None (unpriced)."""
    if asset == quote:
        return ONE
    direct = prices.get(f"{asset}/{quote}")
    if direct is not None:  # the first route, taken without building the others (hot path)
        return _usable(direct, now, max_price_age)
    for route in _routes(asset, quote, via):
        if not all(symbol in prices for symbol, _ in route):
            continue
        result = ONE
        for symbol, inverted in route:
            leg = _usable(prices[symbol], now, max_price_age)
            if leg is None:
                return None
            result = result / leg if inverted else result * leg
        return result
    return None


def symbols_to_price(
    assets: Iterable[str],
    *,
    quote: str,
    available: Collection[str],
    via: Sequence[str] = DEFAULT_VIA,
) -> list[str]:
    """The ticker symbols to fetch so that every asset can be priced (sorted, no duplicates).

    For each asset this is the first route (see the module docstring) whose symbols the exchange
    lists in `available`; assets with no route add nothing and will be reported unpriced.
    """
    wanted: set[str] = set()
    for asset in assets:
        if asset == quote:
            continue
        for route in _routes(asset, quote, via):
            if all(symbol in available for symbol, _ in route):
                wanted.update(symbol for symbol, _ in route)
                break
    return sorted(wanted)


def is_dust(amount: Decimal, price: Decimal, rules: MarketRules | None) -> bool:
    """Whether a holding is too small to be sold in one order on its market (docs/rules.md).

    Without known market rules nothing is dust: the policy's own minimum applies instead.
    """
    if rules is None:
        return False
    if amount < rules.min_amount or floor_to_step(amount, rules.amount_step) <= 0:
        return True
    return amount * price < rules.min_notional


def value_portfolio(
    balances: Mapping[str, Balance],
    prices: Mapping[str, Price],
    *,
    quote: str,
    cash_assets: Sequence[str],
    markets: Mapping[str, MarketRules],
    now: datetime,
    max_price_age: float | timedelta,
    watchlist: Sequence[str] = (),
    listed: Collection[str] | None = None,
) -> Portfolio:
    """Value every balance in `quote`: cash, holdings (with dust flags), and unpriced assets.

    Cash is the quote plus `cash_assets`, valued at their price where one is usable, else 1.0.
    Unpriced holdings are listed and left out of the total value; so are watchlist assets
    without a price. `Portfolio.prices` has every priced non-cash asset, held or watched.
    `max_price_age` is in seconds (or a timedelta). `listed`: the symbols of the exchange's
    active markets, to tell unpriced holdings with no market at all (`Portfolio.unlisted`);
    None: unknown. Raises ValueError on a negative or non-finite balance (an exchange never
    reports one).
    """
    cash_names = {quote, *cash_assets}
    via = (*DEFAULT_VIA, *(a for a in cash_assets if a not in DEFAULT_VIA))

    def price_of(asset: str) -> Decimal | None:
        return route_price(
            asset, prices, quote=quote, now=now, max_price_age=max_price_age, via=via
        )

    cash_balances: dict[str, Decimal] = {}
    cash_prices: dict[str, Decimal] = {}
    cash_value = ZERO
    priced: dict[str, tuple[Balance, Decimal]] = {}
    unpriced: set[str] = set()
    for asset in sorted(balances):
        balance = balances[asset]
        for part, amount in (("free", balance.free), ("locked", balance.locked)):
            if not amount.is_finite() or amount < 0:
                raise ValueError(f"balance of {asset} ({part}) is {amount}: must be ≥ 0")
        total = balance.total
        if total == 0:
            continue
        if asset in cash_names:
            cash_balances[asset] = total
            cash_price = price_of(asset) if asset != quote else None
            if cash_price is not None:
                cash_prices[asset] = cash_price
            cash_value += total * (cash_price or ONE)
            continue
        price = price_of(asset)
        if price is None:
            unpriced.add(asset)
        else:
            priced[asset] = (balance, price)

    total_value = cash_value + sum((b.total * p for b, p in priced.values()), ZERO)
    holdings: dict[str, Holding] = {}
    for asset, (balance, price) in priced.items():
        value = balance.total * price
        holdings[asset] = Holding(
            asset=asset,
            free=balance.free,
            locked=balance.locked,
            price=price,
            value=value,
            allocation=value / total_value if total_value else ZERO,
            dust=is_dust(balance.total, price, markets.get(asset)),
        )

    asset_prices = {asset: h.price for asset, h in holdings.items()}
    for asset in watchlist:
        if asset in cash_names or asset in asset_prices or asset in unpriced:
            continue
        price = price_of(asset)
        if price is None:
            unpriced.add(asset)
        else:
            asset_prices[asset] = price

    quote_balance = balances.get(quote)
    unlisted = () if listed is None else tuple(
        asset for asset in sorted(unpriced & set(balances))
        if balances[asset].total > 0
        and not symbols_to_price([asset], quote=quote, available=listed, via=via))
    return Portfolio(
        quote=quote,
        total_value=total_value,
        cash_value=cash_value,
        cash_balances=cash_balances,
        holdings=holdings,
        prices=dict(sorted(asset_prices.items())),
        dust=tuple(sorted(a for a, h in holdings.items() if h.dust)),
        unpriced=tuple(sorted(unpriced)),
        quote_free=quote_balance.free if quote_balance is not None else ZERO,
        cash_prices=cash_prices,
        unlisted=unlisted,
    )
