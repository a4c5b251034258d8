"""The daily summary: value and change, cash %, trades and fees, signals, what needs attention."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from core.config.rules import PolicySettings
from core.domain.models import Side, SignalKind, TradeReason
from core.engine.approvals import Approval, ApprovalState
from core.engine.events import SignalChanged
from core.engine.orders import OrderRow, OrderState
from core.engine.state import Snapshot
from core.ops.summary import (
    EngineHealth,
    SummaryInput,
    compose_summary,
    next_summary_at,
    summary_due,
)
from core.policy.bands import bands
from tests.engine_support import plan_of, trade
from tests.factories import portfolio, signals

D = Decimal
NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
# V = 500 USDT + 0.05 BTC × 60,000 + 2 ETH × 3,000 + DOGE 100 × 0.1 = 9,510
PORTFOLIO = portfolio({"BTC": ("0.05", "60000"), "ETH": ("2", "3000"), "DOGE": ("100", "0.1")},
                      {"USDT": "500"}, watch={"BNB": "600", "SOL": "100"})


def snapshot(hours_ago: float, total: str) -> Snapshot:
    return Snapshot(NOW - timedelta(hours=hours_ago), D(total), D("500"), {})


def order(hours_ago: float, side: Side, asset: str, filled: str, price: str, fee: str,
          fee_currency: str | None, state: OrderState = OrderState.FILLED) -> OrderRow:
    at = NOW - timedelta(hours=hours_ago)
    return OrderRow(
        client_order_id=f"bl-x-{asset}-{hours_ago}", approval_id="x", trade_index=0,
        symbol=f"{asset}/USDT", asset=asset, side=side, amount=D(filled),
        planned_price=D(price), state=state, attempts=1, sent_at=at, exchange_order_id="1",
        filled=D(filled), average_price=D(price), cost=D(filled) * D(price), fee=D(fee),
        fee_currency=fee_currency, detail=None, updated_at=at,
    )


def approval(approval_id: str, state: ApprovalState, hours_ago: float,
             reason: str | None = None) -> Approval:
    at = NOW - timedelta(hours=hours_ago)
    return Approval(approval_id, plan_of(trade(Side.SELL, "ETH", "0.5", "3000",
                                               TradeReason.RAISE_CASH)),
                    state, at, at + timedelta(minutes=10), decided_at=at, finished_at=at,
                    reason=reason)


def inputs(**changes: object) -> SummaryInput:
    base: dict[str, object] = {
        "now": NOW, "quote": "USDT", "portfolio": PORTFOLIO,
        "bands": bands(PolicySettings(min_cash=D("0.20"), cash_band=D("0.05"))),
        "signals": signals(BTC="BUY", ETH=("SELL", -0.75), DOGE="HOLD", SOL=("STRONG_BUY", 1.0),
                           BNB="HOLD"),
        "snapshots": [snapshot(30, "9000"), snapshot(25, "9100"), snapshot(23, "9300"),
                      snapshot(1, "9400")],
        "orders": [], "approvals": [], "health": EngineHealth(),
    }
    base.update(changes)
    return SummaryInput(**base)  # type: ignore[arg-type]


def test_value_and_change_over_the_day() -> None:
    summary = compose_summary(inputs())
    assert summary.total_value == D("9510")
    # The last snapshot at or before 24 h ago is the one 25 h ago (9,100).
    assert summary.value_before == D("9100")
    assert summary.value_since == NOW - timedelta(hours=25)
    assert summary.change == D("410")
    assert summary.change_fraction == D("410") / D("9100")


def test_a_young_history_compares_with_its_oldest_snapshot() -> None:
    summary = compose_summary(inputs(snapshots=[snapshot(5, "9000"), snapshot(2, "9200")]))
    assert summary.value_before == D("9000") and summary.change == D("510")
    empty = compose_summary(inputs(snapshots=[]))
    assert empty.change is None and empty.change_fraction is None


def test_cash_and_holdings_largest_first_with_their_signals() -> None:
    summary = compose_summary(inputs())
    assert summary.cash_value == D("500")
    assert summary.cash_allocation == D("500") / D("9510")
    assert [(h.asset, h.value, h.signal) for h in summary.holdings] == [
        ("ETH", D("6000"), SignalKind.SELL),
        ("BTC", D("3000"), SignalKind.BUY),
        ("DOGE", D("10.0"), SignalKind.HOLD),
    ]


def test_trades_of_the_day_and_their_fees_in_the_quote() -> None:
    orders = [
        order(30, Side.BUY, "BTC", "0.01", "60000", "0.6", "USDT"),  # yesterday: not today's
        order(3, Side.SELL, "ETH", "0.5", "3000", "1.5", "USDT"),
        order(2, Side.BUY, "BTC", "0.01", "60000", "0.00001", "BTC"),  # fee in the base: × price
        order(1, Side.BUY, "SOL", "1", "100", "0.01", "BNB"),  # fee in BNB at BNB's price
        order(0.5, Side.BUY, "ADA", "10", "0.5", "0.001", "XYZ"),  # unknown fee currency
    ]
    summary = compose_summary(inputs(orders=list(reversed(orders))))
    assert [(t.side, t.asset) for t in summary.trades] == [
        ("sell", "ETH"), ("buy", "BTC"), ("buy", "SOL"), ("buy", "ADA")
    ]
    assert [t.fee_value for t in summary.trades] == [D("1.5"), D("0.6"), D("6.00"), None]
    assert summary.fees == D("1.5") + D("0.6") + D("6.00")
    assert summary.trades[0].value == D("1500.0")


def test_signals_other_than_hold_holdings_first_strongest_first() -> None:
    summary = compose_summary(inputs())
    assert [(s.asset, s.signal, s.held) for s in summary.signals] == [
        ("ETH", SignalKind.SELL, True),
        ("BTC", SignalKind.BUY, True),
        ("SOL", SignalKind.STRONG_BUY, False),
    ]
    assert summary.holds == 2


def test_what_needs_attention() -> None:
    health = EngineHealth(
        paused=True, trouble_since=NOW - timedelta(hours=2), last_error="connection refused",
        pending=("p1",), executing=("e1",),
    )
    approvals = [
        approval("f1", ApprovalState.FAILED, 3, "ETH was rejected: insufficient balance"),
        approval("f0", ApprovalState.FAILED, 30, "yesterday's failure"),
        approval("d1", ApprovalState.DONE, 2),
    ]
    unpriced = replace(portfolio({"BTC": ("0.05", "60000")}, {"USDT": "100"}),
                       unpriced=("XYZ",))
    summary = compose_summary(inputs(health=health, approvals=approvals, portfolio=unpriced,
                                     zone=ZoneInfo("Europe/Berlin")))
    assert summary.attention == (
        "The exchange has not answered since 24 Nov 07:00 CET: connection refused",
        "Cash 3.2% is below 15%, where the policy raises it (the 20% minimum less its band).",
        "Plan p1 waits for your decision.",
        "Plan e1 is still executing.",
        "Plan f1 failed: ETH was rejected: insufficient balance",
        "No price for XYZ: not valued, not traded.",
        "Proposals are paused.",
    )


def test_a_calm_day_needs_no_attention() -> None:
    calm = portfolio({"BTC": ("0.05", "60000")}, {"USDT": "1000"})  # 25% cash
    assert compose_summary(inputs(portfolio=calm)).attention == ()


def test_without_a_scan_the_summary_says_so() -> None:
    summary = compose_summary(inputs(portfolio=None, signals={}))
    assert summary.total_value is None and summary.change is None and summary.holdings == ()
    assert summary.attention == ("No portfolio: no scan has succeeded yet.",)


def test_the_summary_is_due_once_a_day_from_its_hour() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    morning = datetime(2026, 11, 24, 6, 30, tzinfo=UTC)  # 07:30 in Berlin
    assert not summary_due(morning, berlin, 8, None)
    assert next_summary_at(morning, berlin, 8, None) == datetime(2026, 11, 24, 8, tzinfo=berlin)
    at_eight = datetime(2026, 11, 24, 7, 0, tzinfo=UTC)  # 08:00 in Berlin
    assert summary_due(at_eight, berlin, 8, None)
    assert summary_due(at_eight, berlin, 8, date(2026, 11, 23))
    assert next_summary_at(at_eight, berlin, 8, None) == at_eight
    sent = date(2026, 11, 24)
    assert not summary_due(at_eight + timedelta(hours=10), berlin, 8, sent)
    assert next_summary_at(at_eight, berlin, 8, sent) == datetime(2026, 11, 25, 8, tzinfo=berlin)
    # Down at eight, back at night: the day's summary still comes, late rather than never.
    assert summary_due(datetime(2026, 11, 24, 22, 0, tzinfo=UTC), berlin, 8, None)


def test_signal_flips_of_the_day_read_as_one_path_per_asset() -> None:
    def flip(asset: str, before: SignalKind, after: SignalKind) -> SignalChanged:
        return SignalChanged(NOW, asset, before, after, 0.1)

    changes = [flip("ETH", SignalKind.HOLD, SignalKind.BUY), flip("BTC", SignalKind.BUY,
                                                                  SignalKind.HOLD),
               flip("ETH", SignalKind.BUY, SignalKind.HOLD)]
    summary = compose_summary(inputs(signal_changes=changes))
    assert summary.signal_changes == ("ETH HOLD→BUY→HOLD", "BTC BUY→HOLD")
