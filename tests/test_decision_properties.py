"""The decision mechanisms' invariants (docs/rules.md) as properties, over the random planning
problems of `test_policy_properties` with the mechanisms switched on: conviction sizing, trim and
cash bands, the cost test and a turnover budget, as the defaults have them, at drawn levels.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from core.config.rules import PolicySettings
from core.domain.models import SkipReason, TradeReason
from core.policy import make_plan, project_portfolio, project_positions
from tests.factories import NOW
from tests.test_policy_properties import EXAMPLES, Case, cases

# Rounding to a market's step may move an order's value by a cent or so past what was sized.
CENT = Decimal("0.01")


@st.composite
def mechanism_cases(draw: st.DrawFn) -> Case:
    """A random planning problem planned with the decision mechanisms on."""
    case = draw(cases())
    seed = case.settings
    band = min(draw(st.sampled_from([Decimal(0), Decimal("0.02"), Decimal("0.05")])),
               seed.min_cash, 1 - seed.max_position)
    values = seed.model_dump() | {
        "preset": "default",
        "sizing": "conviction",
        "trim_band": band,
        "cash_band": band,
        "cost_multiple": draw(st.sampled_from([Decimal(0), Decimal(1), Decimal(5)])),
        "turnover_budget": draw(st.sampled_from([Decimal("0.05"), Decimal("0.2"),
                                                 Decimal("0.5")])),
        "keep_small_holdings": draw(st.booleans()),
    }
    traded = case.portfolio.total_value * draw(st.sampled_from(
        [Decimal(0), Decimal("0.03"), Decimal("0.3"), Decimal(1)]))
    return Case(replace(case.inp, traded_recently=traded), PolicySettings(**values))


@EXAMPLES
@given(mechanism_cases())
def test_the_turnover_budget_is_never_exceeded(case: Case) -> None:
    """What a plan trades (stop-losses aside, which are exempt) fits in what is left of
    `turnover_budget` × V after what was traded in the window."""
    plan = make_plan(case.inp, case.settings)
    budget = case.settings.turnover_budget
    assert budget is not None
    left = max(Decimal(0), budget * case.portfolio.total_value - case.inp.traded_recently)
    traded = sum((t.value for t in plan.trades if TradeReason.STOP_LOSS not in t.reasons),
                 Decimal(0))
    assert traded <= left + CENT * len(plan.trades), (traded, left, plan.trades)


@EXAMPLES
@given(mechanism_cases())
def test_no_churn_with_the_mechanisms_on(case: Case) -> None:
    """Executed at unchanged prices and signals, a plan leaves nothing to do: the bands, sizing
    and budget never make the next plan undo or redo what this one did."""
    settings = case.settings.model_copy(update={"rebuy_cooldown": 3600})
    plan = make_plan(case.inp, settings)
    if any(s.reason in (SkipReason.TRADE_CAP, SkipReason.TURNOVER_BUDGET)
           for s in plan.skipped):
        return  # held back on purpose: those trades wait for a later cycle
    facts = project_positions(case.inp.positions, case.portfolio, plan, NOW)
    done = project_portfolio(case.portfolio, plan, case.inp.markets)
    # The trades just made count against the budget the next plan sees.
    spent = case.inp.traded_recently + sum((t.value for t in plan.trades), Decimal(0))
    again = make_plan(replace(case.inp, portfolio=done, positions=facts,
                              traded_recently=spent), settings)
    assert again.trades == (), (plan.trades, again.trades)
