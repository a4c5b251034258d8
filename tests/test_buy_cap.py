"""The cash-floor buy cap that the executor and the fast backtest share (core.policy.buy_cap)."""

from __future__ import annotations

from decimal import Decimal

from core.domain.models import ZERO, MarketRules, Portfolio
from core.policy.buy_cap import buy_cap

D = Decimal
RULES = MarketRules(min_notional=D("5"), amount_step=D("0.01"))


def portfolio(cash: str, total: str, prices: dict[str, Decimal]) -> Portfolio:
    return Portfolio("USDT", D(total), D(cash), {"USDT": D(cash)}, {}, prices)


def cap(amount: str, planned: Decimal | None, account: Portfolio, free: str,
        rules: MarketRules | None = RULES) -> tuple[Decimal, str]:
    return buy_cap("SOL", D(amount), planned, portfolio=account, free_quote=D(free),
                   rules=rules, quote="USDT", cash_floor=D("0.15"), fee_rate=D("0.001"),
                   max_slippage=D("0.01"))


def test_a_buy_is_sized_for_its_price_limit_and_fee_within_the_cash_above_the_floor() -> None:
    account = portfolio("1000", "2000", {"SOL": D("100")})
    # 1000 - 0.15 x 2000 = 700 above the floor; at most 100 x 1.01 x 1.001 a unit.
    assert cap("10", D("90"), account, "1000") == (D("6.92"), "")
    assert cap("5", D("90"), account, "1000") == (D("5"), "")  # the plan asked for less
    assert cap("10", D("90"), account, "300") == (D("2.96"), "")  # the free quote is less


def test_without_a_portfolio_price_the_planned_price_counts() -> None:
    account = portfolio("1000", "2000", {})
    assert cap("10", D("100"), account, "1000") == (D("6.92"), "")
    assert cap("10", None, account, "1000") == (ZERO, "no USDT to spend above the cash floor")


def test_nothing_above_the_floor_or_too_little_is_refused_with_the_reason() -> None:
    account = portfolio("300", "2000", {"SOL": D("100")})
    assert cap("10", D("100"), account, "1000") == (ZERO, "no USDT to spend above the cash floor")
    account = portfolio("304", "2000", {"SOL": D("100")})  # 4 above the floor: below 5 notional
    amount, why = cap("10", D("100"), account, "1000")
    assert amount == ZERO
    assert why == ("what cash allows is too small: order value 3.00000000 is below the "
                   "minimum notional 5")
    amount, why = cap("10", D("100"), account, "1000", rules=None)  # no market rules known
    assert (amount, why) == (D(4) / (D("100") * D("1.01") * D("1.001")), "")
