"""What must still hold right before an order goes out: the settings in force allow it, and no
second Ballast is trading the same account.

Across machines no local lock helps (docs/deploy.md), so two signs give a second bot away:

* an order on the account carrying a Ballast client order id (`bl-…`) that this database did
  not send;
* a free balance the order rests on (the asset sold; the quote cash of a buy) that moved since
  the approval's re-check by more than this plan's own fills explain.

Either one stops the plan before the send and pauses trading; the engine tells the owner once.
The foreign-order look is made again after each send, so two bots sending in the very same
instant, which no check before the send can see, are at least both stopped and reported.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from core.config.settings import Settings
from core.domain.models import ZERO, Balance, Side
from core.domain.sanity import balance_changes
from core.engine.approvals import Approval
from core.engine.orders import OrderRepo, OrderRow, is_ballast_order
from core.exchange.base import Exchange, Order

# How far back the account's orders are compared with this database's own.
FOREIGN_LOOKBACK = timedelta(hours=24)

# When the owner last resumed trading (None: never): foreign orders before it are known.
KnownBefore = Callable[[], Awaitable[datetime | None]]


def settings_refusal(row: OrderRow, settings: Settings) -> str | None:
    """Why the settings in force forbid sending `row` (None: they allow it).

    `never_sell` is absolute: a plan made before the asset was put on it is not sold either.
    """
    if row.side is Side.SELL and row.asset in settings.never_sell:
        return f"{row.asset} is on never_sell in the settings in force: it is never sold"
    return None


def expected_free(
    planned: Mapping[str, Decimal], rows: Sequence[OrderRow], quote: str
) -> dict[str, Decimal]:
    """The free balances the plan rested on, moved by what its own orders filled so far."""
    expected = dict(planned)

    def add(asset: str, amount: Decimal) -> None:
        if asset in expected:
            expected[asset] += amount

    for row in rows:
        if row.filled <= 0:
            continue
        quote_fee = row.fee if row.fee_currency == quote else ZERO
        base_fee = row.fee if row.fee_currency == row.asset else ZERO
        if row.side is Side.SELL:
            add(row.asset, -row.filled - base_fee)
            add(quote, row.cost - quote_fee)
        else:
            add(row.asset, row.filled - base_fee)
            add(quote, -row.cost - quote_fee)
    return expected


def balance_problem(
    row: OrderRow,
    planned: Mapping[str, Decimal],
    rows: Sequence[OrderRow],
    balances: Mapping[str, Balance],
    quote: str,
) -> str | None:
    """Why the balance `row` rests on is not what the plan and its own fills leave (None: it is).

    A sell rests on the asset's free amount, a buy on the quote's free cash.
    """
    asset = row.asset if row.side is Side.SELL else quote
    expected = expected_free(planned, rows, quote)
    if asset not in expected:
        return None
    changed = balance_changes({asset: expected[asset]}, balances)
    if not changed:
        return None
    return ("the free balance changed between the approval's re-check and the send, more than "
            f"this plan's own fills explain ({changed[0]}): is something else trading this "
            "account?")


async def foreign_orders(
    exchange: Exchange, orders: OrderRepo, symbol: str, now: datetime,
    known_before: datetime | None = None,
) -> list[Order]:
    """Orders on `symbol` with a Ballast client order id that this database never sent.

    Placed within `FOREIGN_LOOKBACK`, and after `known_before` (the owner's last resume: what
    came before it they have seen and resumed over).
    """
    since = now - FOREIGN_LOOKBACK
    if known_before is not None and known_before > since:
        since = known_before
    found = await exchange.fetch_orders(symbol, since)
    return [order for order in found
            if is_ballast_order(order.client_order_id)
            and (order.timestamp is None or order.timestamp >= since)
            and await orders.get(order.client_order_id) is None]


def foreign_problem(found: Sequence[Order]) -> str:
    """The foreign orders in words, for the owner."""
    listed = ", ".join(
        f"{o.side.value} {o.filled} of {o.amount} {o.symbol} ({o.status.value}, "
        f"{o.client_order_id})" for o in found[:3])
    more = f" and {len(found) - 3} more" if len(found) > 3 else ""
    return (f"orders this database did not send are on the account: {listed}{more}: is a second "
            "Ballast running on this account (another machine, another database)?")


class AccountWatch:
    """Looks for a second Ballast on the account around each of this database's sends."""

    def __init__(self, exchange: Exchange, orders: OrderRepo, quote: str,
                 known_before: KnownBefore | None = None) -> None:
        self._exchange = exchange
        self._orders = orders
        self._quote = quote
        self._known_before = known_before

    async def before_send(self, row: OrderRow, approval: Approval, now: datetime) -> str | None:
        """Why `row` must not be sent because another bot seems to trade (None: no sign)."""
        problem = await self.after_send(row, now)
        if problem is not None or approval.balances is None:
            return problem
        # The balances come last, nearest the send: the less time for a second bot to slip in.
        balances = await self._exchange.fetch_balances()
        rows = await self._orders.for_approval(approval.id)
        return balance_problem(row, approval.balances, rows, balances, self._quote)

    async def after_send(self, row: OrderRow, now: datetime) -> str | None:
        """Foreign Ballast orders on `row`'s market, in words (None: there are none)."""
        known = await self._known_before() if self._known_before is not None else None
        found = await foreign_orders(self._exchange, self._orders, row.symbol, now, known)
        return foreign_problem(found) if found else None
