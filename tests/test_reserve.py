"""The reserve as the seed means it (docs/rules.md, "The reserve"): `min_cash` and `cash_floor`
are hard floors, `max_cash` is where the strongest BUY is bought (never a cap that forces
buying), a downtrend asset is skipped with `buy_in_downtrend = false`, and the owner reads
why cash is where it is.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pandas_ta as ta
from hypothesis import given
from hypothesis import strategies as st

from core.config.rules import SignalSettings
from core.domain.models import AssetSignal, Side, SignalKind, SkipReason
from core.market.candles import read_candle_file
from core.policy import PlanInput, make_plan
from core.policy.reserve import cash_reason
from core.policy.whatif import load_whatif
from core.signals import signal_history
from tests.factories import NOW, policy, portfolio_by_value, signal
from tests.test_policy_properties import EXAMPLES, Case, after, cases, plan_of

BUYING = (SignalKind.BUY, SignalKind.STRONG_BUY)
CANDLES = Path(__file__).parent / "fixtures" / "candles"


@st.composite
def reserve_cases(draw: st.DrawFn) -> Case:
    """`cases` with some signals marked as downtrends and `buy_in_downtrend` either way."""
    case = draw(cases())
    marked = {
        name: replace(sig, downtrend=draw(st.booleans()))
        for name, sig in case.inp.signals.items()
    }
    settings = case.settings.model_copy(update={"buy_in_downtrend": draw(st.booleans())})
    return Case(replace(case.inp, signals=marked), settings)


@EXAMPLES
@given(reserve_cases())
def test_no_buy_takes_cash_under_min_cash_or_the_floor(case: Case) -> None:
    """A plan that buys leaves cash at or above min_cash (so above cash_floor too) of the value
    after the plan."""
    plan = plan_of(case)
    if any(t.side is Side.BUY for t in plan.trades):
        projected = after(case, plan)
        assert projected.cash_value >= case.settings.min_cash * projected.total_value
        assert case.settings.min_cash >= case.settings.cash_floor


@EXAMPLES
@given(reserve_cases())
def test_cash_above_max_cash_with_no_buy_signal_buys_nothing(case: Case) -> None:
    quiet = {name: replace(sig, signal=SignalKind.HOLD) if sig.signal in BUYING else sig
             for name, sig in case.inp.signals.items()}
    case = Case(replace(case.inp, signals=quiet), case.settings)
    plan = plan_of(case)
    assert [t for t in plan.trades if t.side is Side.BUY] == []


@EXAMPLES
@given(reserve_cases())
def test_a_downtrend_asset_is_never_bought_when_the_setting_says_so(case: Case) -> None:
    case = Case(case.inp, case.settings.model_copy(update={"buy_in_downtrend": False}))
    plan = plan_of(case)
    for trade in plan.trades:
        if trade.side is Side.BUY:
            assert not case.inp.signals[trade.asset].downtrend


def _buy_case(downtrend: bool) -> PlanInput:
    """Cash 70% (above the default max_cash, 60%), BTC held and a BUY."""
    folio = portfolio_by_value({"BTC": 1_000, "ETH": 1_000, "SOL": 1_000}, 7_000)
    sig = replace(signal("BTC", "BUY", 0.75), downtrend=downtrend)
    return PlanInput(folio, {"BTC": sig}, {}, {}, (), NOW)


def test_a_buy_into_a_downtrend_is_a_skip_with_its_reason() -> None:
    off = policy(buy_in_downtrend=False)
    plan = make_plan(_buy_case(downtrend=True), off)
    assert plan.trades == ()
    skip = next(s for s in plan.skipped if s.asset == "BTC")
    assert (skip.side, skip.reason) == (Side.BUY, SkipReason.DOWNTREND)
    assert "downtrend" in skip.detail
    # The same BUY in an uptrend is bought; with the seed's rule (on) the downtrend is bought too.
    assert [t.asset for t in make_plan(_buy_case(downtrend=False), off).trades] == ["BTC"]
    seed_rule = policy(buy_in_downtrend=True)
    assert [t.asset for t in make_plan(_buy_case(downtrend=True), seed_rule).trades] == ["BTC"]
    # Off is the default (docs/decisions.md §6).
    assert policy() == off


def test_a_plan_input_marks_a_downtrend() -> None:
    document = {
        "balances": {"BTC": {"free": 0.02}, "USDT": {"free": 5000}},
        "prices": {"BTC": 50000},
        "signals": {"BTC": {"signal": "BUY", "score": 0.75, "downtrend": True}},
        "settings": {"buy_in_downtrend": False},
    }
    whatif = load_whatif(json.dumps(document), default_now=NOW)
    plan = make_plan(whatif.plan_input, whatif.settings)
    assert plan.trades == ()
    assert SkipReason.DOWNTREND in [s.reason for s in plan.skipped if s.side is Side.BUY]


def test_the_downtrend_is_the_close_below_its_slow_ema() -> None:
    """On real candles, the signal's downtrend equals close < pandas-ta's EMA(50), and the
    backtest's fast path reads the same as the owner's full signal."""
    frame = read_candle_file(CANDLES / "binance_BTC_USDT_1h.csv.gz")
    # The hourly strategies alone: with `trend_ma` (a default) the downtrend is its daily vote.
    hourly = SignalSettings(strategies=("rsi", "macd", "ema", "bollinger"))
    history = signal_history("BTC", frame, hourly, "1h")
    # The fixture has two gaps: like every indicator, the average starts afresh after each.
    close = frame["close"].to_numpy()
    cuts = [0, *(np.nonzero(np.diff(frame.index.to_numpy()) != 3_600_000)[0] + 1), close.size]
    expected = np.zeros(close.size, dtype=bool)
    for start, stop in itertools.pairwise(cuts):
        part = ta.ema(pd.Series(close[start:stop]), length=50, presma=True)
        if part is not None:
            average = part.to_numpy()
            expected[start:stop] = np.isfinite(average) & (close[start:stop] < average)
    assert history.downtrend.tolist() == expected.tolist()
    assert 0 < expected.sum() < expected.size
    row = int(np.argmax(expected))
    at = int(history.times[row]) + history.length
    assert history.at(at).downtrend is True


def test_cash_reason_in_words() -> None:
    # The defaults (max_cash 60%, downtrend buys off: docs/decisions.md §6); the figures follow.
    settings = policy()
    down = AssetSignal("BTC", SignalKind.HOLD, 0.0, downtrend=True)
    assert cash_reason(Decimal("0.68"), {"BTC": down}, ["BTC"], settings) == (
        "Cash 68%: no holding in an uptrend; waiting for a buy signal")
    flat = AssetSignal("BTC", SignalKind.HOLD, 0.0)
    assert cash_reason(Decimal("0.68"), {"BTC": flat}, ["BTC"], settings) == (
        "Cash 68%: nothing has a buy signal; waiting for one")
    falling_buy = AssetSignal("ETH", SignalKind.BUY, 0.5, downtrend=True)
    assert cash_reason(Decimal("0.7"), {"ETH": falling_buy}, ["BTC"], settings) == (
        "Cash 70%: ETH signals BUY but is in a downtrend; waiting for a buy signal in an uptrend")
    seed_rule = policy(buy_in_downtrend=True)
    assert cash_reason(Decimal("0.7"), {"ETH": falling_buy}, ["BTC"], seed_rule) == (
        "Cash 70%: above the 60% maximum; buying the strongest BUY (ETH)")
    assert cash_reason(Decimal("0.48"), {"BTC": down}, ["BTC"], settings) == (
        "Cash 48%: within the reserve (25%–60%)")
    assert cash_reason(Decimal("0.1"), {}, [], settings) == (
        "Cash 10.0%: below the 25% minimum; Ballast sells from the weakest holdings")
    assert cash_reason(Decimal("0.246"), {}, [], settings) == (
        "Cash 24.6%: just under the 25% minimum, within cash_band (5%): too little to sell for")


def test_status_and_daily_summary_say_why() -> None:
    from bot.telegram.format import visible
    from bot.telegram.letters import summary_view
    from bot.telegram.reports import status_view
    from core.engine.service import Status
    from core.ops.summary import DailySummary

    words = "Cash 48%: no holding in an uptrend; waiting for a buy signal"
    now = datetime(2026, 1, 2, tzinfo=UTC)
    status = Status(mode="paper", exchange="binance", approval="manual", auto_approval=False,
                    paused=False, last_scan=None, next_plan=None, exchange_ok=True,
                    trouble_since=None, last_error=None, pending=[], executing=[],
                    cash_reason=words)
    assert " ".join(visible(status_view(status, now).text).split()).count(words) == 1
    summary = DailySummary(at=now, quote="USDT", total_value=Decimal(100), value_before=None,
                           value_since=None, cash_value=Decimal(48),
                           cash_allocation=Decimal("0.48"), holdings=(), trades=(),
                           fees=Decimal(0), signals=(), holds=0, attention=(),
                           cash_reason=words)
    assert " ".join(visible(summary_view(summary).text).split()).count(words) == 1
