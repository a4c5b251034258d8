"""Alerts: deduplicated, switchable per family, and readable on a phone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bot.telegram.alerts import AlertFilter, alert_view
from bot.telegram.callbacks import Action, ButtonPress, decode
from bot.telegram.format import LINE_WIDTH, visible
from bot.telegram.letters import letter_view
from core.config.settings import AlertLevel, load_settings
from core.domain.models import Side, SignalKind
from core.engine.approvals import ApprovalState
from core.engine.events import (
    ApprovalClosed,
    CashBelowMinimum,
    Event,
    ExchangeRecovered,
    ExchangeTrouble,
    ExecutionFailed,
    OrderResult,
    PlanExecuted,
    PlanProposed,
    SignalChanged,
    SuspectData,
    SuspectDataCleared,
)
from core.engine.orders import OrderState
from core.ops.alert_levels import AlertKind, kind_of, level_of
from core.ops.summary import DailySummary, HoldingLine, SignalLine, TradeLine
from core.ops.watchdog import ScansFailing, ScansResumed
from tests.telegram_builders import seed_plan

D = Decimal
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def signal(minutes: float, asset: str, previous: SignalKind, current: SignalKind) -> SignalChanged:
    return SignalChanged(at(minutes), asset, previous, current, -0.25, ("RSI(14) 78.4 > 70",))


FILLED = OrderResult("bl-a1-0", "ETH", Side.SELL, D("0.4945"), OrderState.FILLED, D("0.4945"),
                     D("3839.17"), D("1.898"), "USDT")
REJECTED = OrderResult("bl-a1-1", "BTC", Side.BUY, D("0.01"), OrderState.REJECTED, D(0), None,
                       D(0), None, "insufficient balance for the buy at the exchange right now")


def admitted(events: list[Event]) -> list[Event]:
    alerts = AlertFilter(repeat_after=timedelta(hours=12))
    return [e for e in events if alerts.admit(e)]


def test_a_signal_that_stays_sell_is_announced_once() -> None:
    first = signal(0, "ETH", SignalKind.HOLD, SignalKind.SELL)
    again = signal(1, "ETH", SignalKind.HOLD, SignalKind.SELL)
    later = signal(600, "ETH", SignalKind.SELL, SignalKind.SELL)
    back = signal(700, "ETH", SignalKind.SELL, SignalKind.HOLD)
    sell_again = signal(800, "ETH", SignalKind.HOLD, SignalKind.SELL)
    other = signal(1, "BTC", SignalKind.HOLD, SignalKind.SELL)
    assert admitted([first, again, later, other, back, sell_again]) == [
        first, other, back, sell_again]


def test_plans_and_results_are_sent_once_per_approval() -> None:
    proposed = PlanProposed(T0, "a1", seed_plan(), at(10))
    executed = PlanExecuted(at(1), "a1", (FILLED,))
    closed = ApprovalClosed(at(2), "a2", ApprovalState.EXPIRED, "no decision before it expired")
    assert admitted([proposed, proposed, executed, executed, closed, closed]) == [
        proposed, executed, closed]


def test_cash_breach_repeats_only_after_the_quiet_period() -> None:
    events: list[Event] = [CashBelowMinimum(at(m), D("0.05"), D("0.2")) for m in (0, 30, 700, 800)]
    assert [e.at for e in admitted(events)] == [at(0), at(800)]


def test_exchange_trouble_is_announced_when_the_state_flips() -> None:
    down = ExchangeTrouble(at(0), "Binance unreachable")
    down_again = ExchangeTrouble(at(1), "Binance unreachable")
    up = ExchangeRecovered(at(5), at(0), 9)
    assert admitted([down, down_again, up, up, down]) == [down, up, down]


def test_each_kind_has_its_level_and_plans_always_come() -> None:
    events: list[Event] = [
        signal(0, "ETH", SignalKind.HOLD, SignalKind.SELL),
        PlanExecuted(at(1), "a1", (FILLED,)),
        ExecutionFailed(at(1), "a2", "1 order rejected", (REJECTED,)),
        CashBelowMinimum(at(2), D("0.05"), D("0.2")),
        ExchangeTrouble(at(3), "down"),
        SuspectData(at(3), ("cash vanished",)),
        PlanProposed(at(4), "a3", seed_plan(), at(14)),
    ]
    defaults = load_settings(env={})
    assert [level_of(e, defaults) for e in events] == [
        AlertLevel.SUMMARY, AlertLevel.LOUD, AlertLevel.LOUD, AlertLevel.SILENT,
        AlertLevel.SILENT, AlertLevel.LOUD, AlertLevel.LOUD]
    quiet = load_settings(env={f"BALLAST_ALERT_{kind.value.upper()}": "off"
                               for kind in AlertKind if kind is not AlertKind.PLANS})
    assert [e for e in events if level_of(e, quiet) is not AlertLevel.OFF] == [events[-1]]
    # The old on/off switches keep working: on is the kind's default level.
    old = load_settings(env={"BALLAST_ALERT_SIGNALS": "true", "BALLAST_ALERT_CASH": "false"})
    assert (old.alert_signals, old.alert_cash) == (AlertLevel.SUMMARY, AlertLevel.OFF)
    # An all-clear never rings: the trouble itself did.
    assert level_of(SuspectDataCleared(at(5), at(3)), defaults) is AlertLevel.SILENT
    # A closed plan is no message of its own: it edits the plan's message.
    closed = ApprovalClosed(at(6), "a3", ApprovalState.EXPIRED, "no decision before it expired")
    assert level_of(closed, defaults) is None


def test_every_event_reads_well_on_a_phone() -> None:
    events: list[Event] = [
        signal(0, "ETH", SignalKind.HOLD, SignalKind.SELL),
        PlanProposed(T0, "a1b2c3d4e5", seed_plan(), at(10), replaces="f0f0f0f0f0",
                     reason="Prices moved 3.1% since the plan was made."),
        PlanProposed(T0, "a1b2c3d4e6", seed_plan(), at(10), auto=True),
        PlanExecuted(at(1), "a1b2c3d4e5", (FILLED,)),
        ExecutionFailed(at(1), "a1b2c3d4e5", "1 of 2 orders failed <rejected>", (FILLED, REJECTED)),
        ApprovalClosed(at(2), "a1b2c3d4e5", ApprovalState.SUPERSEDED, "a newer plan replaced it"),
        CashBelowMinimum(at(2), D("0.0497"), D("0.2")),
        ExchangeTrouble(at(3), "binance: connection refused while fetching tickers & balances"),
        ExchangeRecovered(at(5), at(0), 9),
    ]
    for event in events:
        view = alert_view(event, "USDT")
        assert view is not None
        for line in visible(view.text).split("\n"):
            assert len(line) <= LINE_WIDTH, (event, line)
        assert "<rejected>" not in view.text


def test_plan_alert_has_buttons_unless_auto_approved() -> None:
    manual = alert_view(PlanProposed(T0, "a1", seed_plan(), at(10)), "USDT")
    auto = alert_view(PlanProposed(T0, "a2", seed_plan(), at(10), auto=True), "USDT")
    assert manual is not None and manual.buttons is not None
    presses = [decode(str(b.callback_data)) for row in manual.buttons.inline_keyboard
               for b in row]
    assert presses == [ButtonPress(Action.APPROVE, "a1"), ButtonPress(Action.REJECT, "a1")]
    assert auto is not None and auto.buttons is None
    assert "Auto-approved" in auto.text


def test_results_show_filled_amount_average_price_and_fee() -> None:
    view = alert_view(ExecutionFailed(at(1), "a1", "1 order rejected", (FILLED, REJECTED)),
                      "USDT")
    assert view is not None
    text = visible(view.text)
    assert "Plan a1 failed" in text
    assert "SELL ETH filled" in text
    assert "0.4945 of 0.4945" in text
    assert "@ 3,839.17 = 1,898.47" in text
    assert "fee 1.90 USDT" in text
    assert "BUY BTC rejected" in text
    assert "insufficient balance" in text


def test_daily_summary_and_watchdog_letters_read_well_on_a_phone() -> None:
    summary = DailySummary(
        at=at(0), quote="USDT", total_value=D("12632"), value_before=D("12400"),
        value_since=at(-1440), cash_value=D("2526.4"), cash_allocation=D("0.2"),
        holdings=tuple(HoldingLine(f"COIN{i}VERYLONG", D("123456789.12"), D("0.3"),
                                   SignalKind.STRONG_BUY) for i in range(20)),
        trades=tuple(TradeLine(at(i), "sell", "ETHEREUMCLASSIC", D("1234567.891"), D("3000"),
                               D("98765432.1"), D("1.9"), "USDT", D("1.9")) for i in range(12)),
        fees=D("22.8"),
        signals=(SignalLine("ETH", SignalKind.SELL, -0.25, True),),
        holds=3,
        attention=("Plan a1b2c3d4e5 waits for your decision.",
                   "The exchange has not answered since 12:00 UTC: " + "x" * 200),
        signal_changes=("ETH HOLD→BUY→HOLD", "BTC BUY→HOLD"),
    )
    view = letter_view(summary, "USDT")
    assert view is not None
    text = visible(view.text)
    assert "Value 12,632.00 USDT" in text
    assert "+232.00 (+1.9%) since" in text
    assert "Cash 2,526.40 · 20.0%" in text
    assert "Trades 12 · fees 22.80 USDT" in text
    assert "Signals: ETH SELL (+3 HOLD)" in text
    assert "Signal changes: ETH HOLD→BUY→HOLD, BTC BUY→HOLD" in " ".join(text.split())
    assert "Needs attention" in text
    for line in text.split("\n"):
        assert len(line) <= LINE_WIDTH, line
    watchdog = (ScansFailing(at(0), at(-30), "binance: 503 " * 20), ScansResumed(at(5), at(-30)))
    for letter in watchdog:
        shown = letter_view(letter, "USDT")
        assert shown is not None
        assert all(len(line) <= LINE_WIDTH for line in visible(shown.text).split("\n"))


def test_a_letter_is_said_only_after_it_went_out() -> None:
    alerts = AlertFilter()
    failing = ScansFailing(at(0), at(-30))
    assert alerts.is_new(failing)
    assert alerts.is_new(failing), "not remembered until sent"
    alerts.remember(failing)
    assert not alerts.is_new(failing)
    assert alerts.admit(ScansResumed(at(1), at(-30)))


def test_a_signal_alert_shows_each_votes_sign_and_the_rule_behind_a_sell_at_zero() -> None:
    event = SignalChanged(at(1), "ETH", SignalKind.BUY, SignalKind.SELL, 0.25,
                          ("− rsi: RSI(14) 78.4 > 70", "+ macd: MACD crossed up"),
                          "SELL: 1 of 4 strategies vote SELL; sell_rule = any: one SELL vote "
                          "sells")
    view = alert_view(event, "USDT")
    assert view is not None
    text = visible(view.text)
    assert "BUY → SELL" in text and "score +0.25" in text
    assert "sell_rule = any: one SELL vote sells" in " ".join(text.split())
    assert "− rsi: RSI(14) 78.4 > 70" in text and "+ macd: MACD crossed up" in text


def test_suspect_data_and_part_fills_are_said_plainly() -> None:
    suspect = SuspectData(at(1), ("ETH has no usable price (was 3685)",
                                  "total value -24.3% since the last scan with no matching "
                                  "price move (12629.88 → 9560.12 USDT)"))
    view = alert_view(suspect, "USDT")
    assert view is not None
    text = visible(view.text)
    assert "Not planning" in text and "ETH has no usable price" in text
    assert view.buttons is not None, "the owner can confirm figures that are right"
    [[confirm]] = view.buttons.inline_keyboard
    assert confirm.callback_data == "cf" and "figures are right" in confirm.text
    assert all(len(line) <= LINE_WIDTH for line in text.split("\n"))
    cleared = alert_view(SuspectDataCleared(at(5), at(1)), "USDT")
    assert cleared is not None and "Planning resumes" in visible(cleared.text)
    assert kind_of(suspect) is AlertKind.SAFETY  # a hold on planning rings by default
    alerts = AlertFilter()
    assert alerts.admit(suspect) and not alerts.admit(SuspectData(at(2), ("x",)))

    part = OrderResult("bl-a1-0", "ETH", Side.SELL, D("0.5"), OrderState.EXPIRED, D("0.2"),
                       D("3650"), D("0.73"), "USDT",
                       "0.2 of 0.5 filled within the price limit 3648.15")
    shown = alert_view(PlanExecuted(at(1), "a1", (part,)), "USDT")
    assert shown is not None
    assert "Plan a1 executed in part" in visible(shown.text)
    assert "0.2 of 0.5" in visible(shown.text)
