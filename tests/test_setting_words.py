"""Settings typed and read on a phone (bot.telegram.setting_words, settings_views): % and
durations both ways, "did you mean", groups, one line per change, one-line refusals."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.telegram.format import visible
from bot.telegram.setting_words import (
    InputError,
    did_you_mean,
    duration_text,
    grouped,
    parse_value,
    value_text,
)
from bot.telegram.settings_edit import EDITABLE, SettingsEditor
from bot.telegram.settings_views import changed_view, settings_view, step_buttons, step_changes
from core.config.settings import AlertLevel, Settings, SettingsError, load_settings
from tests.test_telegram_views import assert_phone_sized, assert_valid_html

D = Decimal


def test_shares_and_durations_are_typed_as_people_write_them() -> None:
    assert parse_value("min_cash", "22%") == "0.22"
    assert parse_value("min_cash", "0.22") == "0.22"
    assert parse_value("turnover_budget", "150 %") == "1.5"
    assert parse_value("turnover_period", "30d") == str(30 * 86400)
    assert parse_value("rebalance_interval", "1h") == "3600"
    assert parse_value("min_hold", "15m") == "900"
    assert parse_value("min_hold", "1h30m") == "5400"
    assert parse_value("min_hold", "300") == "300"
    with pytest.raises(InputError, match="min_hold 3 weeks: not a duration"):
        parse_value("min_hold", "3 weeks")
    with pytest.raises(InputError, match="min_cash x%: not a percentage"):
        parse_value("min_cash", "x%")


@given(st.integers(0, 400 * 86400))
def test_a_duration_reads_back_as_itself(seconds: int) -> None:
    assert parse_value("turnover_period", duration_text(seconds)) == str(seconds)


def test_values_read_in_percent_and_durations() -> None:
    assert value_text("min_cash", D("0.25")) == "25%"
    assert value_text("fee_rate", D("0.001")) == "0.1%"
    assert value_text("turnover_period", 2592000) == "30d"
    assert value_text("min_hold", 300) == "5m"
    assert value_text("stop_loss", None) == "off"
    assert value_text("never_sell", ("BTC", "ETH")) == "BTC, ETH"


def test_typos_get_a_did_you_mean() -> None:
    assert did_you_mean("mincash", EDITABLE) == "min_cash"
    assert did_you_mean("max_postion", EDITABLE) == "max_position"
    assert did_you_mean("banana", EDITABLE) is None


def test_the_groups_cover_every_editable_setting_in_order() -> None:
    groups = grouped(EDITABLE)
    assert [title for title, _ in groups][:5] == [
        "💵 Cash", "📦 Positions", "📡 Signals", "🔁 Trading", "🔔 Alerts"]
    assert sorted(n for _, names in groups for n in names) == sorted(EDITABLE)
    # Within a group, in the group's own order: the cash limits from minimum to maximum.
    assert groups[0][1][:3] == ["min_cash", "target_cash", "max_cash"]


def test_the_settings_view_fits_a_phone() -> None:
    settings = load_settings(env={})
    values = {name: getattr(settings, name) for name in EDITABLE}
    view = settings_view(values, {"min_cash": "chat"})
    assert_phone_sized(view)
    assert_valid_html(view.text)
    assert "0.25" not in visible(view.text) and "2592000" not in visible(view.text)


def test_a_change_shows_only_what_changed() -> None:
    before = {"min_cash": D("0.25"), "max_cash": D("0.4"), "stop_loss": None}
    after = {"min_cash": D("0.22"), "max_cash": D("0.4"), "stop_loss": D("0.08")}
    assert visible(changed_view(before, after).text).split("\n") == [
        "✅ min_cash 25% → 22%", "✅ stop_loss off → 8%"]


def test_the_cash_button_moves_minimum_and_target_together() -> None:
    assert step_changes("cash_up", {"min_cash": D("0.25"), "target_cash": D("0.25")}) == [
        ("target_cash", "0.3"), ("min_cash", "0.3")]
    assert step_changes("nonsense", {}) is None


async def test_the_signal_alerts_button_switches_them_off_and_on_again() -> None:
    """alert_signals is a level now (loud, silent, summary, off); the button is still a switch:
    off, then on (its default level) again, the label naming what a tap does."""
    async def apply(changed: Settings) -> None:
        pass

    editor = SettingsEditor(load_settings(env={}), apply)
    labels = []
    for _ in range(2):
        [button] = [b for row in step_buttons(editor.shown()).inline_keyboard for b in row
                    if b.text.startswith("Alert signals")]
        labels.append(button.text)
        changes = step_changes("signal_alerts", editor.shown())
        assert changes is not None
        await editor.change_many(changes)
    assert labels == ["Alert signals off", "Alert signals on"]
    assert editor.current.alert_signals is AlertLevel.SUMMARY


async def test_settings_that_must_move_together_are_refused_in_one_line() -> None:
    applied: list[Settings] = []

    async def apply(changed: Settings) -> None:
        applied.append(changed)

    editor = SettingsEditor(load_settings(env={}), apply)
    with pytest.raises(SettingsError) as refused:
        await editor.change("min_cash", "30%")
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith("min_cash 30% must be ≤ target_cash (25%); the cash settings "
                              "keep floor ≤ minimum ≤ target ≤ maximum")
    assert not applied
    await editor.change_many([("min_cash", "30%"), ("target_cash", "30%")])
    assert editor.current.min_cash == editor.current.target_cash == D("0.3")
