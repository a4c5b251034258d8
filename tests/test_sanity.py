"""The sanity rules (core.domain.sanity): balance re-checks and the gate before planning. Pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from core.domain.models import Balance, Portfolio, Price
from core.domain.sanity import Gate, balance_changes, judge, snapshot_of, snapshot_problems
from core.domain.valuation import value_portfolio

T0 = datetime(2026, 1, 1, tzinfo=UTC)
JUMP = Decimal("0.15")
SETTLE = timedelta(hours=1)
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
    assert not snapshot_problems(snapshot_of(before), moved, JUMP)


@given(st.decimals(min_value=Decimal("0"), max_value=Decimal("100000"), places=2))
def test_cash_changing_with_no_price_move_is_a_jump_exactly_beyond_the_limit(
    usdt: Decimal,
) -> None:
    before = portfolio()
    after = portfolio({**BASE, "USDT": str(usdt)})
    ratio = after.total_value / before.total_value - 1
    problems = snapshot_problems(snapshot_of(before), after, JUMP)
    jumped = any("total value" in p for p in problems.passing)
    assert jumped == (abs(ratio) > JUMP)
    assert any("vanished" in p for p in problems.passing) == (usdt == 0)


def test_a_held_asset_turning_unpriced_is_lasting_but_a_watched_one_is_not() -> None:
    before = portfolio()
    no_eth = portfolio(prices={**PRICES, "ETH": "0"})
    problems = snapshot_problems(snapshot_of(before), no_eth, JUMP)
    assert problems.lasting == ("ETH has no usable price (was 3685)",)
    assert not snapshot_problems(snapshot_of(before), before, JUMP)  # AVAX: watched, unpriced
    assert "AVAX" in before.unpriced


def test_the_gate_closes_tells_why_and_reopens_when_sane() -> None:
    gate = judge(Gate(), portfolio(), T0, max_value_jump=JUMP, settle_after=SETTLE)
    assert gate.open and gate.accepted is not None
    lost = portfolio({**BASE, "USDT": "0"})
    closed = judge(gate, lost, T0 + timedelta(seconds=30), max_value_jump=JUMP,
                   settle_after=SETTLE)
    assert not closed.open
    assert any("USDT balance vanished" in p for p in closed.problems)
    assert closed.accepted == gate.accepted, "the last sane scan stays the reference"
    again = judge(closed, portfolio(), T0 + timedelta(seconds=60), max_value_jump=JUMP,
                  settle_after=SETTLE)
    assert again.open


def test_a_new_level_that_holds_for_the_settle_time_becomes_normal() -> None:
    gate = judge(Gate(), portfolio(), T0, max_value_jump=JUMP, settle_after=SETTLE)
    deposit = portfolio({**BASE, "USDT": "5000"})
    for minutes in (1, 30, 59):
        gate = judge(gate, deposit, T0 + timedelta(minutes=minutes), max_value_jump=JUMP,
                     settle_after=SETTLE)
        assert not gate.open
    gate = judge(gate, deposit, T0 + timedelta(minutes=61), max_value_jump=JUMP,
                 settle_after=SETTLE)
    assert gate.open


def test_an_unpriced_holding_never_settles_by_time() -> None:
    gate = judge(Gate(), portfolio(), T0, max_value_jump=JUMP, settle_after=SETTLE)
    broken = portfolio(prices={**PRICES, "ETH": "0"})
    for hours in (1, 2, 5):
        gate = judge(gate, broken, T0 + timedelta(hours=hours), max_value_jump=JUMP,
                     settle_after=SETTLE)
        assert not gate.open
