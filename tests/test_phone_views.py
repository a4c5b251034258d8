"""Views made for the phone in issue 23: /signals on one screen (more to come)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.telegram.callbacks import Action, ButtonPress, decode
from bot.telegram.format import visible
from bot.telegram.signal_views import signals_summary_view
from core.config.rules import SignalSettings
from core.domain.models import AssetSignal, SignalKind, Vote
from tests.test_telegram_views import assert_phone_sized, assert_valid_html, asset_names

RULES = SignalSettings()


def test_signals_one_line_each_holdings_first_with_thresholds_and_trend() -> None:
    signals = {
        "ADA": AssetSignal("ADA", SignalKind.STRONG_BUY, 1.0, (Vote("rsi", 1, "RSI 25 < 30"),),
                           {"ema_20": 0.5, "ema_50": 0.4}),
        "ETH": AssetSignal("ETH", SignalKind.SELL, -0.75, (Vote("rsi", -1, "RSI 78 > 70"),),
                           {"ema_20": 3000.0, "ema_50": 3100.0}),
        "BTC": AssetSignal("BTC", SignalKind.HOLD, 0.25),
        "LINK": AssetSignal("LINK", SignalKind.HOLD, -0.25),
    }
    view = signals_summary_view(signals, "1h", RULES, held={"ETH", "BTC"})
    lines = visible(view.text).split("\n")
    assert lines[1:7] == [
        "Held",
        "🔽 ETH SELL −0.75 (≤ −0.75) ↘",
        "⏸ BTC HOLD +0.25 (buy at +0.50)",
        "Watchlist",
        "⏸ LINK HOLD −0.25 (sell at −0.75)",
        "⏫ ADA STRONG BUY +1.00 (≥ +1.00) ↗",
    ]
    assert "RSI" not in view.text
    assert view.buttons is not None
    [[details]] = view.buttons.inline_keyboard
    assert decode(str(details.callback_data)) == ButtonPress(Action.SIGNAL_DETAILS)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(asset_names, st.sampled_from(SignalKind), st.floats(-1, 1),
                          st.booleans()), max_size=30),
       st.sampled_from(["score", "any", "majority", "all"]))
def test_signals_summary_fits_a_phone(items: list[tuple[str, SignalKind, float, bool]],
                                      rule: str) -> None:
    signals = {a: AssetSignal(a, k, s) for a, k, s, _ in items}
    held = {a for a, _, _, h in items if h}
    view = signals_summary_view(signals, "1h", SignalSettings(sell_rule=rule), held)
    assert_phone_sized(view)
    assert_valid_html(view.text)


def test_portfolio_shows_cost_and_unrealised_pnl_and_says_once_why_one_is_unknown() -> None:
    from bot.telegram.views import portfolio_view
    from core.config.rules import PolicySettings
    from core.domain.models import PositionFacts
    from tests.telegram_builders import D, seed_portfolio, seed_signals

    facts = {"ETH": PositionFacts(cost_basis=D("3000")),
             "BTC": PositionFacts(cost_basis=D("90000"))}
    text = visible(portfolio_view(seed_portfolio(), seed_signals(), facts, PolicySettings()).text)
    assert "cost 3,000.00" in text and "P&L +1,007.00 (+28.0%)" in text
    assert "cost 90,000.00" in text
    assert "Unrealised P&L +1,048.16 USDT on 2 of 4" in text
    assert text.count("cost ?") == 3  # SOL and AVAX rows, and the one explanation
    assert " ".join(text.split()).count("the trade history does not explain the holding") == 1


def test_the_value_chart_draws_holdings_line_and_trade_marks() -> None:
    from datetime import UTC, datetime, timedelta
    from decimal import Decimal

    from bot.telegram.charts import ValuePoint, value_figure

    start = datetime(2026, 12, 1, tzinfo=UTC)
    points = [ValuePoint(start + timedelta(hours=i), Decimal(10000 + 10 * i), Decimal(2500),
                         Decimal(10000 + 5 * i)) for i in range(24)]
    figure = value_figure(points, "USDT", buys=[start + timedelta(hours=3)],
                          sells=[start + timedelta(hours=5), start + timedelta(hours=9)])
    [axes] = figure.axes
    legend = axes.get_legend()
    assert legend is not None
    labels = [text.get_text() for text in legend.get_texts()]
    assert any(label.startswith("holding") for label in labels), labels
    assert "1 buys" in labels and "2 sells" in labels


def test_the_paper_greeting_names_where_its_prices_come_from() -> None:
    from bot.telegram.notices import start_notice
    from core.config.settings import load_settings

    text = visible(start_notice(load_settings(env={"BALLAST_MODE": "paper"}), "paper").text)
    assert "on paper" not in text
    assert "Mode paper: simulated fills\nPrices from binance" in text
