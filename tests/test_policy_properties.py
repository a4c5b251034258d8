"""The policy's invariants (docs/rules.md) as properties, over random portfolios, markets,
signals and settings.

The settings drawn here are the seed's rules (`preset = "seed-literal"`, docs/rules.md), so these
properties keep holding the seed to its invariants whatever the defaults become; the decision
mechanisms of docs/rules.md have their own properties in `test_decision_properties`.

Each property runs a few hundred examples. Portfolios go through the real valuation, and
"executing a plan" is `project_portfolio` (every trade fills at its price with its fee).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.config.rules import PolicySettings
from core.domain.models import (
    AssetSignal,
    Balance,
    MarketRules,
    Plan,
    Portfolio,
    PositionFacts,
    Price,
    Side,
    SignalKind,
    SkipReason,
)
from core.domain.rounding import floor_to_step, order_problem
from core.domain.valuation import value_portfolio
from core.policy import PlanInput, make_plan, project_portfolio, project_positions
from core.policy.book import effective_rules
from tests.factories import NOW

ASSETS = ("BTC", "ETH", "SOL", "AVAX", "BNB", "LINK")
CASH = ("USDT", "USDC", "FDUSD", "USD", "DAI", "TUSD")
EXAMPLES = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)


@dataclass(frozen=True)
class Case:
    """One random planning problem."""

    inp: PlanInput
    settings: PolicySettings

    @property
    def portfolio(self) -> Portfolio:
        return self.inp.portfolio


def decimals(low: int, high: int, places: int) -> st.SearchStrategy[Decimal]:
    """Decimals in [low, high] with `places` decimal places, drawn as integers (no floats)."""
    scale = 10**places
    return st.integers(low * scale, high * scale).map(lambda n: Decimal(n) / scale)


@st.composite
def market_rules(draw: st.DrawFn) -> MarketRules:
    step = draw(st.sampled_from([None, "1", "0.1", "0.01", "0.0001", "0.00001"]))
    step_d = None if step is None else Decimal(step)
    return MarketRules(
        min_notional=Decimal(draw(st.sampled_from(["0", "1", "5", "10"]))),
        amount_step=step_d,
        min_amount=draw(st.sampled_from([Decimal(0), step_d or Decimal(0)])),
    )


@st.composite
def policy_settings(draw: st.DrawFn) -> PolicySettings:
    cash_floor = draw(decimals(0, 20, 2)) / 100
    min_cash = cash_floor + draw(decimals(0, 15, 2)) / 100
    target = min_cash + draw(decimals(0, 15, 2)) / 100
    threshold = min_cash + draw(decimals(0, 20, 2)) / 100
    max_cash = max(target, threshold) + draw(decimals(0, 20, 2)) / 100
    min_position = draw(decimals(1, 10, 2)) / 100
    # Wide caps leave holdings alone, so the cash raise (rule 4) gets exercised too.
    headroom = draw(st.one_of(decimals(1, 45, 2), st.sampled_from([Decimal(60), Decimal(85)])))
    max_position = min_position + headroom / 100
    return PolicySettings(
        preset="seed-literal",
        min_cash=min_cash,
        target_cash=target,
        max_cash=max_cash,
        cash_floor=cash_floor,
        buy_cash_threshold=threshold,
        min_position=min_position,
        max_position=max_position,
        max_trades_per_cycle=draw(st.sampled_from([1, 2, 3, 6, 12])),
        min_hold=draw(st.sampled_from([0, 300])),
        rebuy_cooldown=draw(st.sampled_from([0, 3600])),
        signal_sell_max_loss=draw(st.sampled_from([None, Decimal("0.1")])),
        stop_loss=draw(st.sampled_from([None, Decimal("0.25")])),
        min_trade_value=Decimal(draw(st.sampled_from(["1", "10"]))),
        sell_on_signal=draw(st.sampled_from([True, True, False])),
        maintain_reserve=draw(st.sampled_from([True, True, False])),
        fee_rate=Decimal(draw(st.sampled_from(["0", "0.001", "0.0075", "0.05"]))),
        never_sell=tuple(draw(st.lists(st.sampled_from(ASSETS), max_size=1))),
    )


@st.composite
def cases(draw: st.DrawFn) -> Case:
    held = draw(st.lists(st.sampled_from(ASSETS), unique=True, max_size=6))
    watched = [a for a in ASSETS if a not in held and draw(st.booleans())]
    balances: dict[str, Balance] = {}
    prices: dict[str, Price] = {}
    markets: dict[str, MarketRules] = {}
    signals: dict[str, AssetSignal] = {}
    positions: dict[str, PositionFacts] = {}
    for asset in [*held, *watched]:
        last = draw(decimals(1, 100_000, 2))
        prices[f"{asset}/USDT"] = Price(asset, "USDT", last)
        if draw(st.booleans()):
            markets[asset] = draw(market_rules())
        kind = draw(st.sampled_from([*SignalKind, SignalKind.HOLD]))
        score = {"STRONG_BUY": 1.0, "BUY": 0.5, "HOLD": 0.0, "SELL": -0.5}[kind.value]
        signals[asset] = AssetSignal(asset, kind, score + draw(st.sampled_from([0.0, -0.25])))
        cost = draw(st.sampled_from([None, "0.5", "0.95", "1", "1.5"]))
        positions[asset] = PositionFacts(
            cost_basis=None if cost is None else last * Decimal(cost),
            last_buy=draw(st.sampled_from([None, NOW - timedelta(seconds=60)])),
            last_sell=draw(st.sampled_from([None, NOW - timedelta(seconds=600)])),
        )
    for asset in held:
        value = draw(decimals(0, 50_000, 2))
        price = prices[f"{asset}/USDT"].last
        assert price is not None
        amount = (value / price).quantize(Decimal("0.00000001"))
        locked = draw(st.sampled_from([Decimal(0), amount / 10]))
        balances[asset] = Balance(amount, locked)
    balances["USDT"] = Balance(draw(st.one_of(decimals(0, 60_000, 2), decimals(0, 500, 2))))
    if draw(st.booleans()):
        balances["USD"] = Balance(Decimal(0), draw(decimals(0, 2_000, 2)))
    portfolio = value_portfolio(
        balances,
        prices,
        quote="USDT",
        cash_assets=CASH,
        markets=markets,
        now=NOW,
        max_price_age=120,
        watchlist=tuple(watched),
    )
    inp = PlanInput(portfolio, signals, positions, markets, tuple(watched), NOW)
    return Case(inp, draw(policy_settings()))


def plan_of(case: Case) -> Plan:
    return make_plan(case.inp, case.settings)


def after(case: Case, plan: Plan) -> Portfolio:
    return project_portfolio(case.portfolio, plan, case.inp.markets)


@EXAMPLES
@given(cases())
def test_no_buy_takes_cash_below_the_cash_floor(case: Case) -> None:
    """After all buys (the plan's lowest cash point), cash ≥ cash_floor of the value after the
    plan, and the quote balance that pays for buys never goes negative."""
    plan = plan_of(case)
    if any(t.side is Side.BUY for t in plan.trades):
        projected = after(case, plan)
        assert projected.cash_value >= case.settings.cash_floor * projected.total_value
        assert projected.quote_free is not None and projected.quote_free >= 0


@EXAMPLES
@given(cases())
def test_no_buy_takes_an_asset_above_max_position(case: Case) -> None:
    plan = plan_of(case)
    projected = after(case, plan)
    for trade in plan.trades:
        if trade.side is Side.BUY:
            value = projected.holdings[trade.asset].value
            assert value <= case.settings.max_position * projected.total_value


@EXAMPLES
@given(cases())
def test_no_sell_exceeds_the_free_amount_and_every_order_is_valid(case: Case) -> None:
    plan = plan_of(case)
    assert len(plan.trades) <= case.settings.max_trades_per_cycle
    assert len({t.asset for t in plan.trades}) == len(plan.trades)  # one order per asset
    for trade in plan.trades:
        rules = case.inp.markets.get(trade.asset)
        step = rules.amount_step if rules else None
        assert trade.amount > 0 and floor_to_step(trade.amount, step) == trade.amount
        assert (
            order_problem(effective_rules(rules, case.settings), trade.amount, trade.price) is None
        )
        assert trade.value >= case.settings.min_trade_value
        assert abs(trade.fee - trade.value * case.settings.fee_rate) <= Decimal("1e-20")
        if trade.side is Side.SELL:
            assert trade.amount <= case.portfolio.holdings[trade.asset].free


@EXAMPLES
@given(cases())
def test_sells_come_before_buys_and_plan_after_matches_the_projection(case: Case) -> None:
    plan = plan_of(case)
    sides = [t.side for t in plan.trades]
    assert sides == sorted(sides, key=lambda s: s is Side.BUY)
    projected = after(case, plan)
    close = Decimal("1e-25")
    assert abs(plan.cash_after - projected.cash_value) <= close
    assert abs(plan.after["cash"] - projected.cash_allocation) <= close
    for asset, fraction in plan.after.items():
        if asset != "cash":
            holding = projected.holdings.get(asset)
            assert abs(fraction - (holding.allocation if holding else 0)) <= close


@EXAMPLES
@given(cases())
def test_no_churn_executing_a_plan_and_planning_again_gives_no_trades(case: Case) -> None:
    """Executed at unchanged prices and signals, a plan leaves nothing to do.

    Precise form: the plan is executed (balances, and the last buy/sell times and cost basis
    the engine records), the clock does not move, and the next plan has no trades — provided
    no trade was held back by the trade cap (those wait for later cycles on purpose) and
    rebuy_cooldown is on. With rebuy_cooldown = 0 the owner has switched off the whipsaw
    guard, and the seed's own rules sell-then-rebuy: a STRONG_BUY holding below min_position is
    exited by rule 3 and, no longer held, bought back as a new position by rule 5 next cycle
    (see the property below, which pins that this is the only thing that can come back).
    """
    plan = plan_of(case)
    if any(s.reason is SkipReason.TRADE_CAP for s in plan.skipped):
        return
    settings = case.settings
    if settings.rebuy_cooldown == 0:
        settings = settings.model_copy(update={"rebuy_cooldown": 3600})
        plan = make_plan(case.inp, settings)
        if any(s.reason is SkipReason.TRADE_CAP for s in plan.skipped):
            return
    facts = project_positions(case.inp.positions, case.portfolio, plan, NOW)
    nxt = replace(case.inp, portfolio=after(case, plan), positions=facts)
    again = make_plan(nxt, settings)
    assert again.trades == (), (plan.trades, again.trades)


@EXAMPLES
@given(cases())
def test_without_recorded_facts_only_a_rebuy_of_what_was_sold_restarts_trading(case: Case) -> None:
    """Executed without recording anything (position facts and clock unchanged), every
    allocation rule is already satisfied by the projection, fees and rounding included: the
    next plan is empty unless it buys back an asset the plan sold (no last_sell recorded, so
    no cooldown; that buy's fee may then shift other limits). Assets not held carry no cost
    basis here (a stale one would stop-loss a fresh buy; recording the buy replaces it)."""
    held = case.portfolio.holdings
    positions = {
        asset: f if asset in held else replace(f, cost_basis=None)
        for asset, f in case.inp.positions.items()
    }
    inp = replace(case.inp, positions=positions)
    plan = make_plan(inp, case.settings)
    if any(s.reason is SkipReason.TRADE_CAP for s in plan.skipped):
        return
    sold = {t.asset for t in plan.trades if t.side is Side.SELL}
    projected = project_portfolio(case.portfolio, plan, case.inp.markets)
    again = make_plan(replace(inp, portfolio=projected), case.settings)
    if again.trades:
        assert any(t.side is Side.BUY and t.asset in sold for t in again.trades), again.trades


@EXAMPLES
@given(cases())
def test_the_same_inputs_give_the_same_plan_whatever_the_mapping_order(case: Case) -> None:
    plan = plan_of(case)
    assert plan_of(case) == plan

    def reverse[K, V](mapping: Mapping[K, V]) -> dict[K, V]:
        return dict(reversed(list(mapping.items())))

    p = case.portfolio
    shuffled = replace(
        case.inp,
        portfolio=replace(p, holdings=reverse(p.holdings), prices=reverse(p.prices)),
        signals=reverse(case.inp.signals),
        positions=reverse(case.inp.positions),
        markets=reverse(case.inp.markets),
    )
    assert make_plan(shuffled, case.settings) == plan
