"""Exchange rounding and minimums, shared by the policy, the paper exchange and the live adapter.

One definition so that a plan the policy makes is an order every exchange path accepts.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

from core.domain.models import MarketRules, Side


def floor_to_step(amount: Decimal, step: Decimal | None) -> Decimal:
    """Round `amount` down to a multiple of `step` (no step: unchanged), never up."""
    if step is None or step <= 0:
        return amount
    return (amount / step).to_integral_value(rounding=ROUND_DOWN) * step


def round_to_tick(price: Decimal, tick: Decimal | None) -> Decimal:
    """Round `price` to the nearest multiple of `tick` (no tick: unchanged)."""
    if tick is None or tick <= 0:
        return price
    return (price / tick).to_integral_value(rounding=ROUND_HALF_EVEN) * tick


def on_tick(price: Decimal, tick: Decimal | None, *, up: bool) -> Decimal:
    """`price` on a multiple of `tick`, rounded up or down (no tick: unchanged)."""
    if tick is None or tick <= 0:
        return price
    rounding = ROUND_CEILING if up else ROUND_FLOOR
    return (price / tick).to_integral_value(rounding=rounding) * tick


def protection_limit(
    side: Side, reference: Decimal, max_slippage: Decimal, tick: Decimal | None
) -> Decimal:
    """The limit price that keeps an order within `max_slippage` of `reference`.

    A buy pays at most `reference × (1 + max_slippage)`, a sell gets at least
    `reference × (1 − max_slippage)`; on the tick, rounded inside the band.
    """
    if side is Side.BUY:
        return on_tick(reference * (1 + max_slippage), tick, up=False)
    return on_tick(reference * (1 - max_slippage), tick, up=True)


def order_problem(rules: MarketRules, amount: Decimal, price: Decimal) -> str | None:
    """Why an order of `amount` at `price` breaks the market's rules, or None if it is fine.

    `amount` must already be on the step; the notional is `amount × price`.
    """
    if amount <= 0:
        return "amount rounds to zero at the market's step"
    if rules.amount_step is not None and floor_to_step(amount, rules.amount_step) != amount:
        return f"amount {amount} is not a multiple of the step {rules.amount_step}"
    if amount < rules.min_amount:
        return f"amount {amount} is below the minimum amount {rules.min_amount}"
    notional = amount * price
    if notional < rules.min_notional:
        return f"order value {notional:.8f} is below the minimum notional {rules.min_notional}"
    return None
