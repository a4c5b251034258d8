"""Views: phone-sized HTML (no line over 40 characters), escaping, splitting, buttons, charts."""

from __future__ import annotations

import html
import re
import struct
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.telegram.callbacks import Action, ButtonPress, decode, encode
from bot.telegram.charts import ValuePoint, allocation_chart, value_chart
from bot.telegram.format import LINE_WIDTH, MESSAGE_LIMIT, amount, money, split_message, visible
from bot.telegram.settings_views import settings_view
from bot.telegram.views import (
    View,
    plan_view,
    portfolio_view,
    signals_view,
)
from core.config.rules import PolicySettings, SignalSettings
from core.domain.models import (
    AssetSignal,
    Plan,
    PlannedTrade,
    PositionFacts,
    Side,
    SignalKind,
    SkippedTrade,
    SkipReason,
    TradeReason,
    Vote,
)
from tests.telegram_builders import portfolio_from, seed_plan, seed_portfolio, seed_signals

D = Decimal
LIMITS = PolicySettings()
EXPIRY = datetime(2026, 3, 1, 14, 32, tzinfo=UTC)

asset_names = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<&>", min_size=1,
                      max_size=20)
decimals = st.decimals(min_value=D("0.00000001"), max_value=D("99999999999"), places=8,
                       allow_nan=False, allow_infinity=False)


def assert_phone_sized(view: View) -> None:
    for line in visible(view.text).split("\n"):
        assert len(line) <= LINE_WIDTH, f"{len(line)} characters: {line!r}"


def assert_valid_html(text: str) -> None:
    """Tags balance and no raw '<' or '&' leaks from dynamic text."""
    stack: list[str] = []
    for match in re.finditer(r"<(/?)(\w+)>|<|&(?!amp;|lt;|gt;|quot;)", text):
        if match.group(2) is None:
            raise AssertionError(f"unescaped {match.group(0)!r} at {match.start()} in {text!r}")
        if match.group(1):
            assert stack and stack.pop() == match.group(2), text
        else:
            stack.append(match.group(2))
    assert not stack, text


def test_portfolio_view_shows_holdings_cash_limits_and_pnl() -> None:
    portfolio = seed_portfolio()
    facts = {"BTC": PositionFacts(cost_basis=D("85000"))}
    view = portfolio_view(portfolio, seed_signals(), facts, LIMITS)
    text = visible(view.text)
    assert "12,631.96 USDT" in text
    assert "Cash 628.00 USDT · 5.0%" in text
    assert "⚠ Under 20%: next plan sells to 25%" in text  # min_cash less cash_band
    assert re.search(r"ETH +4,607\.00 ▲36\.5% SELL", text)
    assert re.search(r"BTC +3,174\.96 +25\.1% BUY", text)
    assert "  0.03482 @ 91,182.00 · cost 85,000.00\n  P&L +215.26 (+7.3%)" in text
    assert_phone_sized(view)
    assert_valid_html(view.text)
    assert view.buttons is not None
    data = [b.callback_data for row in view.buttons.inline_keyboard for b in row]
    assert data == [encode(Action.CHART_ALLOCATION), encode(Action.CHART_VALUE)]


def test_portfolio_view_marks_positions_under_the_minimum() -> None:
    portfolio = portfolio_from({"BTC": ("1", "1000"), "DOGE": ("100", "0.5")}, cash="9000",
                               dust=("DOGE",))
    small = portfolio_from({"BTC": ("1", "300"), "ETH": ("1", "9000")}, cash="700")
    text = visible(portfolio_view(small, {}, {}, LIMITS).text)
    assert re.search(r"BTC +300\.00 ▼ 3\.0%", text)
    text = visible(portfolio_view(portfolio, {}, {}, LIMITS).text)
    assert "Dust: DOGE" in text
    assert "DOGE " not in text.split("<pre>")[0].split("Dust")[0].split("Asset")[-1]


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(asset_names, st.tuples(decimals, decimals), min_size=0, max_size=25),
       decimals, st.lists(asset_names, max_size=30))
def test_portfolio_view_fits_a_phone_for_any_holdings(
    values: dict[str, tuple[Decimal, Decimal]], cash: Decimal, dust: list[str]
) -> None:
    portfolio = portfolio_from({a: (str(q), str(p)) for a, (q, p) in values.items()}, str(cash),
                               unpriced=tuple(dust))
    facts = {a: PositionFacts(cost_basis=p * 2) for a, (_, p) in values.items()}
    signals = {a: AssetSignal(a, SignalKind.STRONG_BUY, 1.0) for a in values}
    view = portfolio_view(portfolio, signals, facts, LIMITS)
    assert_phone_sized(view)
    assert_valid_html(view.text)
    for part in split_message(view.text):
        assert len(part) <= MESSAGE_LIMIT
        assert_valid_html(part)


def test_plan_view_lists_trades_cash_and_expiry_with_buttons() -> None:
    view = plan_view(seed_plan(), "a1b2c3", EXPIRY, "USDT")
    text = visible(view.text)
    assert "Cash 628.00 → 2,526.40 USDT" in text
    assert "5.0% → 20.0% of 12,632.00" in text
    assert "1. SELL 0.4945 ETH @ 3,839.17" in text
    assert "41% of the holding · ≈ 1,898.40 USDT" in text
    words = " ".join(text.split())
    assert "Why: it is over its maximum share of the portfolio; cash is below its minimum" in words
    assert "AVAX sell: bought too recently to sell" in words
    assert "trim_to_max" not in text and "raise_cash" not in text and "min_hold" not in text
    assert "Expires 1 Mar 14:32 UTC" in text
    assert view.buttons is not None
    [[approve, reject]] = view.buttons.inline_keyboard
    assert "Approve" in approve.text and "Reject" in reject.text
    assert decode(str(approve.callback_data)) == ButtonPress(Action.APPROVE, "a1b2c3")
    assert decode(str(reject.callback_data)) == ButtonPress(Action.REJECT, "a1b2c3")
    assert_phone_sized(view)


trades = st.builds(
    PlannedTrade,
    side=st.sampled_from(Side),
    asset=asset_names,
    amount=decimals,
    price=decimals,
    value=decimals,
    fee=decimals,
    reasons=st.lists(st.sampled_from(TradeReason), min_size=1, max_size=6).map(tuple),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(trades, max_size=40),
       st.lists(st.builds(SkippedTrade, asset=asset_names, side=st.sampled_from(Side),
                          reason=st.sampled_from(SkipReason)), max_size=40),
       decimals, decimals)
def test_plan_view_fits_a_phone_for_any_plan(
    planned: list[PlannedTrade], skipped: list[SkippedTrade], cash: Decimal, total: Decimal
) -> None:
    plan = Plan(total_value=total, cash_before=cash, cash_after=cash, trades=tuple(planned),
                skipped=tuple(skipped), before={"cash": D("0.05")}, after={"cash": D("0.2")})
    view = plan_view(plan, "x" * 48, EXPIRY, "USDT", note="Prices moved 3.1% since the last "
                     "plan <so> this one replaces it & more")
    assert_phone_sized(view)
    assert_valid_html(view.text)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(asset_names, st.floats(-1, 1), st.lists(
    st.builds(Vote, strategy=st.sampled_from(["rsi", "macd", "ema", "bollinger"]),
              vote=st.sampled_from([-1, 0, 1]), reason=st.text(max_size=120)),
    max_size=5)), max_size=30))
def test_signals_view_fits_a_phone(items: list[tuple[str, float, list[Vote]]]) -> None:
    signals = {a: AssetSignal(a, SignalKind.HOLD, s, tuple(v)) for a, s, v in items}
    view = signals_view(signals, "1h")
    assert_phone_sized(view)
    assert_valid_html(view.text)


def test_signals_view_shows_votes_and_escapes_reasons() -> None:
    text = signals_view(seed_signals(), "1h").text
    assert "RSI(14) 78.4 &gt; 70" in text
    assert text.index("ETH") < text.index("BTC"), "weakest first"


def test_settings_view_lists_values_and_escapes() -> None:
    view = settings_view({"min_cash": D("0.20"), "never_sell": ("BTC",), "stop_loss": None,
                          "sell_on_signal": True, "preset": "<x>"}, {"min_cash": "chat"})
    text = visible(view.text)
    assert re.search(r"min_cash\* +20%", text)
    assert re.search(r"never_sell +BTC", text)
    assert re.search(r"stop_loss +off", text)
    assert re.search(r"sell_on_signal +on", text)
    assert "&lt;x&gt;" in view.text
    assert_phone_sized(view)


def test_split_message_keeps_each_part_within_the_limit_and_valid() -> None:
    rows = "\n".join(f"row {i} &amp; <b>bold {i}</b>" for i in range(900))
    text = f"<b>Title</b>\n<pre>{rows}</pre>\nend"
    parts = split_message(text)
    assert len(parts) > 1
    for part in parts:
        assert len(part) <= MESSAGE_LIMIT
        assert_valid_html(part)
    joined = "\n".join(visible(p) for p in parts)
    assert joined == visible(text)


def test_split_message_cuts_an_endless_line_outside_entities() -> None:
    text = "&amp;" * 2000
    parts = split_message(text)
    assert all(len(p) <= MESSAGE_LIMIT for p in parts)
    assert "".join(html.unescape(p.replace("\n", "")) for p in parts) == "&" * 2000


def test_numbers_read_like_a_trader_writes_them() -> None:
    assert money(D("12632")) == "12,632.00"
    assert money(D("123456789")) == "123.46M"
    assert amount(D("0.034820")) == "0.03482"
    assert amount(D("0.00000123")) == "0.00000123"
    assert amount(D("1250")) == "1,250"


def test_callback_data_round_trips_and_rejects_anything_else() -> None:
    assert decode(encode(Action.APPROVE, "20260301T1432-7")) == ButtonPress(
        Action.APPROVE, "20260301T1432-7")
    assert decode("ca") == ButtonPress(Action.CHART_ALLOCATION)
    for forged in ["", "ap", "ap:", "ap:../x", "zz:abc", "ap:abc:def", "ca:1", "ap:" + "a" * 49,
                   "ap:é", "rj: abc", "x" * 65, None]:
        assert decode(forged) is None, forged
    for bad in ["", "a b", "a" * 49]:
        try:
            encode(Action.REJECT, bad)
        except ValueError:
            continue
        raise AssertionError(f"encoded a bad id {bad!r}")
    assert len(encode(Action.APPROVE, "a" * 48).encode()) <= 64


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_allocation_chart_is_a_png() -> None:
    width, height = _png_size(allocation_chart(seed_portfolio(), LIMITS))
    assert 600 <= width <= 1200 and 300 <= height <= 1200


def test_value_chart_is_a_png_with_and_without_snapshots() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    points = [ValuePoint(start + timedelta(hours=i), D(12000 + i * 10), D(600 + i))
              for i in range(48)]
    assert _png_size(value_chart(points, "USDT"))[0] >= 600
    assert _png_size(value_chart([], "USDT"))[0] >= 600


def test_status_and_history_fit_a_phone() -> None:
    from bot.telegram.reports import help_view, history_view, status_view
    from core.engine.approvals import Approval, ApprovalState
    from core.engine.orders import OrderRow, OrderState
    from core.engine.service import History, Status

    approval = Approval("a1b2c3d4e5", seed_plan(), ApprovalState.PENDING, EXPIRY, EXPIRY)
    status = Status(mode="live", exchange="binanceus-very-long-name", approval="manual",
                    auto_approval=False, paused=True, last_scan=EXPIRY - timedelta(seconds=45),
                    next_plan=EXPIRY, exchange_ok=False, trouble_since=EXPIRY,
                    last_error="binance GET /api/v3/account 503 Service Unavailable " * 3,
                    pending=[approval], executing=[approval])
    view = status_view(status, EXPIRY)
    text = visible(view.text)
    assert "Mode live" in text and "paused" in text and "45s ago" in text
    assert "down since 1 Mar 14:32 UTC" in text and "Waiting: plan a1b2c3d4e5" in text
    assert_phone_sized(view)
    held = replace(status, on_hold_since=EXPIRY, on_hold_because=(
        "total value -24.3% since the last scan with no matching price move "
        "(12629.88 → 9560.12 USDT)",))
    view = status_view(held, EXPIRY)
    text = visible(view.text)
    assert "Planning ⏸ on hold since 1 Mar 14:32 UTC" in text and "total value -24.3%" in text
    assert_phone_sized(view)
    assert "on hold" not in visible(status_view(status, EXPIRY).text)
    row = OrderRow("bl-a1b2c3d4e5-0", "a1b2c3d4e5", 0, "ETH/USDT", "ETH", Side.SELL,
                   D("123456.12345678"), D("3000"), OrderState.FILLED, 1, EXPIRY, "9",
                   D("123456.12345678"), D("0.00001234"), D("1.5"), D("0.12345678"),
                   "BNB-LONG-NAME", None, EXPIRY)
    history = History(approvals=[approval] * 12, trades=[row] * 12, snapshots=[])
    view = history_view(history)
    text = visible(view.text)
    assert "1 Mar 14:32 UTC SELL ETH" in text
    assert_phone_sized(view)
    assert_valid_html(view.text)
    assert_phone_sized(help_view("paper", greeting=True))
    assert "No trades yet." in history_view(History([], [], [])).text


def test_each_vote_shows_its_sign_and_a_sell_at_zero_says_why() -> None:
    votes = (Vote("rsi", -1, "RSI(14) 78.4 > 70"), Vote("macd", 1, "MACD crossed up"),
             Vote("ema", 0, "EMA(20) ≈ EMA(50)"))
    signals = {"ETH": AssetSignal("ETH", SignalKind.SELL, 0.0, votes)}
    seed = SignalSettings(preset="seed-literal")  # the seed's rule: one SELL vote sells
    text = visible(signals_view(signals, "1h", seed).text)
    assert "ETH SELL · score +0.00" in text
    assert ("SELL: 1 of 3 strategies vote SELL; sell_rule = any: one SELL vote sells"
            in " ".join(text.split()))
    assert "− rsi: RSI(14) 78.4 > 70" in text and "+ macd: MACD crossed up" in text
    assert "· ema: EMA(20) ≈ EMA(50)" in text
    # A SELL its score explains gets no rule line.
    plain = {"ETH": AssetSignal("ETH", SignalKind.SELL, -0.5, votes[:1])}
    assert "sell_rule" not in signals_view(plain, "1h", seed).text


def test_the_portfolio_says_which_candles_its_signals_are_read_on() -> None:
    text = visible(portfolio_view(seed_portfolio(), seed_signals(), {}, LIMITS, "4h").text)
    assert "Signals on 4h candles" in text
