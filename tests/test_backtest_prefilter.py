"""The backtest plans only where a trade is possible, and that changes nothing.

`core.policy.triggers.possible_plans` is a necessary condition for a non-empty plan: checked
against the exact policy over random planning problems, then over months of real hourly
candles (the bundled demo data), where replaying with it and planning at every candle must
make the same orders and the same equity curve.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.backtest.benchmarks import StartingPortfolio
from core.backtest.replay import MarketReplay, load_replay
from core.backtest.runner import simulation
from core.backtest.simulation import BacktestInput, Simulation, run_fast
from core.config.rules import PolicySettings
from core.config.settings import Settings, load_settings
from core.domain.models import (
    AssetSignal,
    Balance,
    Market,
    PositionFacts,
    Price,
    Side,
    SignalKind,
)
from core.domain.valuation import value_portfolio
from core.exchange.paper_markets import bundled_markets
from core.policy import PlanInput
from core.policy.pacing import due_at_every_candle
from core.policy.triggers import account_state, possible_plans
from core.signals.combine import KIND_ORDER
from tests.factories import NOW
from tests.test_policy_properties import ASSETS, CASH, EXAMPLES, Case, cases, plan_of

H = 3_600_000
DAY = 24 * H
T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC
DEMO = Path(__file__).resolve().parent.parent / "core" / "data" / "demo"
SEED = StartingPortfolio(
    "USDT", Decimal(628),
    {"BTC": Decimal("0.05"), "ETH": Decimal("1.5"), "SOL": Decimal("30"), "AVAX": Decimal("40")},
)
HOLD = KIND_ORDER.index(SignalKind.HOLD)


def possible(case: Case) -> bool:
    """The prefilter's answer for the case's single moment."""
    inp = case.inp
    columns = {asset: i for i, asset in enumerate(ASSETS)}
    balances = {name: Balance(h.free, h.locked) for name, h in inp.portfolio.holdings.items()}
    balances.update((name, Balance(total)) for name, total in inp.portfolio.cash_balances.items())
    state = account_state(
        balances, inp.positions, inp.markets, case.settings,
        quote="USDT", cash_assets=CASH, columns=columns, watchlist=set(inp.signals),
    )
    assert state is not None
    prices = np.zeros((1, len(ASSETS)))
    priced = np.zeros((1, len(ASSETS)), dtype=np.bool_)
    codes = np.full((1, len(ASSETS)), HOLD, dtype=np.int8)
    scores = np.zeros((1, len(ASSETS)))
    for asset, column in columns.items():
        price = inp.portfolio.prices.get(asset)
        if price is not None:
            prices[0, column], priced[0, column] = float(price), True
        signal = inp.signals.get(asset)
        if signal is not None:
            codes[0, column] = KIND_ORDER.index(signal.signal)
            scores[0, column] = signal.score
    now = np.array([int(NOW.timestamp() * 1000)], dtype=np.int64)
    return bool(possible_plans(state, prices, priced, codes, scores, now, case.settings)[0])


@EXAMPLES
@given(cases())
def test_every_plan_with_a_trade_is_found_possible(case: Case) -> None:
    if plan_of(case).trades:
        assert possible(case)


@EXAMPLES
@given(cases())
def test_a_moment_found_impossible_plans_nothing(case: Case) -> None:
    # the same property read the other way, so that hypothesis also hunts the False answers
    if not possible(case):
        assert not plan_of(case).trades


@st.composite
def banded_cases(draw: st.DrawFn) -> Case:
    """`cases` (the seed's rules: no bands, all-or-nothing) with trim_band, cash_band,
    keep_small_holdings and sizing drawn on top: the prefilter reads them too."""
    case = draw(cases())
    settings = case.settings
    trim = draw(st.sampled_from(["0", "0.01", "0.05", "0.2"]))
    cash = draw(st.sampled_from(["0", "0.01", "0.05", "0.2"]))
    banded = PolicySettings.model_validate({
        **settings.model_dump(),
        "trim_band": min(Decimal(trim), 1 - settings.max_position),
        "cash_band": min(Decimal(cash), settings.min_cash),
        "keep_small_holdings": draw(st.booleans()),
        "sizing": draw(st.sampled_from(["all_or_nothing", "conviction"])),
    })
    return Case(case.inp, banded)


@EXAMPLES
@given(banded_cases())
def test_with_the_mechanisms_every_plan_with_a_trade_is_found_possible(case: Case) -> None:
    if plan_of(case).trades:
        assert possible(case)


@EXAMPLES
@given(banded_cases())
def test_with_the_mechanisms_a_moment_found_impossible_plans_nothing(case: Case) -> None:
    if not possible(case):
        assert not plan_of(case).trades


def sized_case(signal: SignalKind, score: float, worth: Decimal) -> Case:
    """100,000 USDT of value, 60% cash, and BTC worth `worth` of its conviction target
    (sizing = conviction, max_position 30%: the target is `score`'s share of 30,000)."""
    conviction = Decimal(repr(min(max(abs(score), 0.0), 1.0)))
    target = (conviction if signal is not SignalKind.SELL else 1 - conviction) * 30_000
    price = Decimal(50_000)
    btc = (target * worth / price).quantize(Decimal("0.00000001"))
    balances = {"BTC": Balance(btc), "USDT": Balance(Decimal(100_000) - btc * price)}
    prices = {"BTC/USDT": Price("BTC", "USDT", price)}
    portfolio = value_portfolio(balances, prices, quote="USDT", cash_assets=CASH, markets={},
                                now=NOW, max_price_age=120)
    signals = {"BTC": AssetSignal("BTC", signal, score)}
    positions = {"BTC": PositionFacts(cost_basis=price, last_buy=NOW - timedelta(days=30))}
    settings = PolicySettings(preset="seed-literal", sizing="conviction", max_position="0.3",
                              max_cash="0.5", min_trade_value="10")
    return Case(PlanInput(portfolio, signals, positions, {}, (), NOW), settings)


@pytest.mark.parametrize(("signal", "score"), [(SignalKind.BUY, 0.5), (SignalKind.SELL, -0.5),
                                               (SignalKind.BUY, 0.25), (SignalKind.SELL, -0.75)])
def test_a_sized_trade_a_hair_from_its_target_is_found_possible(
    signal: SignalKind, score: float
) -> None:
    # Sized by conviction, a buy needs the holding under its target and a signal sell above
    # what it keeps: 0.2% short of (or past) the target trades, and the prefilter says so;
    # 0.2% the other side plans nothing, and the prefilter says that too.
    trades = {"BUY": Decimal("0.998"), "SELL": Decimal("1.002")}[signal.value]
    stays = {"BUY": Decimal("1.002"), "SELL": Decimal("0.998")}[signal.value]
    case = sized_case(signal, score, trades)
    assert [t.side for t in plan_of(case).trades] == [Side(signal.value.lower())]
    assert possible(case)
    case = sized_case(signal, score, stays)
    assert not plan_of(case).trades
    assert not possible(case)


def config(**overrides: Any) -> Settings:
    return load_settings(env={}, approval="auto", **overrides)


def markets() -> dict[str, Market]:
    return {s: m for s, m in bundled_markets().items() if m.quote == "USDT"}


async def replay_both(
    replay: MarketReplay, settings: Settings, start: StartingPortfolio = SEED
) -> tuple[Simulation, Simulation]:
    """The same backtest with the prefilter and with a plan at every candle."""
    inp = BacktestInput(settings, start, {}, tuple(settings.watchlist))
    runs = []
    for prefilter in (True, False):
        sim = simulation(replay, inp, markets())
        await run_fast(sim, prefilter=prefilter)
        runs.append(sim)
    return runs[0], runs[1]


def journal(sim: Simulation) -> list[tuple[object, ...]]:
    return [(o.timestamp, o.symbol, o.side, o.filled, o.average_price, o.fee)
            for o in sim.orders]


def assert_same(fast: Simulation, every: Simulation) -> None:
    assert journal(fast) == journal(every)
    assert fast.tally == every.tally
    assert np.array_equal(fast.equity, every.equity, equal_nan=True)
    assert np.array_equal(fast.cash, every.cash, equal_nan=True)
    assert fast.broker.balances == every.broker.balances


async def test_a_month_of_busy_trading_is_the_same_with_the_prefilter() -> None:
    # The seed's rules trade most hours (buys, signal sells, trims, cash raises); a tight
    # max_price_drift refuses many plans at the fill, leaving their triggers standing.
    settings = config(preset="seed-literal", max_price_drift="0.0002")
    replay = load_replay(DEMO, "1h", "USDT", T0 + 30 * DAY, T0 + 60 * DAY, settings.signal)
    fast, every = await replay_both(replay, settings)
    assert_same(fast, every)
    assert {order.side for order in fast.orders} == {Side.BUY, Side.SELL}
    assert fast.tally.executed > 100
    assert fast.tally.drifted > 50
    assert every.decisions == len(replay.rows)
    assert fast.decisions < every.decisions


async def test_months_of_calm_trading_plan_at_a_few_candles_and_trade_the_same() -> None:
    # The seed's rules, but sell only when every strategy agrees, wide position limits: trades
    # are rare, and the exact policy should run at a small share of the candles.
    settings = config(preset="seed-literal", sell_rule="all", max_position="0.6",
                      min_position="0.02", stop_loss="0.2")
    replay = load_replay(DEMO, "1h", "USDT", T0 + 30 * DAY, T0 + 150 * DAY, settings.signal)
    fast, every = await replay_both(replay, settings)
    assert_same(fast, every)
    assert fast.tally.executed > 5
    assert fast.decisions < len(replay.rows) // 4


async def test_the_defaults_trade_the_same_with_the_prefilter() -> None:
    # The defaults' own mechanisms (conviction sizing, closed candles, bands, the cost test,
    # the turnover budget) must not hide a plan from the prefilter either. The defaults of
    # docs/decisions.md §6 trade rarely: June–December 2024 holds enough buys and sells.
    settings = config()
    replay = load_replay(DEMO, "1h", "USDT", T0 + 150 * DAY, T0 + 365 * DAY, settings.signal)
    fast, every = await replay_both(replay, settings)
    assert_same(fast, every)
    assert {order.side for order in fast.orders} == {Side.BUY, Side.SELL}
    assert fast.tally.executed > 5
    assert fast.decisions < every.decisions


async def test_small_holdings_the_owner_keeps_do_not_make_candles_possible() -> None:
    # keep_small_holdings (a default): rule 3 never sells a holding below min_position that
    # Ballast did not buy, so such holdings alone must not send a candle to the exact policy.
    start = StartingPortfolio("USDT", Decimal(3000), {
        "BTC": Decimal("0.05"), "ETH": Decimal("0.06"), "XRP": Decimal("150"),
        "LINK": Decimal("10"),
    })
    settings = config()  # the defaults, over the months the test above uses
    replay = load_replay(DEMO, "1h", "USDT", T0 + 150 * DAY, T0 + 365 * DAY, settings.signal)
    fast, every = await replay_both(replay, settings, start)
    assert_same(fast, every)
    assert fast.tally.executed > 5
    assert fast.decisions < every.decisions * 2 // 3  # without this rule: at every candle


@pytest.mark.parametrize(("plan_on", "interval", "every"), [
    ("candle_close", "300", True), ("candle_close", "86400", True), ("interval", "300", True),
    ("interval", "3600", True), ("interval", "3601", False), ("interval", "7200", False),
])
def test_the_replay_skips_the_pacing_rule_only_where_it_says_due_at_every_candle(
    plan_on: str, interval: str, every: bool
) -> None:
    settings = config(plan_on=plan_on, rebalance_interval=interval)
    replay = load_replay(DEMO, "1h", "USDT", T0 + 30 * DAY, T0 + 40 * DAY, settings.signal)
    sim = simulation(replay, BacktestInput(settings, SEED, {}, tuple(settings.watchlist)),
                     markets())
    assert due_at_every_candle(plan_on=plan_on, rebalance_interval=int(interval),
                               timeframe="1h") is every
    assert all([sim.due(row) for row in replay.rows]) is every


async def test_a_plan_every_other_candle_trades_the_same_with_the_prefilter() -> None:
    # Not due at every candle: the replay asks the pacing rule at each one.
    settings = config(preset="seed-literal", plan_on="interval", rebalance_interval="7200")
    replay = load_replay(DEMO, "1h", "USDT", T0 + 30 * DAY, T0 + 60 * DAY, settings.signal)
    fast, every = await replay_both(replay, settings)
    assert_same(fast, every)
    assert fast.tally.executed > 10
    assert every.decisions == len(replay.rows) // 2
