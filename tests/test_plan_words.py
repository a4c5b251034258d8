"""Plans in the owner's words (core.policy.words): no reason codes in the chat or in `ballast
plan`'s text, the unit price and the share of a holding a sell takes, and why a buy chose its
asset; the JSON keeps its codes (docs/formats.md)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.telegram.format import visible
from bot.telegram.views import empty_plan_view, plan_view
from core.domain.models import (
    AssetSignal,
    Side,
    SignalKind,
    SkippedTrade,
    SkipReason,
    TradeReason,
)
from core.policy import PlanInput, make_plan
from core.policy.words import SKIP_WORDS, TRADE_WORDS, skips_worth_saying
from tests.factories import NOW, policy, portfolio
from tests.telegram_builders import seed_plan

CODES = re.compile("|".join(r"\b" + code.value + r"\b" for code in (*TradeReason, *SkipReason)))
EXPIRY = datetime(2026, 11, 24, 14, 32, tzinfo=UTC)


def test_every_reason_has_words_and_none_reads_as_its_code() -> None:
    assert set(TRADE_WORDS) == set(TradeReason)
    assert set(SKIP_WORDS) == set(SkipReason)
    for words in (*TRADE_WORDS.values(), *SKIP_WORDS.values()):
        assert not CODES.search(words), words


def trending(asset: str, kind: SignalKind, score: float, fast: float, slow: float) -> AssetSignal:
    return AssetSignal(asset, kind, score, (), {"ema_20": fast, "ema_50": slow})


def test_a_buy_says_why_this_asset_over_the_others() -> None:
    held = portfolio({"BTC": ("0.01", "90000")}, {"USDT": "9000"},
                     watch={"ADA": "0.45", "LINK": "14"})
    signals = {"ADA": trending("ADA", SignalKind.STRONG_BUY, 0.75, 0.46, 0.41),
               "LINK": trending("LINK", SignalKind.STRONG_BUY, 0.5, 13.0, 14.5)}
    plan = make_plan(PlanInput(held, signals, {}, {}, ("ADA", "LINK"), NOW), policy())
    [ada] = [t for t in plan.trades if t.asset == "ADA"]
    assert ada.why == ("STRONG BUY at score +0.75, trend rising; the strongest of 2 buy "
                       "signals (others: LINK +0.50)")
    text = " ".join(visible(plan_view(plan, "p1", EXPIRY, "USDT").text).split())
    assert "BUY" in text and "ADA @ 0.45" in text
    assert f"Why: its signal says buy: {ada.why}" in text
    assert not CODES.search(text), text


def test_skips_read_in_words_in_the_chat() -> None:
    # Within the bands: nothing to do, and each skip says why in words.
    held = portfolio({"ETH": ("1", "4200"), "BTC": ("0.03", "90000")}, {"USDT": "3100"})
    plan = make_plan(PlanInput(held, {}, {}, {}, (), NOW),
                     policy(max_position="0.40", trim_band="0.05"))
    assert [s.reason for s in plan.skipped] == [SkipReason.WITHIN_BAND]
    text = " ".join(visible(empty_plan_view(plan, "USDT").text).split())
    assert "close enough to its limit: not worth a trade yet" in text
    assert not CODES.search(text), text


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in [k for k in os.environ if k.upper().startswith("BALLAST_")]:
        monkeypatch.delenv(name)


@pytest.mark.usefixtures("clean_env")
def test_the_cli_text_speaks_words_and_its_json_keeps_the_codes(tmp_path: Path) -> None:
    doc = {
        "balances": {"ETH": {"free": 3}, "AVAX": {"free": 40}, "USDT": {"free": 100}},
        "prices": {"ETH": 3000, "AVAX": 38},
        "signals": {"AVAX": "SELL"},
        "positions": {"AVAX": {"last_buy": "2026-11-23T23:59:00Z"}},
        "settings": {"min_cash": 0.2, "max_position": 0.5, "trim_band": 0.0, "cash_band": 0.0},
        "now": "2026-11-24T00:00:00Z",
    }
    path = tmp_path / "whatif.json"
    path.write_text(json.dumps(doc))
    result = CliRunner().invoke(app, ["plan", "--input", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "sells 41.0% of the holding; it is over its maximum share of the portfolio" in text
    assert "│ 3000 │" in text  # the unit price
    assert "bought too recently to sell" in text
    # Only the detail column may name a setting ("min_hold is 300 s"); no reason reads as code.
    assert not CODES.search(text.replace("min_hold is", "")), text
    as_json = CliRunner().invoke(app, ["plan", "--input", str(path), "--json"])
    out = json.loads(as_json.stdout)
    assert out["trades"][0]["reasons"] == ["trim_to_max"]
    assert {"asset": "AVAX", "side": "sell", "reason": "min_hold"} in out["skipped"]


def test_a_skip_of_a_trade_the_plan_makes_anyway_is_not_listed() -> None:
    """A trim skipped within its band beside a cash raise that sells the same asset read as
    "SOL sell: close enough to its limit" under "SELL SOL" (the 30-day demo): it is left out of
    what the owner reads, in the chat and in `ballast plan`'s text; the plan keeps every skip."""
    seed = seed_plan()
    plan = dataclasses.replace(seed, skipped=(
        SkippedTrade("ETH", Side.SELL, SkipReason.WITHIN_BAND),
        *seed.skipped,
    ))
    assert skips_worth_saying(plan) == list(seed.skipped)
    text = " ".join(visible(plan_view(plan, "a1b2c3", EXPIRY, "USDT").text).split())
    assert "ETH sell:" not in text
    assert "AVAX sell: bought too recently to sell" in text
    assert len(plan.skipped) == 2
