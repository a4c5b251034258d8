"""The decision mechanisms (docs/rules.md) in the policy, one at a time, against the seed's rule.

Every test plans the same portfolio twice: with the mechanism's setting off (what the seed
does) and on, and shows the difference and the skip reason the owner reads. Portfolio:
V = $10,000 at `SCENARIO_PRICES`, fees 0 unless said.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from core.domain.models import (
    AssetSignal,
    Plan,
    Portfolio,
    PositionFacts,
    Side,
    SkipReason,
    TradeReason,
)
from core.policy import PlanInput, make_plan
from tests.factories import NOW, d, facts, policy, portfolio_by_value, signals


def plan_of(
    p: Portfolio,
    sig: Mapping[str, AssetSignal] | None = None,
    positions: Mapping[str, PositionFacts] | None = None,
    traded_recently: Decimal = Decimal(0),
    **settings: object,
) -> Plan:
    settings.setdefault("fee_rate", 0)
    settings.setdefault("preset", "seed-literal")
    inp = PlanInput(p, sig or {}, positions or {}, {}, (), NOW, traded_recently)
    return make_plan(inp, policy(**settings))


def sells(plan: Plan) -> list[tuple[str, Decimal, tuple[TradeReason, ...]]]:
    return [(t.asset, t.value, t.reasons) for t in plan.trades if t.side is Side.SELL]


def buys(plan: Plan) -> list[tuple[str, Decimal]]:
    return [(t.asset, t.value) for t in plan.trades if t.side is Side.BUY]


def skips(plan: Plan) -> list[tuple[str, Side, SkipReason]]:
    return [(s.asset, s.side, s.reason) for s in plan.skipped]


# 30% BTC, 25% ETH, 20% SOL, 25% cash: within every seed limit, so only signals act.
CALM = {"BTC": "3000", "ETH": "2500", "SOL": "2000"}


# -- sizing by conviction -------------------------------------------------------------------


def test_a_sell_signal_sells_everything_in_the_seed_and_down_to_its_target_by_conviction() -> None:
    """SELL at score −0.5: the seed sells all $2,500 of ETH; sized, ETH keeps
    (1 − 0.5) × max_position = 15% of V: a $1,000 sell."""
    p = portfolio_by_value(CALM, "2500")
    sig = signals(ETH=("SELL", -0.5))
    assert sells(plan_of(p, sig)) == [("ETH", d(2500), (TradeReason.SIGNAL_SELL,))]
    assert sells(plan_of(p, sig, sizing="conviction")) == [
        ("ETH", d(1000), (TradeReason.SIGNAL_SELL,))
    ]


def test_a_sized_sell_that_would_leave_less_than_min_position_sells_everything() -> None:
    """Score −0.9 targets 3% of V, below min_position (5%): the whole holding goes."""
    p = portfolio_by_value(CALM, "2500")
    plan = plan_of(p, signals(ETH=("SELL", -0.9)), sizing="conviction")
    assert sells(plan) == [("ETH", d(2500), (TradeReason.SIGNAL_SELL,))]


def test_a_sell_outvoted_by_buys_sells_nothing_when_sized() -> None:
    """Under sell_rule = any, one SELL vote among three BUYs (score +0.5) is SELL: the seed
    dumps the holding, sized it has no conviction and sells nothing (`conviction`)."""
    p = portfolio_by_value(CALM, "2500")
    sig = signals(ETH=("SELL", 0.5))
    assert sells(plan_of(p, sig)) == [("ETH", d(2500), (TradeReason.SIGNAL_SELL,))]
    plan = plan_of(p, sig, sizing="conviction")
    assert plan.trades == ()
    assert skips(plan) == [("ETH", Side.SELL, SkipReason.CONVICTION)]


def test_a_plain_buy_spends_to_target_cash_in_the_seed_and_to_its_conviction_when_sized() -> None:
    """Cash 50% (> max_cash) and BTC = BUY at score 0.5: the seed spends down to target_cash
    ($2,500); sized, BTC aims at 0.5 × max_position = 15% of V: a $1,500 buy."""
    p = portfolio_by_value({"ETH": "2500", "SOL": "2500"}, "5000", watch=["BTC"])
    sig = signals(BTC=("BUY", 0.5))
    assert buys(plan_of(p, sig)) == [("BTC", d(2500))]
    assert buys(plan_of(p, sig, sizing="conviction")) == [("BTC", d(1500))]


def test_a_sized_buy_leaves_a_holding_already_at_its_target() -> None:
    p = portfolio_by_value({"BTC": "2000", "SOL": "2500"}, "5500")
    sig = signals(BTC=("BUY", 0.5))
    assert buys(plan_of(p, sig)) == [("BTC", d(1000))]  # up to max_position
    plan = plan_of(p, sig, sizing="conviction")
    assert buys(plan) == []
    assert ("BTC", Side.BUY, SkipReason.CONVICTION) in skips(plan)


# -- bands ----------------------------------------------------------------------------------


def test_a_holding_within_the_trim_band_is_not_trimmed_and_one_above_it_is_trimmed_to_max() -> None:
    inside = portfolio_by_value({"BTC": "3200", "ETH": "2500", "SOL": "2000"}, "2300")
    assert sells(plan_of(inside)) == [("BTC", d(200), (TradeReason.TRIM_TO_MAX,))]
    held = plan_of(inside, trim_band="0.05")
    assert held.trades == ()
    assert skips(held) == [("BTC", Side.SELL, SkipReason.WITHIN_BAND)]
    above = portfolio_by_value({"BTC": "3600", "ETH": "2500", "SOL": "2000"}, "1900")
    assert sells(plan_of(above, trim_band="0.05")) == [
        ("BTC", d(600), (TradeReason.TRIM_TO_MAX,))
    ]


def test_cash_within_the_cash_band_is_not_raised_and_below_it_is_raised_to_min_cash() -> None:
    inside = portfolio_by_value({"BTC": "3000", "ETH": "2800", "SOL": "2400"}, "1800")
    # All HOLD at score 0: the weakest is the largest, BTC.
    assert sells(plan_of(inside)) == [("BTC", d(200), (TradeReason.RAISE_CASH,))]
    held = plan_of(inside, cash_band="0.03")
    assert held.trades == ()
    assert skips(held) == [("BTC", Side.SELL, SkipReason.WITHIN_BAND)]
    below = portfolio_by_value({"BTC": "3000", "ETH": "3000", "SOL": "2400"}, "1600")
    assert sells(plan_of(below, cash_band="0.03")) == [
        ("BTC", d(400), (TradeReason.RAISE_CASH,))
    ]


# -- worth its cost -------------------------------------------------------------------------


def test_a_trade_worth_less_than_its_cost_multiple_is_skipped() -> None:
    """fee 0.1%, cost_multiple 10: a trade below 10 × 0.2% × V = $200 is not worth its
    round-trip fees. A $100 trim is skipped; a $300 one goes."""
    small = portfolio_by_value({"BTC": "3100", "ETH": "2500", "SOL": "2000"}, "2400")
    assert len(plan_of(small, fee_rate="0.001").trades) == 1
    held = plan_of(small, fee_rate="0.001", cost_multiple=10)
    assert held.trades == ()
    assert skips(held) == [("BTC", Side.SELL, SkipReason.NOT_WORTH_COST)]
    large = portfolio_by_value({"BTC": "3300", "ETH": "2500", "SOL": "2000"}, "2200")
    assert len(plan_of(large, fee_rate="0.001", cost_multiple=10).trades) == 1


def test_without_fees_the_cost_test_blocks_nothing() -> None:
    small = portfolio_by_value({"BTC": "3100", "ETH": "2500", "SOL": "2000"}, "2400")
    assert sells(plan_of(small, fee_rate=0, cost_multiple=1000)) == [
        ("BTC", d(100), (TradeReason.TRIM_TO_MAX,))
    ]


def test_a_stop_loss_is_never_held_back_by_the_cost_test_or_the_turnover_budget() -> None:
    p = portfolio_by_value({"BTC": "3000", "ETH": "2500", "SOL": "2000", "AVAX": "600"}, "1900")
    positions = {"AVAX": facts(cost_basis="80")}  # AVAX at 40: 50% below its cost
    plan = plan_of(p, positions=positions, fee_rate="0.001", stop_loss="0.25",
                   cost_multiple=1000, turnover_budget="0.01", traded_recently=d(100))
    assert [(t.asset, t.reasons) for t in plan.trades] == [("AVAX", (TradeReason.STOP_LOSS,))]


# -- turnover budget ------------------------------------------------------------------------


def test_the_turnover_budget_counts_what_was_traded_in_the_window() -> None:
    """Budget 10% of V = $1,000 per window. $500 already traded: a $400 trim fits, a $600
    one does not (`turnover_budget`); with nothing traded it does."""
    small = portfolio_by_value({"BTC": "3400", "ETH": "2500", "SOL": "2000"}, "2100")
    assert len(plan_of(small, turnover_budget="0.1", traded_recently=d(500)).trades) == 1
    large = portfolio_by_value({"BTC": "3600", "ETH": "2000", "SOL": "2000"}, "2400")
    held = plan_of(large, turnover_budget="0.1", traded_recently=d(500))
    assert held.trades == ()
    assert skips(held) == [("BTC", Side.SELL, SkipReason.TURNOVER_BUDGET)]
    assert len(plan_of(large, turnover_budget="0.1").trades) == 1


def test_the_turnover_budget_holds_back_later_trades_of_the_same_plan() -> None:
    """Two SELLs of $2,500 and $2,000 under a $3,000 budget: the weakest (ETH) goes first and
    SOL waits. Adding to an order already planned counts too."""
    p = portfolio_by_value(CALM, "2500")
    sig = signals(ETH=("SELL", -0.75), SOL=("SELL", -0.5))
    assert len(plan_of(p, sig).trades) == 2
    plan = plan_of(p, sig, turnover_budget="0.3")
    assert sells(plan) == [("ETH", d(2500), (TradeReason.SIGNAL_SELL,))]
    assert ("SOL", Side.SELL, SkipReason.TURNOVER_BUDGET) in skips(plan)


# -- small holdings the owner already had ----------------------------------------------------


def test_a_small_holding_the_owner_had_is_kept_unless_a_signal_says_sell() -> None:
    p = portfolio_by_value({"BTC": "3000", "ETH": "2500", "SOL": "2000", "AVAX": "300"}, "2200")
    assert sells(plan_of(p)) == [("AVAX", d(300), (TradeReason.EXIT_BELOW_MIN,))]
    kept = plan_of(p, keep_small_holdings=True)
    assert kept.trades == ()
    assert skips(kept) == [("AVAX", Side.SELL, SkipReason.OWNER_HOLDING)]
    on_signal = plan_of(p, signals(AVAX="SELL"), keep_small_holdings=True)
    assert sells(on_signal) == [("AVAX", d(300), (TradeReason.SIGNAL_SELL,))]
    bought = plan_of(p, positions={"AVAX": facts(bought_ago=86400)}, keep_small_holdings=True)
    assert sells(bought) == [("AVAX", d(300), (TradeReason.EXIT_BELOW_MIN,))]
