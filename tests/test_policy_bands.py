"""The policy's levels (`core.policy.bands`) are what the policy does: the words "the next plan
will raise cash" are said exactly when the next plan sells to raise cash (issue 23, item 5)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from core.config.rules import PolicySettings
from core.domain.models import TradeReason
from core.policy import PlanInput, make_plan
from core.policy.bands import CashLevel, bands, cash_level
from tests.telegram_builders import portfolio_from

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)


@given(cash=st.integers(min_value=100, max_value=3900),
       band=st.sampled_from(["0.02", "0.05", "0.1"]))
def test_cash_is_raised_exactly_below_the_band(cash: int, band: str) -> None:
    # Four holdings of equal value, each well within the position limits; no signals: only the
    # cash reserve can make a trade. A band of at least 2% keeps every shortfall above the
    # minimum order (a smaller one waits as below_min_trade).
    holding = Decimal(10_000 - cash) / 4
    portfolio = portfolio_from({a: (str(holding / 100), "100") for a in ("BTC", "ETH", "SOL",
                                                                          "AVAX")}, str(cash))
    settings = PolicySettings(min_cash=Decimal("0.25"), cash_band=Decimal(band))
    plan = make_plan(PlanInput(portfolio, {}, {}, {}, (), NOW), settings)
    raises = any(TradeReason.RAISE_CASH in t.reasons for t in plan.trades)
    promised = cash_level(portfolio.cash_allocation, bands(settings)) is CashLevel.RAISED_NEXT
    assert raises == promised, (portfolio.cash_allocation, plan)
