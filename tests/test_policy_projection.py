"""Projecting a plan: balances, cash and position facts after it fills at its own prices.

The plans here run under the seed's rules (`preset = "seed-literal"`): a SELL sells the whole
holding at once, so each projection has whole trades to check. The defaults size a SELL by its
score and hold back what the cost test or the turnover budget refuses: a part or nothing.
"""

from __future__ import annotations

from core.domain.models import PositionFacts, Side
from core.policy import PlanInput, make_plan, project_portfolio, project_positions
from tests.factories import NOW, d, facts, policy, portfolio, portfolio_by_value, rules, signals

SEED = "seed-literal"


def test_a_sell_and_a_buy_move_the_quote_balance_by_value_and_fee() -> None:
    p = portfolio_by_value({"ETH": "2000", "SOL": "2000"}, "6000", watch=["BTC"])
    inp = PlanInput(p, signals(ETH="SELL", BTC="STRONG_BUY"), {}, {}, (), NOW)
    plan = make_plan(inp, policy(fee_rate="0.01", preset=SEED))
    sell, buy = plan.trades
    assert (sell.side, buy.side) == (Side.SELL, Side.BUY)
    after = project_portfolio(p, plan)
    delta = sell.value - sell.fee - buy.value - buy.fee
    assert after.cash_balances["USDT"] == d(6000) + delta
    assert after.quote_free == d(6000) + delta
    assert after.cash_value == plan.cash_after
    assert "ETH" not in after.holdings  # sold in full, nothing locked
    assert after.holdings["BTC"].free == buy.amount
    assert after.total_value == p.total_value - sell.fee - buy.fee
    assert after.prices == p.prices


def test_dust_flags_are_recomputed_from_market_rules() -> None:
    markets = {"SOL": rules(5, "0.01")}
    p = portfolio({"SOL": ("10", "200")}, {"USDT": "200"}, markets=markets)
    inp = PlanInput(p, signals(SOL="SELL"), {}, markets, (), NOW)
    plan = make_plan(inp, policy(fee_rate=0, preset=SEED))
    assert project_portfolio(p, plan, markets).holdings == {}
    locked = portfolio(
        {"SOL": ("10", "200")}, {"USDT": "200"}, locked={"SOL": "0.02"}, markets=markets
    )
    plan = make_plan(PlanInput(locked, inp.signals, {}, markets, (), NOW),
                     policy(fee_rate=0, preset=SEED))
    after = project_portfolio(locked, plan, markets)
    assert after.holdings["SOL"].amount == d("0.02")
    assert after.holdings["SOL"].dust and after.dust == ("SOL",)


def test_positions_record_the_trade_times_and_the_average_cost() -> None:
    p = portfolio_by_value({"ETH": "2000", "SOL": "2000"}, "6000", watch=["BTC"])
    positions = {"SOL": facts(cost_basis="100"), "BTC": facts(cost_basis="1", sold_ago=7200)}
    inp = PlanInput(p, signals(ETH="SELL", SOL="STRONG_BUY"), positions, {}, (), NOW)
    plan = make_plan(inp, policy(fee_rate=0, preset=SEED))
    assert [(t.side, t.asset, t.value) for t in plan.trades] == [
        (Side.SELL, "ETH", d(2000)),
        (Side.BUY, "SOL", d(1000)),
    ]
    after = project_positions(positions, p, plan, NOW)
    assert after["ETH"] == PositionFacts(None, None, NOW)
    # 10 SOL at 100 and 5 more at 200: average 133.33…
    assert after["SOL"].last_buy == NOW and after["SOL"].last_sell is None
    assert after["SOL"].cost_basis is not None
    assert abs(after["SOL"].cost_basis - d(2000) / 15) < d("1e-20")
    assert after["BTC"] == positions["BTC"]
