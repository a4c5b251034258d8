"""Profit and loss (core.account.pnl): realised at average cost, fees, the value change and the
comparison with holding, per period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from core.account.pnl import profit_report, realised_sells
from core.domain.models import Side
from core.exchange.base import Fill

D = Decimal
NOW = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)
MIDNIGHT = datetime(2026, 12, 7, tzinfo=UTC)


def fill(side: Side, amount: str, price: str, at: datetime, fee: str = "0",
         asset: str = "ETH") -> Fill:
    return Fill(f"t{at.timestamp()}", None, f"{asset}/USDT", side, D(amount), D(price), D(fee),
                "USDT", at)


def test_a_sell_realises_against_the_average_cost_and_pays_its_fee() -> None:
    fills = [fill(Side.BUY, "1", "2000", NOW - timedelta(days=40)),
             fill(Side.BUY, "1", "3000", NOW - timedelta(days=20)),
             fill(Side.SELL, "1", "3500", NOW - timedelta(hours=2), fee="3.5")]
    [sell] = realised_sells(fills, "USDT")
    assert sell.realised == D("996.5")  # (3,500 − 2,500) × 1 − 3.5


def test_a_sell_of_units_from_before_the_history_has_unknown_cost() -> None:
    [sell] = realised_sells([fill(Side.SELL, "1", "3500", NOW)], "USDT")
    assert sell.realised is None


def test_each_period_beside_holding() -> None:
    # 10,000 of value 8 days ago; today a sell of 1 ETH at 3,500 (fee 3.5), now at 3,000.
    fills = [fill(Side.BUY, "2", "2500", NOW - timedelta(days=60)),
             fill(Side.SELL, "1", "3500", NOW - timedelta(hours=2), fee="3.5")]
    points = [(NOW - timedelta(days=8), D("10000")), (MIDNIGHT, D("10400"))]
    report = profit_report(now=NOW, day_start=MIDNIGHT, quote="USDT", value_now=D("10496.5"),
                           prices={"ETH": D("3000")}, points=points, fills=fills)
    today, week, month, start = report.periods
    assert (today.name, week.name, month.name, start.name) == (
        "today", "7 days", "30 days", "since start")
    assert today.value_change == D("96.5")
    assert today.realised == D("996.5") and today.fees == D("3.5")
    # Holding the ETH would be worth 3,000 now instead of 3,500 − 3.5 in cash.
    assert today.beside_holding == D("496.5")
    # 7 days: from the last record at or before its start (8 days ago).
    assert week.value_change == D("496.5") and week.since == NOW - timedelta(days=7)
    # 30 days and since start: no record that old, so from the first one (8 days ago).
    assert month.value_change == D("496.5") and month.since == NOW - timedelta(days=8)
    assert start.since == NOW - timedelta(days=8) and start.realised == D("996.5")


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(1, 5), st.integers(1000, 5000)),
                max_size=12),
       st.integers(1000, 5000))
def test_trades_at_todays_price_without_fees_match_holding(
    trades: list[tuple[bool, int, int]], price_now: int
) -> None:
    """Trading at today's price costs nothing against holding; trades at other prices earn or
    lose exactly their price difference."""
    fills = [fill(Side.BUY if buy else Side.SELL, str(amount), str(price_now),
                  NOW - timedelta(hours=len(trades) - i))
             for i, (buy, amount, _) in enumerate(trades)]
    report = profit_report(now=NOW, day_start=MIDNIGHT - timedelta(days=1), quote="USDT",
                           value_now=D("50000"), prices={"ETH": D(price_now)},
                           points=[(MIDNIGHT - timedelta(days=2), D("50000"))], fills=fills)
    assert all(p.beside_holding == 0 for p in report.periods)


def test_the_holding_line_undoes_the_trades_at_each_points_prices() -> None:
    from core.account.pnl import holding_curve

    start = NOW - timedelta(days=2)
    # Day 0: 2 ETH at 2,500 + 5,000 cash. Day 1 (ETH 3,000): sell 1 ETH. Day 2: ETH at 2,000.
    fills = [fill(Side.SELL, "1", "3000", start + timedelta(days=1))]
    points = [(start, D("10000"), {"ETH": D("0.5")}),
              (start + timedelta(days=1, hours=1), D("11000"), {"ETH": D("3000") / D("11000")}),
              (start + timedelta(days=2), D("10000"), {"ETH": D("0.2")})]
    curve = holding_curve(points, fills, {"ETH": D("1")})
    # Holding keeps 2 ETH: 5,000 + 2 × price.
    assert curve == [D("10000"), D("11000"), D("9000")]
