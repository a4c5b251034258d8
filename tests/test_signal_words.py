"""Signals explained in words (core/signals/words.py): thresholds read as numbers do."""

from __future__ import annotations

from core.config.rules import SignalSettings
from core.domain.models import AssetSignal, SignalKind
from core.signals.words import explain


def test_a_sell_held_by_hysteresis_names_its_exit_threshold_without_a_minus_zero() -> None:
    held = AssetSignal("ETH", SignalKind.SELL, -0.25)
    text = explain(held, SignalSettings(sell_rule="score", sell_exit_score=0.0))
    assert text == ("SELL since the score fell to −0.75; it stays SELL until the score is ≥ 0 "
                    "(sell_rule = score)")
    text = explain(held, SignalSettings(sell_rule="score", sell_exit_score=0.25))
    assert "until the score is ≥ −0.25" in text


def test_a_buy_held_by_hysteresis_names_its_exit_threshold() -> None:
    held = AssetSignal("ETH", SignalKind.BUY, 0.25)
    assert "until it is ≤ 0 " in explain(held, SignalSettings(sell_rule="score"))
    assert "until it is ≤ +0.25 " in explain(
        held, SignalSettings(sell_rule="score", buy_exit_score=0.25))
