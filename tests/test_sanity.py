"""The sanity rules (core.domain.sanity): balance re-checks and the gate before planning. Pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from core.domain.models import Balance, Portfolio, Price
from core.domain.reference import fresh_reference
from core.domain.sanity import (
    Gate,
    Limits,
    balance_changes,
    confirmed,
    judge,
    snapshot_problems,
)
from core.domain.valuation import value_portfolio

T0 = datetime(2026, 1, 1, tzinfo=UTC)
JUMP = Decimal("0.15")
SETTLE = timedelta(hours=1)
LIMITS = Limits(max_value_jump=JUMP, max_price_jump=Decimal("0.3"), peg_band=Decimal("0.03"),
                max_balance_change=Decimal("0.02"), immaterial_share=Decimal("0.005"),
                min_order_value=Decimal("10"), settle_after=SETTLE,
                delisted_after=timedelta(days=1))
# Prices are not what these value tests look at: any move is within its limit.
VALUE_ONLY = Limits(max_value_jump=JUMP, max_price_jump=Decimal("9"), peg_band=Decimal("0.03"),
                    max_balance_change=Decimal("0.99"), immaterial_share=Decimal("0"),
                    min_order_value=Decimal("0"), settle_after=SETTLE,
                    delisted_after=timedelta(days=1))
BASE = {"USDT": "628", "BTC": "0.0348", "ETH": "1.25", "SOL": "25"}
PRICES = {"BTC": "91182", "ETH": "3685", "SOL": "138.5"}


def portfolio(balances: dict[str, str] | None = None, prices: dict[str, str] | None = None
              ) -> Portfolio:
    held = {a: Balance(Decimal(v)) for a, v in (balances or BASE).items()}
    quoted = {f"{a}/USDT": Price(a, "USDT", Decimal(p), T0)
              for a, p in (prices or PRICES).items()}
    return value_portfolio(held, quoted, quote="USDT", cash_assets=("USDT",), markets={},
                           now=T0, max_price_age=60, watchlist=("BTC", "ETH", "SOL", "AVAX"))


def test_unchanged_balances_and_rounding_dust_are_no_change() -> None:
    planned = {"ETH": Decimal("1.25"), "USDT": Decimal("628")}
    assert balance_changes(planned, {"ETH": Balance(Decimal("1.25")),
                                     "USDT": Balance(Decimal("628"), Decimal("5"))}) == []
    assert balance_changes(planned, {"ETH": Balance(Decimal("1.2499")),
                                     "USDT": Balance(Decimal("628.1"))}) == []


def test_a_sale_elsewhere_or_a_vanished_balance_is_a_change() -> None:
    planned = {"ETH": Decimal("1.25"), "USDT": Decimal("628"), "SOL": Decimal("0")}
    changes = balance_changes(planned, {"ETH": Balance(Decimal("0.7344")),
                                        "USDT": Balance(Decimal("628")),
                                        "SOL": Balance(Decimal("3"))})
    assert changes == ["ETH 1.25 → 0.7344", "SOL 0 → 3"]
    assert balance_changes({"USDT": Decimal("628")}, {}) == ["USDT 628 → 0"]


@given(st.decimals(min_value=Decimal("0.2"), max_value=Decimal("5"), places=3))
def test_a_move_the_prices_explain_is_never_a_jump(factor: Decimal) -> None:
    before = portfolio()
    moved = portfolio(prices={a: str(Decimal(p) * factor) for a, p in PRICES.items()})
    assert not snapshot_problems(fresh_reference(before, T0), moved, VALUE_ONLY, T0)


@given(st.decimals(min_value=Decimal("0"), max_value=Decimal("100000"), places=2))
def test_cash_changing_with_no_price_move_is_a_jump_exactly_beyond_the_limit(
    usdt: Decimal,
) -> None:
    before = portfolio()
    after = portfolio({**BASE, "USDT": str(usdt)})
    ratio = after.total_value / before.total_value - 1
    problems = snapshot_problems(fresh_reference(before, T0), after, VALUE_ONLY, T0)
    jumped = any("total value" in p for p in problems.passing)
    assert jumped == (abs(ratio) > JUMP)
    assert any("vanished" in p for p in problems.passing) == (usdt == 0)


def test_a_held_asset_turning_unpriced_is_lasting_but_a_watched_one_is_not() -> None:
    before = portfolio()
    no_eth = portfolio(prices={**PRICES, "ETH": "0"})
    problems = snapshot_problems(fresh_reference(before, T0), no_eth, LIMITS, T0)
    assert problems.lasting == ("ETH has no usable price (was 3685)",)
    # AVAX: watched, unpriced
    assert not snapshot_problems(fresh_reference(before, T0), before, LIMITS, T0)
    assert "AVAX" in before.unpriced


def test_the_gate_closes_tells_why_and_reopens_when_sane() -> None:
    gate = judge(Gate(), portfolio(), T0, LIMITS)
    assert gate.open and gate.accepted is not None
    lost = portfolio({**BASE, "USDT": "0"})
    closed = judge(gate, lost, T0 + timedelta(seconds=30), LIMITS)
    assert not closed.open
    assert any("USDT balance vanished" in p for p in closed.problems)
    assert closed.accepted == gate.accepted, "the last sane scan stays the reference"
    again = judge(closed, portfolio(), T0 + timedelta(seconds=60), LIMITS)
    assert again.open


def test_a_deposit_holds_until_the_owner_confirms_it_not_by_time() -> None:
    gate = judge(Gate(), portfolio(), T0, LIMITS)
    deposit = portfolio({**BASE, "USDT": "5000"})
    for minutes in (1, 30, 61, 60 * 24 * 30):
        gate = judge(gate, deposit, T0 + timedelta(minutes=minutes), LIMITS)
        assert not gate.open
        assert any("USDT balance 628 → 5000" in p for p in gate.problems)
    gate = confirmed(gate, deposit, T0 + timedelta(days=31), LIMITS)
    assert gate.open
    assert judge(gate, deposit, T0 + timedelta(days=31, minutes=1), LIMITS).open


def test_a_new_price_level_that_holds_for_the_settle_time_becomes_normal() -> None:
    gate = judge(Gate(), portfolio(), T0, LIMITS)
    crashed = portfolio(prices={**PRICES, "ETH": "1800"})  # −51%: real, and it stays
    for minutes in (1, 30, 59):
        gate = judge(gate, crashed, T0 + timedelta(minutes=minutes), LIMITS)
        assert not gate.open
        assert any("ETH priced 1800, -51.2% from its recent median 3685" in p
                   for p in gate.problems)
    gate = judge(gate, crashed, T0 + timedelta(minutes=61), LIMITS)
    assert gate.open
    assert judge(gate, crashed, T0 + timedelta(minutes=62), LIMITS).open, "the new normal"


def test_an_unpriced_holding_never_settles_by_time() -> None:
    gate = judge(Gate(), portfolio(), T0, LIMITS)
    broken = portfolio(prices={**PRICES, "ETH": "0"})
    for hours in (1, 2, 5):
        gate = judge(gate, broken, T0 + timedelta(hours=hours), LIMITS)
        assert not gate.open
