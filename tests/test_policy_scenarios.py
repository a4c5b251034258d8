"""The seed scenarios of docs/rules.md, with the figures the policy derives.

They are acceptance tests of the `seed-literal` preset (docs/rules.md): they run under it, so they
keep describing the seed's rules whatever the defaults become.

Portfolio S at fixed prices: BTC $3,175 · ETH $4,607 · SOL $3,462 · AVAX $760 · cash $628,
V = $12,632; fees 0, every signal HOLD unless said. Amounts are at `SCENARIO_PRICES`
(BTC 100,000 · ETH 2,500 · SOL 200 · AVAX 40), so every figure is exact to the cent.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from core.domain.models import AssetSignal, Plan, Portfolio, PositionFacts, Side, TradeReason
from core.policy import PlanInput, make_plan
from tests.factories import NOW, d, facts, policy, portfolio_by_value, signals

S = {"BTC": "3175", "ETH": "4607", "SOL": "3462", "AVAX": "760"}


def plan_for(
    p: Portfolio,
    sig: Mapping[str, AssetSignal] | None = None,
    positions: Mapping[str, PositionFacts] | None = None,
) -> Plan:
    inp = PlanInput(p, sig or {}, positions or {}, {}, (), NOW)
    return make_plan(inp, policy(preset="seed-literal", fee_rate=0))


def cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"))


def test_1_initial_rebalance_raises_cash_to_20_percent_with_one_merged_eth_sell() -> None:
    """Cash 628 (5.0%) < 20%: ETH (36.5%) is trimmed to 30% ($817.40), then the cash raise
    takes the remaining $1,081.00 from the weakest holding — all HOLD with score 0, so the
    tie goes to the largest allocation, ETH again. One order: $1,898.40 = $2,526.40 − $628,
    exactly the seed's figure."""
    p = portfolio_by_value(S, "628")
    assert p.total_value == d(12632)
    plan = plan_for(p)
    assert len(plan.trades) == 1
    (eth,) = plan.trades
    assert (eth.side, eth.asset) == (Side.SELL, "ETH")
    assert eth.reasons == (TradeReason.TRIM_TO_MAX, TradeReason.RAISE_CASH)
    assert eth.value == d("1898.40") and eth.amount == d("0.75936") and eth.fee == 0
    assert plan.cash_after == d("2526.40")
    assert plan.after["cash"] == d("0.2")
    assert cents(plan.after["ETH"] * 100) == d("21.44")
    assert cents(plan.before["ETH"] * 100) == d("36.47")
    assert cents(plan.before["cash"] * 100) == d("4.97")
    assert plan.after["BTC"] == plan.before["BTC"]
    assert plan.skipped == ()


def test_2_sell_signal_sells_all_eth_and_buys_nothing() -> None:
    """ETH = SELL: all 1.8428 ETH ($4,607) is sold; cash ends at $5,235 = 41.44%. No buy: no
    asset has a BUY signal. Cash being above max_cash changes nothing without one."""
    plan = plan_for(portfolio_by_value(S, "628"), signals(ETH="SELL"))
    assert [(t.side, t.asset, t.value, t.reasons) for t in plan.trades] == [
        (Side.SELL, "ETH", d("4607"), (TradeReason.SIGNAL_SELL,))
    ]
    assert plan.trades[0].amount == d("1.8428")
    assert plan.cash_after == d("5235")
    assert cents(plan.after["cash"] * 100) == d("41.44")
    assert plan.after["ETH"] == 0
    assert plan.skipped == ()


def test_3_strong_buy_with_excess_cash_buys_btc_capped_at_max_position() -> None:
    """After 2, with BTC sold earlier (cash += $3,175; the sale is older than rebuy_cooldown)
    and BTC = STRONG_BUY: cash is $8,410 (66.6%). Spending down to min_cash would buy
    $5,883.60; max_position caps it at 0.30 × $12,632 = $3,789.60, the seed's figure."""
    p = portfolio_by_value({"SOL": "3462", "AVAX": "760"}, "8410", watch=["BTC"])
    assert p.total_value == d(12632)
    plan = plan_for(p, signals(BTC="STRONG_BUY"), {"BTC": facts(sold_ago=7200)})
    assert [(t.side, t.asset, t.value, t.reasons) for t in plan.trades] == [
        (Side.BUY, "BTC", d("3789.60"), (TradeReason.BUY_SIGNAL,))
    ]
    assert plan.trades[0].amount == d("0.037896")
    assert plan.after["BTC"] == d("0.3")
    assert plan.cash_after == d("4620.40")


def test_4_rebalance_to_targets_trims_exits_and_raises_cash_in_three_trades() -> None:
    """V = $12,432. ETH (37.1%) is trimmed to 30%: $877.40. AVAX (4.5%) is sold entirely:
    $560. Cash is then $2,065.40 (16.6%), so $421.00 more comes from the weakest: SOL and
    AVAX both score 0, AVAX has nothing left, SOL is larger. 3 trades, cash ends at 20.0%;
    no buy (BTC is BUY, not STRONG_BUY, and cash is not above 30%). All the seed's figures."""
    p = portfolio_by_value({"BTC": "3175", "ETH": "4607", "SOL": "3462", "AVAX": "560"}, "628")
    assert p.total_value == d(12432)
    plan = plan_for(p, signals(BTC=("BUY", 0.5), ETH=("BUY", 0.25), SOL=("HOLD", 0)))
    assert [(t.asset, t.value, t.reasons) for t in plan.trades] == [
        ("ETH", d("877.40"), (TradeReason.TRIM_TO_MAX,)),
        ("AVAX", d("560"), (TradeReason.EXIT_BELOW_MIN,)),
        ("SOL", d("421.00"), (TradeReason.RAISE_CASH,)),
    ]
    assert all(t.side is Side.SELL for t in plan.trades)
    assert plan.cash_after == d("2486.40")
    assert plan.after["cash"] == d("0.2")
    assert plan.after["ETH"] == d("0.3")
    assert plan.skipped == ()


def test_scenario_1_with_the_default_fee_keeps_every_limit_after_fees() -> None:
    """With fee_rate 0.001 the same single merged ETH sell is planned. Its fee lowers V, so
    the sell is a little larger than $1,898.40: cash reaches 20% of V *before* fees (a hair
    above 20% after), and ETH ends well under 30%."""
    p = portfolio_by_value(S, "628")
    plan = make_plan(PlanInput(p, {}, {}, {}, (), NOW), policy(preset="seed-literal"))
    (eth,) = plan.trades
    assert eth.reasons == (TradeReason.TRIM_TO_MAX, TradeReason.RAISE_CASH)
    # (2526.40 − 628) / (1 − 0.001): selling v raises v·(1 − f) of cash.
    assert cents(eth.value) == d("1900.30")
    assert cents(eth.fee) == d("1.90")
    assert plan.cash_after >= d("2526.40")
    assert d("0.2") <= plan.after["cash"] < d("0.2001")
