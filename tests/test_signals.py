"""Signals on real candles: votes follow their indicators, no look-ahead, bad data gives HOLD."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.config.rules import SignalSettings
from core.config.settings import SettingsError
from core.domain.models import AssetSignal, SignalKind, Vote
from core.market.candles import frame_to_candles, read_candle_file
from core.signals import (
    STRATEGIES,
    candles_needed,
    combine,
    compute_signal,
    compute_signals,
    register,
    signal_history,
    weakest_first,
)
from core.signals.indicators import FloatArray
from core.signals.strategies import Strategy

FIXTURES = Path(__file__).parent / "fixtures" / "candles"
HOUR = 3_600_000
DAY = 86_400_000
# These tests are about the four classic strategies read on one timeframe; the daily trend
# family (a default since docs/decisions.md §6) has tests/test_signals_long_trend.py.
CLASSIC = ("rsi", "macd", "ema", "bollinger")
DAILY = SignalSettings(timeframe="1d", strategies=CLASSIC)
HOURLY = SignalSettings(timeframe="1h", strategies=CLASSIC)


def ms(text: str) -> int:
    return int(pd.Timestamp(text, tz="UTC").timestamp() * 1000)


@pytest.fixture(scope="module")
def btc_daily() -> pd.DataFrame:
    return read_candle_file(FIXTURES / "binance_BTC_USDT_1d.csv.gz")


@pytest.fixture(scope="module")
def btc_hourly() -> pd.DataFrame:
    """BTC/USDT 1h, 2020-12-10 → 2021-01-05, with Binance's real 4 h and 1 h outages."""
    return read_candle_file(FIXTURES / "binance_BTC_USDT_1h.csv.gz")


def votes_of(signal: AssetSignal) -> dict[str, Vote]:
    return {vote.strategy: vote for vote in signal.votes}


def every_daily_signal(frame: pd.DataFrame, settings: SignalSettings) -> list[AssetSignal]:
    history = signal_history("BTC", frame, settings)
    return [history.at(int(t) + DAY) for t in frame.index]


# ---------------------------------------------------------------- votes follow the indicators


def test_each_vote_agrees_with_its_indicators_on_every_day(btc_daily: pd.DataFrame) -> None:
    signals = every_daily_signal(btc_daily, DAILY)
    closes = btc_daily["close"].to_numpy()
    seen: dict[str, set[int]] = {name: set() for name in DAILY.strategies}
    previous: dict[str, float] = {}
    for signal, close in zip(signals, closes, strict=True):
        ind, votes = signal.indicators, votes_of(signal)
        if "rsi_14" in ind:
            rsi = ind["rsi_14"]
            assert votes["rsi"].vote == (-1 if rsi > 70 else 1 if rsi < 30 else 0)
        if "bb_upper" in ind:
            want = -1 if close > ind["bb_upper"] else 1 if close < ind["bb_lower"] else 0
            assert votes["bollinger"].vote == want
        if "ema_50" in ind:
            assert votes["ema"].vote == int(np.sign(ind["ema_20"] - ind["ema_50"]))
        if "macd_signal" in ind:
            diff = ind["macd"] - ind["macd_signal"]
            before = previous.get("macd")
            crossed_up = before is not None and before <= 0 < diff
            crossed_down = before is not None and before >= 0 > diff
            assert votes["macd"].vote == (1 if crossed_up else -1 if crossed_down else 0)
            previous["macd"] = diff
        for name, vote in votes.items():
            seen[name].add(vote.vote)
    # Over 16 months of real BTC every strategy has voted both ways.
    for name, values in seen.items():
        assert {-1, 1} <= values, name


def test_reasons_carry_the_numbers(btc_daily: pd.DataFrame) -> None:
    signal = compute_signal("BTC", btc_daily, DAILY, ms("2024-03-01"))
    votes, ind = votes_of(signal), signal.indicators
    assert votes["rsi"].reason == f"RSI(14) {ind['rsi_14']:.1f} > 70"
    assert votes["ema"].reason.startswith(f"EMA(20) {ind['ema_20']:.1f} > EMA(50) ")
    assert f"{ind['bb_upper']:.1f}" in votes["bollinger"].reason
    assert "MACD(12,26,9)" in votes["macd"].reason
    crosses = [s for s in every_daily_signal(btc_daily, DAILY) if votes_of(s)["macd"].vote == -1]
    assert crosses
    assert votes_of(crosses[0])["macd"].reason.startswith("MACD(12,26,9) crossed below signal: ")


def test_indicator_keys_follow_the_parameters(btc_daily: pd.DataFrame) -> None:
    custom = SignalSettings(timeframe="1d", rsi_period=7, ema_fast=10, ema_slow=30,
                            strategies=CLASSIC)
    signal = compute_signal("BTC", btc_daily, custom, ms("2024-03-01"))
    assert set(signal.indicators) == {"rsi_7", "macd", "macd_signal", "ema_10", "ema_30",
                                      "bb_upper", "bb_lower"}
    assert votes_of(signal)["rsi"].reason.startswith("RSI(7) ")
    assert set(compute_signal("BTC", btc_daily, DAILY, ms("2024-03-01")).indicators) == {
        "rsi_14", "macd", "macd_signal", "ema_20", "ema_50", "bb_upper", "bb_lower"}


def test_thresholds_come_from_settings(btc_daily: pd.DataFrame) -> None:
    at = ms("2024-03-01")
    rsi = compute_signal("BTC", btc_daily, DAILY, at).indicators["rsi_14"]
    lenient = SignalSettings(timeframe="1d", rsi_overbought=rsi + 1, rsi_oversold=10)
    assert votes_of(compute_signal("BTC", btc_daily, lenient, at))["rsi"].vote == 0
    wide = SignalSettings(timeframe="1d", bb_std=4)
    assert votes_of(compute_signal("BTC", btc_daily, wide, at))["bollinger"].vote == 0


# -------------------------------------------------------- combination (docs/rules.md)


@pytest.mark.parametrize(
    ("votes", "rule", "kind", "score"),
    [
        ([1, 1, 1, 1], "any", SignalKind.STRONG_BUY, 1.0),
        ([1, 1, 1, 0], "any", SignalKind.BUY, 0.75),
        ([1, 1, 1, -1], "any", SignalKind.SELL, 0.5),  # any SELL vote wins under `any`
        ([1, 1, 1, -1], "majority", SignalKind.BUY, 0.5),
        ([-1, -1, 0, 1], "majority", SignalKind.HOLD, -0.25),  # half is not a majority
        ([-1, -1, -1, 1], "majority", SignalKind.SELL, -0.5),
        ([-1, -1, -1, 1], "all", SignalKind.HOLD, -0.5),
        ([-1, -1, -1, -1], "all", SignalKind.SELL, -1.0),
        ([0, 0, 0, 0], "any", SignalKind.HOLD, 0.0),
        ([], "any", SignalKind.HOLD, 0.0),
    ],
)
def test_votes_combine_per_spec(
    votes: list[int], rule: str, kind: SignalKind, score: float
) -> None:
    assert combine(votes, SignalSettings(sell_rule=rule)) == (kind, score)


def test_combined_signal_and_score_follow_the_votes(btc_daily: pd.DataFrame) -> None:
    for rule in ("any", "majority", "all"):
        settings = SignalSettings(timeframe="1d", sell_rule=rule)
        for signal in every_daily_signal(btc_daily, settings)[::7]:
            values = [v.vote for v in signal.votes]
            assert (signal.signal, signal.score) == combine(values, settings)


def test_weakest_holding_first_ties_to_the_larger_allocation() -> None:
    def sig(asset: str, score: float) -> AssetSignal:
        return AssetSignal(asset, SignalKind.HOLD, score)

    signals = {"BTC": sig("BTC", 0.5), "ETH": sig("ETH", -0.25), "SOL": sig("SOL", 0.0),
               "AVAX": sig("AVAX", 0.0)}
    allocations = {"BTC": Decimal("0.25"), "ETH": Decimal("0.36"), "SOL": Decimal("0.27"),
                   "AVAX": Decimal("0.06"), "LINK": Decimal("0.27")}
    # LINK has no signal: HOLD, score 0, tied with SOL (same allocation → by name) and AVAX.
    assert weakest_first(signals, allocations) == ["ETH", "LINK", "SOL", "AVAX", "BTC"]


# ---------------------------------------------------------------- confirm_candles


def test_confirm_candles_make_a_vote_wait_until_it_has_held(btc_daily: pd.DataFrame) -> None:
    once = every_daily_signal(btc_daily, DAILY)
    twice = every_daily_signal(btc_daily, SignalSettings(timeframe="1d", confirm_candles=2))
    confirmed = 0
    for i in range(1, len(once)):
        for name in ("rsi", "ema", "bollinger"):
            now, before = votes_of(once[i])[name].vote, votes_of(once[i - 1])[name].vote
            want = now if now == before else 0
            assert votes_of(twice[i])[name].vote == want, (i, name)
            confirmed += want != 0
        # A MACD cross counts once it has held one more candle: the cross was yesterday and
        # today MACD is still on the same side of its signal line.
        cross = votes_of(once[i - 1])["macd"].vote
        ind = once[i].indicators
        if cross and "macd" in ind:
            still = np.sign(ind["macd"] - ind["macd_signal"]) == cross
            assert votes_of(twice[i])["macd"].vote == (cross if still else 0)
        elif i > 40:
            assert votes_of(twice[i])["macd"].vote == 0
    assert confirmed > 100


def test_an_unconfirmed_vote_says_how_long_it_has_held(btc_daily: pd.DataFrame) -> None:
    settings = SignalSettings(timeframe="1d", confirm_candles=3)
    history = signal_history("BTC", btc_daily, settings)
    reasons = [history.at(int(t) + DAY) for t in btc_daily.index]
    waiting = [v for s in reasons for v in s.votes if "of 3 candles" in v.reason]
    assert waiting and all(v.vote == 0 for v in waiting)
    counted = [v for s in reasons for v in s.votes if v.vote != 0]
    assert counted and all("held" in v.reason for v in counted)


# ---------------------------------------------------------------- no look-ahead


@pytest.mark.parametrize("date", ["2023-03-10", "2023-08-17", "2024-01-11", "2024-03-01"])
def test_later_candles_do_not_change_the_signal(btc_daily: pd.DataFrame, date: str) -> None:
    at = ms(date)
    upto = btc_daily[btc_daily.index < at]
    assert_same_signal(compute_signal("BTC", btc_daily, DAILY, at),
                       compute_signal("BTC", upto, DAILY, at))
    assert_same_signal(signal_history("BTC", btc_daily, DAILY).at(at),
                       compute_signal("BTC", upto, DAILY))


def test_a_still_forming_candle_is_ignored(btc_hourly: pd.DataFrame) -> None:
    at = ms("2020-12-30 15:00")
    closed = btc_hourly[btc_hourly.index < at]
    expected = compute_signal("BTC", closed, HOURLY, at)
    # 15:00 opened but has not closed by 15:40: whatever it shows must not count.
    forming = btc_hourly[btc_hourly.index <= at].copy()
    forming.loc[at, ["high", "close"]] = forming.loc[at, "close"] * 3
    for moment in (at, at + 40 * 60_000, at + HOUR - 1):
        assert compute_signal("BTC", forming, HOURLY, moment) == expected
        assert_same_signal(signal_history("BTC", forming, HOURLY).at(moment), expected)
    # At 16:00 it has closed, and counts.
    assert compute_signal("BTC", forming, HOURLY, at + HOUR) != expected


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_history_read_at_any_time_equals_a_fresh_computation(
    btc_hourly: pd.DataFrame, data: st.DataObject
) -> None:
    """The efficient path (one pass over everything) never sees past T, gaps included."""
    times = btc_hourly.index
    at = data.draw(st.integers(int(times[0]), int(times[-1]) + 3 * HOUR), label="at")
    confirm = data.draw(st.integers(1, 3), label="confirm")
    settings_ = SignalSettings(timeframe="1h", confirm_candles=confirm)
    history = signal_history("BTC", btc_hourly, settings_)
    fresh = compute_signal("BTC", btc_hourly[btc_hourly.index < at], settings_, at)
    assert_same_signal(history.at(at), fresh)
    assert history.signal_at(at) == (fresh.signal, fresh.score)


def assert_same_signal(got: AssetSignal, want: AssetSignal) -> None:
    """Equal votes and signal; indicators equal up to floating-point rounding (pandas-ta's
    rolling sums can round differently in the last bit depending on the series' length)."""
    assert (got.asset, got.signal, got.score, got.votes) == (
        want.asset, want.signal, want.score, want.votes)
    assert got.indicators.keys() == want.indicators.keys()
    for key, value in want.indicators.items():
        assert got.indicators[key] == pytest.approx(value, rel=1e-12, abs=0), key


def test_candle_objects_and_frames_give_the_same_signal(btc_daily: pd.DataFrame) -> None:
    at = ms("2024-02-01")
    assert compute_signal("BTC", frame_to_candles(btc_daily), DAILY, at) == compute_signal(
        "BTC", btc_daily, DAILY, at)
    with_column = btc_daily.reset_index()
    assert compute_signal("BTC", with_column, DAILY, at) == compute_signal(
        "BTC", btc_daily, DAILY, at)


def test_without_a_time_every_given_candle_counts_as_closed(btc_daily: pd.DataFrame) -> None:
    upto = btc_daily[btc_daily.index < ms("2024-03-01")]
    assert compute_signal("BTC", upto, DAILY) == compute_signal("BTC", upto, DAILY,
                                                                ms("2024-03-01"))


# ---------------------------------------------------------------- gaps, NaN, short history


def test_a_gap_restarts_the_indicators_with_the_gap_in_the_reasons(
    btc_hourly: pd.DataFrame,
) -> None:
    # Binance had no BTC/USDT candles from 14:00 to 17:00 on 2020-12-21.
    just_after = compute_signal("BTC", btc_hourly, HOURLY, ms("2020-12-21 19:00"))
    assert just_after.signal == SignalKind.HOLD and just_after.score == 0
    gap = "gap: 4 candles missing between 2020-12-21 13:00 UTC and 2020-12-21 18:00 UTC"
    for vote in just_after.votes:
        assert vote.vote == 0
        assert "contiguous closed candles, has 1 (" + gap + ")" in vote.reason
    assert just_after.indicators == {}
    # 21 candles on, RSI and Bollinger are back; EMA(50) still waits, and says why.
    later = compute_signal("BTC", btc_hourly, HOURLY, ms("2020-12-22 15:00"))
    assert {"rsi_14", "bb_upper", "bb_lower"} <= set(later.indicators)
    assert "ema_50" not in later.indicators
    assert votes_of(later)["ema"].reason == (
        f"EMA(20/50) needs 50 contiguous closed candles, has 21 ({gap})")


def test_inside_a_gap_the_missing_candle_is_named(btc_hourly: pd.DataFrame) -> None:
    signal = compute_signal("BTC", btc_hourly, HOURLY, ms("2020-12-21 16:20"))
    assert signal.signal == SignalKind.HOLD
    assert signal.indicators == {}
    assert {v.reason for v in signal.votes} == {
        "latest closed candle 2020-12-21 15:00 UTC is missing: the candles end 2 candles "
        "earlier, at 2020-12-21 13:00 UTC"}


def test_candles_with_nan_prices_are_unusable_and_said_so(btc_hourly: pd.DataFrame) -> None:
    broken = btc_hourly.copy()
    broken.loc[ms("2020-12-30 10:00"), "close"] = np.nan
    at_bad = compute_signal("BTC", broken, HOURLY, ms("2020-12-30 11:00"))
    assert at_bad.signal == SignalKind.HOLD and at_bad.indicators == {}
    assert {v.reason for v in at_bad.votes} == {
        "latest closed candle 2020-12-30 10:00 UTC has unusable prices (NaN or ≤ 0)"}
    after = compute_signal("BTC", broken, HOURLY, ms("2020-12-30 13:00"))
    assert after.signal == SignalKind.HOLD
    assert all(v.vote == 0 and "1 candle with unusable prices (NaN or ≤ 0) between "
               "2020-12-30 09:00 UTC and 2020-12-30 11:00 UTC" in v.reason for v in after.votes)


def test_a_zero_or_negative_price_is_unusable(btc_hourly: pd.DataFrame) -> None:
    broken = btc_hourly.copy()
    broken.loc[ms("2020-12-30 10:00"), "low"] = 0.0
    signal = compute_signal("BTC", broken, HOURLY, ms("2020-12-30 11:00"))
    assert "unusable prices" in signal.votes[0].reason


@pytest.mark.parametrize("count", [0, 1, 2, 10, 15, 33])
def test_short_histories_hold_with_the_reason(btc_daily: pd.DataFrame, count: int) -> None:
    start = ms("2023-06-01")
    part = btc_daily[(btc_daily.index >= start)].iloc[:count]
    at = start + count * DAY
    signal = compute_signal("BTC", part, DAILY, at)
    assert signal.signal in (SignalKind.HOLD, SignalKind.SELL, SignalKind.BUY)
    votes = votes_of(signal)
    if count == 0:
        assert {v.reason for v in signal.votes} == {
            f"no closed candle at or before {pd.Timestamp(at, unit='ms'):%Y-%m-%d} 00:00 UTC"}
        return
    assert votes["ema"].vote == 0
    assert votes["ema"].reason == (f"EMA(20/50) needs 50 contiguous closed candles, has {count} "
                                   "(history starts 2023-06-01 00:00 UTC)")
    assert votes["macd"].vote == 0 and "needs 35 contiguous closed candles" in votes["macd"].reason
    if count < 15:
        assert signal.signal == SignalKind.HOLD and signal.score == 0
        assert votes["rsi"].reason.startswith("RSI(14) needs 15 contiguous closed candles")


def test_flat_prices_give_hold_not_a_crash() -> None:
    times = np.arange(100, dtype=np.int64) * HOUR + ms("2024-01-01")
    flat = pd.DataFrame({"open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 0.0},
                        index=pd.Index(times, name="timestamp"))
    signal = compute_signal("STABLE", flat, HOURLY, int(times[-1]) + HOUR)
    assert signal.signal == SignalKind.HOLD
    assert votes_of(signal)["rsi"].reason == "RSI(14) has no value at 2024-01-05 03:00 UTC"
    assert all(v.vote == 0 for v in signal.votes)


def test_candles_needed_covers_the_slowest_strategy() -> None:
    assert candles_needed(SignalSettings()) == 50
    assert candles_needed(SignalSettings(confirm_candles=3)) == 52
    assert candles_needed(SignalSettings(strategies=("rsi", "macd"))) == 35


def test_candles_in_an_unknown_shape_are_refused() -> None:
    with pytest.raises(ValueError, match="lack column"):
        compute_signal("BTC", pd.DataFrame({"close": [1.0]}), HOURLY, 0)


# ---------------------------------------------------------------- pluggable strategies


class CloseAboveOpen(Strategy):
    """A test strategy: a candle that closed above its open buys, below sells."""

    name = "candle_colour"
    crossing = False

    def label(self, settings: SignalSettings) -> str:
        return "Candle"

    def candles_needed(self, settings: SignalSettings) -> int:
        return 1

    def compute(self, candles: pd.DataFrame, settings: SignalSettings) -> dict[str, FloatArray]:
        body: FloatArray = (candles["close"] - candles["open"]).to_numpy(dtype=np.float64)
        return {"body": body}

    def states(
        self, indicators: Mapping[str, FloatArray], close: FloatArray, settings: SignalSettings
    ) -> FloatArray:
        return np.sign(indicators["body"])

    def explain(self, values: Mapping[str, float], close: float, state: int, crossed: bool,
                settings: SignalSettings) -> str:
        return f"body {values['body']:+.2f}"


@pytest.fixture
def candle_colour() -> Iterator[None]:
    register(CloseAboveOpen())
    yield
    del STRATEGIES["candle_colour"]


def test_a_new_strategy_is_one_class_and_a_registration(
    btc_daily: pd.DataFrame, candle_colour: None
) -> None:
    settings = SignalSettings(timeframe="1d", strategies=("rsi", "candle_colour"))
    signal = compute_signal("BTC", btc_daily, settings, ms("2024-03-01"))
    candle = btc_daily.loc[ms("2024-02-29")]
    body = candle["close"] - candle["open"]
    assert votes_of(signal)["candle_colour"] == Vote("candle_colour", int(np.sign(body)),
                                                     f"body {body:+.2f}")
    assert signal.indicators["body"] == pytest.approx(body)


def test_an_unknown_strategy_is_a_settings_error(btc_daily: pd.DataFrame) -> None:
    settings = SignalSettings(timeframe="1d", strategies=("rsi", "moon"))
    with pytest.raises(SettingsError, match="'moon': unknown strategy"):
        compute_signal("BTC", btc_daily, settings, ms("2024-03-01"))


def test_many_assets_at_once(btc_daily: pd.DataFrame) -> None:
    eth = read_candle_file(FIXTURES / "binance_ETH_USDT_1d.csv.gz")
    out = compute_signals({"ETH": eth, "BTC": btc_daily}, DAILY, ms("2024-03-01"))
    assert list(out) == ["BTC", "ETH"]
    assert out["ETH"] == compute_signal("ETH", eth, DAILY, ms("2024-03-01"))
