"""The simulated fill: one market order against a balance, with fee, slippage and rounding.

Pure arithmetic shared by the paper exchange (which keeps balances in SQLite) and backtests
(which keep them in memory), so both trade by exactly one model:

- the amount is floored to the market's step and must meet its minimums (`BelowMinimum`);
- a buy pays `last × (1 + slippage)`, a sell gets `last × (1 − slippage)`, on the price tick;
- the fee is `fee_rate × cost`, charged in the quote currency;
- a buy needs cost + fee in free quote, a sell the amount in free base (`InsufficientFunds`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from core.domain.models import Balance, Market, Side
from core.domain.rounding import floor_to_step, order_problem, round_to_tick
from core.exchange.errors import BelowMinimum, InsufficientFunds


@dataclass(frozen=True, slots=True)
class SimulatedFill:
    """What one filled market order did: amounts, price, fee and the balances after it."""

    amount: Decimal
    price: Decimal
    cost: Decimal
    fee: Decimal
    base: Balance
    quote: Balance


def order_amount(side: Side, requested: Decimal, market: Market, last: Decimal) -> Decimal:
    """The requested amount floored to the step, or `BelowMinimum` naming the problem."""
    amount = floor_to_step(requested, market.rules.amount_step)
    problem = order_problem(market.rules, amount, last)
    if problem is not None:
        raise BelowMinimum(f"{side} {requested} {market.symbol}: {problem}")
    return amount


def fill_price(side: Side, last: Decimal, market: Market, slippage: Decimal) -> Decimal:
    """Where a market order fills: `last` ± slippage against the taker, on the tick."""
    direction = 1 if side is Side.BUY else -1
    return round_to_tick(last * (1 + direction * slippage), market.rules.price_tick)


def within_limit(side: Side, price: Decimal, limit: Decimal | None) -> bool:
    """Whether a fill at `price` respects a limit order's price (no limit: any price)."""
    if limit is None:
        return True
    return price <= limit if side is Side.BUY else price >= limit


def simulate_fill(
    side: Side,
    amount: Decimal,
    last: Decimal,
    market: Market,
    *,
    fee_rate: Decimal,
    slippage: Decimal,
    base: Balance,
    quote: Balance,
) -> SimulatedFill:
    """Fill `amount` (already on the step) at `last` ± slippage; `InsufficientFunds` if short."""
    price = fill_price(side, last, market, slippage)
    cost = amount * price
    fee = cost * fee_rate
    if side is Side.BUY:
        need = cost + fee
        if quote.free < need:
            raise InsufficientFunds(
                f"buy {amount} {market.base} needs {need} {market.quote} "
                f"(cost and fee); free {market.quote} is {quote.free}"
            )
        return SimulatedFill(amount, price, cost, fee, Balance(base.free + amount, base.locked),
                             Balance(quote.free - need, quote.locked))
    if base.free < amount:
        raise InsufficientFunds(f"sell {amount} {market.base}: free {market.base} is {base.free}")
    return SimulatedFill(amount, price, cost, fee, Balance(base.free - amount, base.locked),
                         Balance(quote.free + cost - fee, quote.locked))
