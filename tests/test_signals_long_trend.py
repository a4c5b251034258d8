"""The long-horizon trend family on real daily candles: its numbers are the textbook ones
(pandas' rolling mean and returns, the band rule by hand), and it reads daily candles beside
hourly strategies, from the exchange's own or from hourly ones, with the same votes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.config.rules import SignalSettings
from core.domain.models import SignalKind
from core.market.candles import read_candle_file
from core.signals import candles_needed, compute_signal, signal_history, timeframes

FIXTURES = Path(__file__).resolve().parent / "fixtures"
DAY, HOUR = 86_400_000, 3_600_000
DAILY = SignalSettings(timeframe="1d", strategies=("trend_ma", "trend_score"))


def hand_band_sides(close: pd.Series, days: int, band: float) -> list[float]:
    """Faber's rule with a band, by hand: the side of the latest break within `days` days."""
    average = close.rolling(days).mean()
    sides: list[float] = []
    for t in range(close.size):
        if np.isnan(average.iloc[t]):
            sides.append(np.nan)
            continue
        side = 0.0
        for back in range(t, max(t - days, -1), -1):
            mean = average.iloc[back]
            if np.isnan(mean):
                break
            if close.iloc[back] > mean * (1 + band):
                side = 1.0
                break
            if close.iloc[back] < mean * (1 - band):
                side = -1.0
                break
        sides.append(side)
    return sides


@pytest.mark.parametrize("asset", ["BTC", "ETH"])
def test_votes_and_indicators_equal_the_textbook_on_real_candles(asset: str) -> None:
    frame = read_candle_file(FIXTURES / "candles" / f"binance_{asset}_USDT_1d.csv.gz")
    close = frame["close"]
    history = signal_history(asset, frame, DAILY)
    average = close.rolling(100).mean()
    sides = hand_band_sides(close, 100, 0.02)
    returns = {d: close / close.shift(d) - 1 for d in (20, 60, 120, 200)}
    needed = candles_needed(DAILY)
    assert needed == 201  # the 200-day return needs 201 closes; the band rule 2 × 100 − 1
    checked = 0
    for row in range(needed - 1, len(frame)):
        signal = history.at(int(frame.index[row]) + DAY)
        values = signal.indicators
        assert values["ma_100d"] == pytest.approx(average.iloc[row], rel=1e-9)
        assert values["ma_100d_gap"] == pytest.approx(close.iloc[row] / average.iloc[row] - 1,
                                                      abs=1e-9)
        ups = sum(returns[d].iloc[row] > 0 for d in returns)
        downs = sum(returns[d].iloc[row] < 0 for d in returns)
        for d in returns:
            assert values[f"return_{d}d"] == pytest.approx(returns[d].iloc[row], abs=1e-9)
        assert values["trend_share"] == ups / 4
        votes = {v.strategy: v.vote for v in signal.votes}
        assert votes["trend_ma"] == sides[row]
        assert votes["trend_score"] == (1 if ups >= 3 else -1 if downs >= 3 else 0)
        assert signal.score == pytest.approx((votes["trend_ma"] + votes["trend_score"]) / 2)
        checked += 1
    assert checked > 250
    kinds = {v.vote for row in range(needed - 1, len(frame), 7)
             for v in history.at(int(frame.index[row]) + DAY).votes}
    assert kinds == {-1, 0, 1}  # the window holds buys, sells and the band's holds


def test_reasons_say_it_in_words() -> None:
    frame = read_candle_file(FIXTURES / "candles" / "binance_BTC_USDT_1d.csv.gz")
    at = 1_694_563_200_000  # 2023-09-13 00:00 UTC, BTC well under its 100-day average
    signal = compute_signal("BTC", frame, DAILY, at_ms=at)
    reasons = {v.strategy: v.reason for v in signal.votes}
    gap = signal.indicators["ma_100d_gap"]
    assert reasons["trend_ma"].startswith(f"price {abs(gap) * 100:.1f}% below its 100-day "
                                          "average ")
    assert reasons["trend_score"] == ("1 of 4 lookbacks up (20d −2.2%, 60d −14.8%, 120d −4.9%, "
                                      "200d +11.5%)")
    assert signal.signal is SignalKind.SELL


def test_too_short_a_history_holds_and_says_how_much_is_needed() -> None:
    frame = read_candle_file(FIXTURES / "candles" / "binance_BTC_USDT_1d.csv.gz").iloc[:150]
    signal = compute_signal("BTC", frame, DAILY)
    assert {v.vote for v in signal.votes} == {0}
    assert "needs 199 contiguous closed candles, has 150" in signal.votes[0].reason


# ------------------------------------------------------------ a daily strategy beside hourly ones

HOURLY_AND_DAILY = SignalSettings(strategies=("rsi", "trend_ma", "trend_score"),
                                  trend_ma_days=20, trend_lookbacks=(5, 10, 20))


def test_each_strategy_reads_its_own_timeframe() -> None:
    hourly = read_candle_file(FIXTURES / "candles_2023q1" / "binance_BTC_USDT_1h.csv.gz")
    daily = read_candle_file(FIXTURES / "candles_2023q1" / "binance_BTC_USDT_1d.csv.gz")
    assert timeframes(HOURLY_AND_DAILY) == ("1h", "1d")
    assert candles_needed(HOURLY_AND_DAILY, "1d") == 39
    daily_only = HOURLY_AND_DAILY.model_copy(update={"timeframe": "1d",
                                                    "strategies": ("trend_ma", "trend_score")})
    given = signal_history("BTC", hourly, HOURLY_AND_DAILY, other={"1d": daily})
    built = signal_history("BTC", hourly, HOURLY_AND_DAILY)  # days built from the hours
    alone = signal_history("BTC", daily, daily_only)
    assert np.array_equal(given.votes, built.votes)
    assert np.array_equal(given.kinds, built.kinds)
    moved = 0
    for t in range(int(hourly.index[0]) + 45 * DAY, int(hourly.index[-1]), 5 * HOUR):
        signal = given.at(t)
        daily_votes = alone.at(t)  # the last day closed by t, whatever the hour
        assert [(v.strategy, v.vote, v.reason) for v in signal.votes[1:]] == \
            [(v.strategy, v.vote, v.reason) for v in daily_votes.votes]
        assert signal.votes[0].reason.startswith("RSI(14)")
        assert signal.indicators["ma_20d"] == daily_votes.indicators["ma_20d"]
        # the live way: only the candles closed by t, the days passed beside the hours
        live = compute_signal("BTC", hourly, HOURLY_AND_DAILY, at_ms=t, other={"1d": daily})
        assert live == signal
        moved += signal.votes[1].vote != 0
    assert moved > 50


def test_a_missing_day_holds_the_daily_votes_with_the_reason() -> None:
    hourly = read_candle_file(FIXTURES / "candles_2023q1" / "binance_BTC_USDT_1h.csv.gz")
    daily = read_candle_file(FIXTURES / "candles_2023q1" / "binance_BTC_USDT_1d.csv.gz")
    gone = int(daily.index[60])
    signal = compute_signal("BTC", hourly, HOURLY_AND_DAILY, at_ms=gone + DAY + 5 * HOUR,
                            other={"1d": daily.drop(index=gone)})
    assert [v.vote for v in signal.votes[1:]] == [0, 0]
    assert "is missing" in signal.votes[1].reason
    assert signal.votes[0].reason.startswith("RSI(14)")


@settings(max_examples=40, deadline=None)
@given(days=st.integers(2, 30), band=st.sampled_from([0.0, 0.01, 0.05]),
       row=st.integers(60, 480))
def test_a_vote_depends_on_its_last_window_only(days: int, band: float, row: int) -> None:
    """The band rule's memory is bounded: from the last `candles_needed` days alone (a live
    engine's few hundred) the votes are the ones a history of years gives."""
    frame = read_candle_file(FIXTURES / "candles" / "binance_BTC_USDT_1d.csv.gz")
    chosen = SignalSettings(timeframe="1d", strategies=("trend_ma", "trend_score"),
                            trend_ma_days=days, trend_band=band, trend_lookbacks=(1, days + 1))
    needed = candles_needed(chosen)
    at = int(frame.index[row]) + DAY
    full = compute_signal("BTC", frame, chosen, at_ms=at)
    short = compute_signal("BTC", frame.iloc[max(0, row + 1 - needed):row + 1], chosen, at_ms=at)
    assert short.votes == full.votes
