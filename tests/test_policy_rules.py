"""Each rule of docs/rules.md and each skip reason, on small portfolios with figures worked by hand.

Prices are `SCENARIO_PRICES` (BTC 100,000 · ETH 2,500 · SOL 200 · AVAX 40 · LINK 20); fees
are 0 unless a test is about fees. Defaults otherwise: min_cash 20%, target 25%, max_cash 40%,
cash_floor 15%, buy threshold 30%, positions 5%–30%, 3 trades, min_hold 300 s, cooldown 1 h.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal

from core.domain.models import (
    AssetSignal,
    Balance,
    MarketRules,
    Plan,
    Portfolio,
    PositionFacts,
    Price,
    TradeReason,
)
from core.domain.valuation import value_portfolio
from core.policy import PlanInput, make_plan
from tests.factories import (
    NOW,
    d,
    facts,
    policy,
    portfolio,
    portfolio_by_value,
    rules,
    signals,
)


def plan_of(
    p: Portfolio,
    sig: Mapping[str, AssetSignal] | None = None,
    positions: Mapping[str, PositionFacts] | None = None,
    markets: Mapping[str, MarketRules] | None = None,
    **settings: object,
) -> Plan:
    settings.setdefault("fee_rate", 0)
    settings.setdefault("preset", "seed-literal")  # the seed's rules, whatever the defaults
    inp = PlanInput(p, sig or {}, positions or {}, markets or {}, (), NOW)
    return make_plan(inp, policy(**settings))


def trades(plan: Plan) -> list[tuple[str, str, Decimal, tuple[str, ...]]]:
    return [
        (t.side.value, t.asset, t.value, tuple(r.value for r in t.reasons)) for t in plan.trades
    ]


def skips(plan: Plan) -> list[tuple[str, str, str]]:
    return [(s.side.value, s.asset, s.reason.value) for s in plan.skipped]


# A calm portfolio: cash 60%, ETH and SOL 20% each. Nothing to do unless a signal says so.
CALM = {"ETH": "2000", "SOL": "2000"}


def test_a_calm_portfolio_gives_an_empty_plan() -> None:
    plan = plan_of(portfolio_by_value(CALM, "6000"))
    assert plan.is_empty and plan.skipped == ()
    assert plan.before == plan.after == {"ETH": d("0.2"), "SOL": d("0.2"), "cash": d("0.6")}


def test_an_empty_portfolio_gives_an_empty_plan() -> None:
    plan = plan_of(portfolio(), signals(BTC="STRONG_BUY"))
    assert plan.is_empty and plan.total_value == 0 and plan.after == {"cash": 0}


# ---- rule 1: stop-loss and signal sells -------------------------------------------------


def test_sell_signal_sells_the_whole_free_amount_never_the_locked_part() -> None:
    p = portfolio({"ETH": ("1", "2500")}, {"USDT": "5000"}, locked={"ETH": "0.5"})
    plan = plan_of(p, signals(ETH="SELL"))
    assert trades(plan) == [("sell", "ETH", d("2500"), ("signal_sell",))]
    assert plan.trades[0].amount == 1
    assert abs(plan.after["ETH"] - d(1250) / d(8750)) < d("1e-25")


def test_signal_sells_go_weakest_first_and_the_trade_cap_keeps_the_weakest() -> None:
    p = portfolio_by_value({"BTC": "2000", "ETH": "2000", "SOL": "2000", "AVAX": "2000"}, "2000")
    sig = signals(BTC=("SELL", -0.25), ETH=("SELL", -1), SOL=("SELL", -0.5), AVAX=("SELL", -0.75))
    plan = plan_of(p, sig)
    assert [t.asset for t in plan.trades] == ["ETH", "AVAX", "SOL"]
    assert skips(plan) == [("sell", "BTC", "trade_cap")]


def test_when_the_cap_bites_earlier_rules_win() -> None:
    """Cap 1: SOL's signal sell (rule 1) is planned, ETH's trim (rule 2) waits."""
    p = portfolio_by_value({"ETH": "4000", "SOL": "2000"}, "4000")
    plan = plan_of(p, signals(SOL="SELL"), max_trades_per_cycle=1)
    assert trades(plan) == [("sell", "SOL", d("2000"), ("signal_sell",))]
    assert skips(plan) == [("sell", "ETH", "trade_cap")]


def test_min_hold_protects_a_recent_buy_and_ends_at_exactly_min_hold() -> None:
    p = portfolio_by_value(CALM, "6000")
    plan = plan_of(p, signals(ETH="SELL"), {"ETH": facts(bought_ago=299)})
    assert plan.is_empty and skips(plan) == [("sell", "ETH", "min_hold")]
    assert "bought 299 s ago" in plan.skipped[0].detail
    plan = plan_of(p, signals(ETH="SELL"), {"ETH": facts(bought_ago=300)})
    assert trades(plan) == [("sell", "ETH", d("2000"), ("signal_sell",))]


def test_loss_guard_holds_a_signal_sell_more_than_10_percent_below_cost() -> None:
    p = portfolio({"ETH": ("1", "2700")}, {"USDT": "20000"})
    held = plan_of(p, signals(ETH="SELL"), {"ETH": facts(cost_basis="3001")})
    assert held.is_empty and skips(held) == [("sell", "ETH", "loss_guard")]
    at_limit = plan_of(p, signals(ETH="SELL"), {"ETH": facts(cost_basis="3000")})  # 10% below
    assert [t.asset for t in at_limit.trades] == ["ETH"]
    off = plan_of(
        p, signals(ETH="SELL"), {"ETH": facts(cost_basis="9000")}, signal_sell_max_loss=None
    )
    assert [t.asset for t in off.trades] == ["ETH"]


def test_never_sell_protects_from_every_rule() -> None:
    """ETH is on never_sell: its SELL is skipped, and the cash raise goes past it to SOL."""
    p = portfolio_by_value({"ETH": "4000", "SOL": "4000"}, "500")  # V 8,500, cash 5.9%
    sig = signals(ETH=("SELL", -0.5), SOL="HOLD")
    plan = plan_of(p, sig, never_sell=["eth"], max_position="0.6")
    assert skips(plan) == [("sell", "ETH", "never_sell")]
    # 20% of 8,500 = 1,700: 1,200 more cash, all from SOL.
    assert trades(plan) == [("sell", "SOL", d("1200"), ("raise_cash",))]


def test_dust_is_never_sold_and_not_exited() -> None:
    p = portfolio({"SOL": ("0.02", "200")}, {"USDT": "1000"}, markets={"SOL": rules(5)})
    assert p.dust == ("SOL",)
    plan = plan_of(p, signals(SOL="SELL"), markets={"SOL": rules(5)})
    assert plan.is_empty and skips(plan) == [("sell", "SOL", "dust")]
    assert plan_of(p, markets={"SOL": rules(5)}).skipped == ()  # no exit attempt either


def test_an_unpriced_holding_is_reported_not_traded() -> None:
    stale = Price("ETH", "USDT", d(2500), NOW - timedelta(hours=1))
    p = value_portfolio(
        {"ETH": Balance(d(1)), "USDT": Balance(d(5000))},
        {"ETH/USDT": stale},
        quote="USDT",
        cash_assets=("USDT",),
        markets={},
        now=NOW,
        max_price_age=120,
    )
    plan = plan_of(p, signals(ETH="SELL", LINK="STRONG_BUY"))
    assert plan.is_empty
    assert skips(plan) == [("sell", "ETH", "unpriced"), ("buy", "LINK", "unpriced")]
    assert plan.total_value == 5000


def test_stop_loss_sells_everything_even_where_the_loss_guard_would_hold() -> None:
    p = portfolio_by_value(CALM, "6000")
    deep = {"ETH": facts(cost_basis="4000")}  # price 2,500: 37.5% below
    plan = plan_of(p, signals(ETH="SELL"), deep, stop_loss="0.25")
    assert trades(plan) == [("sell", "ETH", d("2000"), ("stop_loss", "signal_sell"))]
    plan = plan_of(p, {}, deep, stop_loss="0.25")
    assert trades(plan) == [("sell", "ETH", d("2000"), ("stop_loss",))]
    assert plan_of(p, {}, deep).is_empty  # stop_loss off by default
    shallow = {"ETH": facts(cost_basis="3000")}  # 16.7% below: under the 25% stop
    assert plan_of(p, {}, shallow, stop_loss="0.25").is_empty


def test_stop_loss_respects_min_hold_and_never_sell() -> None:
    p = portfolio_by_value(CALM, "6000")
    recent = {"ETH": facts(cost_basis="4000", bought_ago=10)}
    assert skips(plan_of(p, {}, recent, stop_loss="0.25")) == [("sell", "ETH", "min_hold")]
    deep = {"ETH": facts(cost_basis="4000")}
    kept = plan_of(p, {}, deep, stop_loss="0.25", never_sell=["ETH"])
    assert kept.is_empty and skips(kept) == [("sell", "ETH", "never_sell")]


def test_sell_on_signal_off_ignores_sell_signals() -> None:
    plan = plan_of(portfolio_by_value(CALM, "6000"), signals(ETH="SELL"), sell_on_signal=False)
    assert plan.is_empty and plan.skipped == ()


def test_a_sell_below_the_minimum_trade_is_skipped() -> None:
    """$8 of SOL with no known market: the minimum is min_trade_value ($10)."""
    p = portfolio({"SOL": ("0.04", "200")}, {"USDT": "1000"})
    plan = plan_of(p, signals(SOL="SELL"))
    assert plan.is_empty and skips(plan) == [("sell", "SOL", "below_min_trade")]
    assert "minimum notional 10" in plan.skipped[0].detail
    # The exchange's minimum applies when it is larger than min_trade_value.
    plan = plan_of(
        portfolio({"SOL": ("0.1", "200")}, {"USDT": "1000"}),
        signals(SOL="SELL"),
        markets={"SOL": rules(25, "0.01")},
    )
    assert skips(plan) == [("sell", "SOL", "below_min_trade")]
    assert "minimum notional 25" in plan.skipped[0].detail


# ---- rule 2: trims -----------------------------------------------------------------------


def test_trim_rounds_up_to_the_step_so_the_holding_ends_within_max_position() -> None:
    """ETH 1.604 ($4,010) of V $10,010: 30% is $3,003, so 0.4028 ETH must go; on a 0.01
    step that is 0.41 (0.40 would leave $3,010, above the cap)."""
    p = portfolio({"ETH": ("1.604", "2500")}, {"USDT": "6000"})
    plan = plan_of(p, markets={"ETH": rules(10, "0.01")})
    assert trades(plan) == [("sell", "ETH", d("1025"), ("trim_to_max",))]
    assert plan.trades[0].amount == d("0.41")
    assert plan.after["ETH"] <= d("0.3")


def test_with_fees_a_trim_lands_on_max_position_of_the_value_after_fees() -> None:
    """Fees lower V, which raises every allocation a little. The policy measures
    max_position against the value after the plan's own fees, so ETH ends at 30.0%, not
    above it, and not at a cruder 30% × (1 − 2f)."""
    p = portfolio_by_value({"ETH": "4000", "SOL": "2000"}, "4000")
    plan = plan_of(p, fee_rate="0.001")
    assert [t.asset for t in plan.trades] == ["ETH"]
    assert d("0.29999999999") < plan.after["ETH"] <= d("0.3")


# ---- rule 3: exits below min_position -----------------------------------------------------


def test_a_holding_below_min_position_is_sold_entirely() -> None:
    p = portfolio_by_value({"ETH": "2900", "SOL": "2900", "AVAX": "400"}, "3800")
    plan = plan_of(p)
    assert trades(plan) == [("sell", "AVAX", d("400"), ("exit_below_min",))]
    assert plan.trades[0].amount == 10


def test_a_sell_of_everything_rounds_the_free_amount_down_to_the_step() -> None:
    p = portfolio({"SOL": ("2.129", "200")}, {"USDT": "9000"})
    plan = plan_of(p, markets={"SOL": rules(5, "0.01")})
    assert plan.trades[0].amount == d("2.12")
    assert plan.trades[0].reasons == (TradeReason.EXIT_BELOW_MIN,)


# ---- rule 4: cash raise -------------------------------------------------------------------


def test_cash_raise_sells_all_of_the_weakest_then_part_of_the_next() -> None:
    """V 10,000, cash 7%: 1,300 needed. SOL (weakest) gives all its 600; the rest (700) comes
    from the largest of the tied HOLDs — AVAX, by name among equal values."""
    p = portfolio_by_value({"SOL": "600", "BTC": "2900", "ETH": "2900", "AVAX": "2900"}, "700")
    plan = plan_of(p, signals(SOL=("HOLD", -0.5)))
    assert trades(plan) == [
        ("sell", "SOL", d("600"), ("raise_cash",)),
        ("sell", "AVAX", d("700"), ("raise_cash",)),
    ]
    assert plan.after["cash"] == d("0.2")


def test_a_partial_cash_raise_must_leave_min_position_or_sell_everything() -> None:
    others = {"BTC": "2500", "ETH": "2500", "AVAX": "2500"}
    sig = signals(SOL=("HOLD", -0.5))
    # Needs 300 from SOL's 800: 500 (exactly 5%) is left, so a partial sell is fine.
    plan = plan_of(portfolio_by_value({"SOL": "800", **others}, "1700"), sig)
    assert trades(plan) == [("sell", "SOL", d("300"), ("raise_cash",))]
    # Needs 300 from SOL's 700: 400 would be left, below 5%, so all of SOL goes.
    others["AVAX"] = "2600"
    plan = plan_of(portfolio_by_value({"SOL": "700", **others}, "1700"), sig)
    assert trades(plan) == [("sell", "SOL", d("700"), ("raise_cash",))]


def test_a_shortfall_below_the_minimum_trade_waits() -> None:
    """Cash 19.95%: $5 short, below the $10 minimum: nothing is sold, once."""
    p = portfolio_by_value({"BTC": "2665", "ETH": "2670", "SOL": "2670"}, "1995")
    plan = plan_of(p)
    assert plan.is_empty and skips(plan) == [("sell", "ETH", "below_min_trade")]
    assert "5.00 short of min_cash" in plan.skipped[0].detail


def test_maintain_reserve_off_leaves_cash_low() -> None:
    p = portfolio_by_value({"BTC": "2500", "ETH": "2500", "SOL": "2500", "AVAX": "2000"}, "500")
    assert plan_of(p, maintain_reserve=False).is_empty


# ---- rule 5: buys -------------------------------------------------------------------------


def test_strong_buy_spends_cash_above_the_threshold_down_to_min_cash() -> None:
    p = portfolio_by_value({"SOL": "2900", "AVAX": "2900", "ETH": "700"}, "3500", watch=["BTC"])
    plan = plan_of(p, signals(BTC="STRONG_BUY"))
    assert trades(plan) == [("buy", "BTC", d("1500"), ("buy_signal",))]
    assert plan.after["cash"] == d("0.2")


def test_plain_buy_needs_cash_above_max_cash_and_spends_down_to_target_cash() -> None:
    p = portfolio_by_value({"SOL": "2750", "AVAX": "2750"}, "4500", watch=["BTC"])
    plan = plan_of(p, signals(BTC="BUY"))
    assert trades(plan) == [("buy", "BTC", d("2000"), ("buy_signal",))]
    assert plan.after["cash"] == d("0.25")
    between = portfolio_by_value(
        {"SOL": "2900", "AVAX": "2900", "ETH": "700"}, "3500", watch=["BTC"]
    )
    assert plan_of(between, signals(BTC="BUY")).is_empty  # 35%: not above 40%


def test_strongest_first_and_the_next_gets_what_is_left() -> None:
    """Cash 60%: LINK (score 1) is capped at 30%; BTC (0.75) gets the rest down to 20%."""
    p = portfolio_by_value({"SOL": "2000", "AVAX": "2000"}, "6000", watch=["BTC", "LINK"])
    plan = plan_of(p, signals(LINK=("STRONG_BUY", 1.0), BTC=("STRONG_BUY", 0.75)))
    assert trades(plan) == [
        ("buy", "LINK", d("3000"), ("buy_signal",)),
        ("buy", "BTC", d("1000"), ("buy_signal",)),
    ]


def test_no_cash_left_above_the_reserve_skips_with_cash_floor() -> None:
    """Cash 45%: BTC (STRONG_BUY) spends down to 20%; LINK (BUY) would keep 25%: nothing
    is left for it."""
    p = portfolio_by_value({"SOL": "2750", "AVAX": "2750"}, "4500", watch=["BTC", "LINK"])
    plan = plan_of(p, signals(BTC="STRONG_BUY", LINK="BUY"))
    assert trades(plan) == [("buy", "BTC", d("2500"), ("buy_signal",))]
    assert skips(plan) == [("buy", "LINK", "cash_floor")]


def test_no_new_position_smaller_than_min_position() -> None:
    """Cash 32%: 1,200 could be spent, but a new position must be ≥ 15% (1,500)."""
    p = portfolio_by_value({"SOL": "2500", "AVAX": "2500", "ETH": "1800"}, "3200", watch=["BTC"])
    plan = plan_of(p, signals(BTC="STRONG_BUY"), min_position="0.15")
    assert plan.is_empty and skips(plan) == [("buy", "BTC", "cash_floor")]


def test_an_asset_at_max_position_is_not_bought() -> None:
    p = portfolio_by_value({"SOL": "3000", "AVAX": "2000"}, "5000")
    plan = plan_of(p, signals(SOL="STRONG_BUY"))
    assert plan.is_empty and skips(plan) == [("buy", "SOL", "max_position")]


def test_a_recent_sale_blocks_a_rebuy_until_the_cooldown_ends() -> None:
    p = portfolio_by_value({"SOL": "2900", "AVAX": "2900", "ETH": "700"}, "3500", watch=["BTC"])
    plan = plan_of(p, signals(BTC="STRONG_BUY"), {"BTC": facts(sold_ago=600)})
    assert plan.is_empty and skips(plan) == [("buy", "BTC", "cooldown")]
    plan = plan_of(p, signals(BTC="STRONG_BUY"), {"BTC": facts(sold_ago=3600)})
    assert [t.asset for t in plan.trades] == ["BTC"]


def test_an_asset_sold_in_this_plan_is_not_bought_back() -> None:
    """BTC (STRONG_BUY) at 40% is trimmed to 30%; cash is then 45%, but BTC is not rebought."""
    p = portfolio_by_value({"BTC": "4000", "SOL": "2500"}, "3500")
    plan = plan_of(p, signals(BTC="STRONG_BUY"))
    assert trades(plan) == [("sell", "BTC", d("1000"), ("trim_to_max",))]
    assert skips(plan) == [("buy", "BTC", "cooldown")]
    assert plan.skipped[0].detail == "sold in this plan"


def test_an_asset_under_its_stop_loss_is_not_bought() -> None:
    p = portfolio_by_value({"SOL": "2000", "AVAX": "2000"}, "6000")
    deep = {"SOL": facts(cost_basis="400")}
    plan = plan_of(p, signals(SOL="STRONG_BUY"), deep, stop_loss="0.25", never_sell=["SOL"])
    assert plan.is_empty
    assert skips(plan) == [("sell", "SOL", "never_sell"), ("buy", "SOL", "loss_guard")]


def test_buys_spend_only_the_free_quote_balance() -> None:
    """Cash is 35% of V, but 3,000 of it is USD locked in an order; only 500 USDT is free."""
    p = portfolio(
        {"SOL": ("14.5", "200"), "AVAX": ("72.5", "40"), "ETH": ("0.28", "2500")},
        {"USDT": "500", "USD": "0"},
        locked={"USD": "3000"},
        watch={"BTC": "100000"},
    )
    assert p.total_value == 10000 and p.quote_free == 500
    plan = plan_of(p, signals(BTC="STRONG_BUY"))
    assert trades(plan) == [("buy", "BTC", d("500"), ("buy_signal",))]


def test_a_buy_rounds_down_to_the_step() -> None:
    """2,550 could be spent; 0.0255 BTC rounds down to 0.025 on a 0.001 step."""
    p = portfolio_by_value({"SOL": "2725", "AVAX": "2725"}, "4550", watch=["BTC"])
    plan = plan_of(p, signals(BTC="STRONG_BUY"), markets={"BTC": rules(10, "0.001")})
    assert plan.trades[0].amount == d("0.025") and plan.trades[0].value == 2500


# ---- fees ---------------------------------------------------------------------------------


def test_sell_fee_comes_off_the_proceeds_and_buy_fee_on_top_of_the_cost() -> None:
    p = portfolio_by_value(CALM, "6000")
    plan = plan_of(p, signals(ETH="SELL"), fee_rate="0.01")
    (sell,) = plan.trades
    assert (sell.value, sell.fee) == (d("2000"), d("20"))
    assert plan.cash_after == d("7980")

    p = portfolio_by_value({"SOL": "3000", "AVAX": "3000"}, "4000", watch=["BTC"])
    plan = plan_of(p, signals(BTC="STRONG_BUY"), fee_rate="0.01")
    (buy,) = plan.trades
    # cash − v·1.01 = 0.2 × (V − 0.01·v)  ⇒  v = 2,000 / 1.008
    assert buy.value.quantize(d("0.01")) == d("1984.13")
    assert buy.fee == buy.value * d("0.01")
    assert plan.cash_after == d(4000) - buy.value - buy.fee
    assert d("0.2") <= plan.after["cash"] < d("0.2") + d("1e-12")
    assert buy.price == 100000


# ---- skips that read as they are: one side per asset, no zero-value ones --------------------


def test_a_held_back_trim_is_not_contradicted_by_a_max_position_buy_skip() -> None:
    """ETH above max_position with a STRONG_BUY: its trim hits the trade cap. The plan says so,
    and does not also say it did not buy ETH (at max position)."""
    p = portfolio_by_value({"ETH": "3500", "SOL": "1000", "AVAX": "1000", "LINK": "1000"},
                           "3500")
    plan = plan_of(p, signals(SOL="SELL", AVAX="SELL", LINK="SELL", ETH="STRONG_BUY"))
    assert len(plan.trades) == 3
    assert skips(plan) == [("sell", "ETH", "trade_cap")]


def test_a_trim_worth_nothing_is_not_reported_beside_the_real_reason() -> None:
    """ETH a rounding hair above max_position: no "order value 0.00000000" skip, only why it
    is not bought."""
    p = portfolio({"ETH": ("1.2000000000000000001", "2500")}, {"USDT": "7000"})
    plan = plan_of(p, signals(ETH="STRONG_BUY"), markets={"ETH": rules(min_notional=5)})
    assert plan.trades == ()
    assert [(s.side.value, s.asset, s.reason.value, s.detail) for s in plan.skipped] == [
        ("buy", "ETH", "max_position", "already 30.0% of the portfolio")]


def test_a_small_trim_below_the_minimum_order_is_still_reported() -> None:
    p = portfolio({"ETH": ("1.201", "2500")}, {"USDT": "7000"})
    plan = plan_of(p, markets={"ETH": rules(min_notional=5)})
    assert skips(plan) == [("sell", "ETH", "below_min_trade")]
