"""The portfolio and position facts after a plan is executed at its own prices and fees.

Used to check a plan (no churn: plan again on the projection and nothing is left to do) and
to preview its outcome. Real executions report their own fills; this is the estimate.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, localcontext

from core.domain.models import ZERO, Holding, MarketRules, Plan, Portfolio, PositionFacts, Side
from core.domain.valuation import is_dust
from core.policy.book import PRECISION


def project_portfolio(
    portfolio: Portfolio,
    plan: Plan,
    markets: Mapping[str, MarketRules] | None = None,
) -> Portfolio:
    """`portfolio` after every trade of `plan` fills at its price with its fee.

    Sells add value − fee to the quote balance, buys take value + fee from it. Dust flags are
    recomputed from `markets` when given (else kept; a new holding is not dust).
    """
    with localcontext() as ctx:
        ctx.prec = PRECISION
        free = {name: h.free for name, h in portfolio.holdings.items()}
        locked = {name: h.locked for name, h in portfolio.holdings.items()}
        prices = {name: h.price for name, h in portfolio.holdings.items()}
        flags = {name: h.dust for name, h in portfolio.holdings.items()}
        cash_delta = ZERO
        for trade in plan.trades:
            prices.setdefault(trade.asset, trade.price)
            locked.setdefault(trade.asset, ZERO)
            if trade.side is Side.SELL:
                free[trade.asset] = free.get(trade.asset, ZERO) - trade.amount
                cash_delta += trade.value - trade.fee
            else:
                free[trade.asset] = free.get(trade.asset, ZERO) + trade.amount
                cash_delta -= trade.value + trade.fee

        cash_balances = dict(portfolio.cash_balances)
        quote_amount = cash_balances.get(portfolio.quote, ZERO) + cash_delta
        if quote_amount:
            cash_balances[portfolio.quote] = quote_amount
        else:
            cash_balances.pop(portfolio.quote, None)
        cash_value = portfolio.cash_value + cash_delta

        amounts = {name: free[name] + locked[name] for name in free}
        values = {name: amounts[name] * prices[name] for name in amounts if amounts[name]}
        total = cash_value + sum(values.values(), ZERO)
        holdings: dict[str, Holding] = {}
        for name in sorted(values):
            if markets is not None:
                dust = is_dust(amounts[name], prices[name], markets.get(name))
            else:
                dust = flags.get(name, False)
            holdings[name] = Holding(
                asset=name,
                free=free[name],
                locked=locked[name],
                price=prices[name],
                value=values[name],
                allocation=values[name] / total if total else ZERO,
                dust=dust,
            )
        quote_free = portfolio.quote_free
        return Portfolio(
            quote=portfolio.quote,
            total_value=total,
            cash_value=cash_value,
            cash_balances=cash_balances,
            holdings=holdings,
            prices=dict(portfolio.prices),
            dust=tuple(name for name, h in holdings.items() if h.dust),
            unpriced=portfolio.unpriced,
            quote_free=None if quote_free is None else quote_free + cash_delta,
        )


def project_positions(
    positions: Mapping[str, PositionFacts],
    portfolio: Portfolio,
    plan: Plan,
    now: datetime,
) -> dict[str, PositionFacts]:
    """Position facts after `plan` executes at `now`: last buy/sell times and cost basis.

    A buy moves the cost basis to the average cost including the fee (when the previous basis
    is known, or the asset was not held); a sell leaves the basis as it is.
    """
    result = dict(positions)
    with localcontext() as ctx:
        ctx.prec = PRECISION
        for trade in plan.trades:
            old = result.get(trade.asset, PositionFacts())
            if trade.side is Side.SELL:
                result[trade.asset] = PositionFacts(old.cost_basis, old.last_buy, now)
                continue
            holding = portfolio.holdings.get(trade.asset)
            held = holding.amount if holding is not None else ZERO
            basis: Decimal | None
            if held == 0:
                basis = (trade.value + trade.fee) / trade.amount
            elif old.cost_basis is not None:
                spent = old.cost_basis * held + trade.value + trade.fee
                basis = spent / (held + trade.amount)
            else:
                basis = None
            result[trade.asset] = PositionFacts(basis, now, old.last_sell)
    return result
