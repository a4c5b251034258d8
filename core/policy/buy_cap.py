"""The cash-floor buy cap: how much of a planned buy may be sent now.

One rule for the engine's executor (`core.engine.execution.Executor`) and the fast backtest
(`core.backtest.simulation.Simulation.engine_buy_cap`), so the two cannot drift apart. Pure:
the caller reads the portfolio, the free quote balance and the market rules.
"""

from __future__ import annotations

from decimal import Decimal

from core.domain.models import ZERO, MarketRules, Portfolio
from core.domain.rounding import floor_to_step, order_problem


def buy_cap(
    asset: str,
    amount: Decimal,
    planned_price: Decimal | None,
    *,
    portfolio: Portfolio,
    free_quote: Decimal,
    rules: MarketRules | None,
    quote: str,
    cash_floor: Decimal,
    fee_rate: Decimal,
    max_slippage: Decimal,
    max_position: Decimal | None = None,
) -> tuple[Decimal, str]:
    """The part of a buy of `amount` that the account pays without taking cash below the floor.

    Spends at most the free quote balance and the cash above `cash_floor` of the total value,
    at the portfolio's price of `asset` (the planned price where the portfolio has none). A
    buy is sized for its price limit: the exchange holds the limit price's worth (up to
    `max_slippage` above) and the fee while it fills. With `max_position`, the buy also stops
    where the holding would pass that share of the total value. Returns (amount, "") or, when
    nothing can be sent, (0, why).
    """
    above_floor = portfolio.cash_value - cash_floor * portfolio.total_value
    price = portfolio.prices.get(asset, planned_price)
    budget = min(free_quote, above_floor)
    if budget <= 0 or price is None or price <= 0:
        return ZERO, f"no {quote} to spend above the cash floor"
    step = rules.amount_step if rules is not None else None
    worst = price * (1 + max_slippage) * (1 + fee_rate)
    allowed = min(amount, floor_to_step(budget / worst, step))
    if max_position is not None:
        holding = portfolio.holdings.get(asset)
        room = max_position * portfolio.total_value - (holding.value if holding else ZERO)
        if room <= 0:
            return ZERO, f"{asset} is already at max_position ({max_position:.0%})"
        allowed = min(allowed, floor_to_step(room / price, step))
    if rules is not None:
        problem = order_problem(rules, allowed, price)
        if problem is not None:
            return ZERO, f"what cash allows is too small: {problem}"
    return allowed, ""
