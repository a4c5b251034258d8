"""Signals: candles → indicators (pandas-ta) → votes with reasons → score and signal.

What they mean: docs/rules.md.

Two ways in, with the same results:

- `compute_signal(asset, candles, settings, at_ms)` / `compute_signals(...)`: the signal of one
  or many assets as of `at_ms`, from candles that closed at or before it (later or still-forming
  candles are dropped first). For the live engine: a few hundred candles per asset.
- `signal_history(asset, candles, settings)`: every strategy computed once over a whole
  history; `.at(T)` (full signal with reasons) and `.signal_at(T)` (signal and score only)
  read it at any T without look-ahead, and `.times/.scores/.kinds` expose the arrays. For
  backtests: one pass per asset instead of one per candle.

Each indicator equals its textbook value over the candles given (tests check 1e-6). The
exponential ones (EMA, MACD, RSI) remember where the history starts, a memory that fades by
(1 - alpha) per candle: with ~400 candles (default settings) the start no longer moves a value
by 1e-6; with the bare minimum (`candles_needed`) votes are right but values can differ a little
from a longer history's.

Rules of reading: the signal stands on the last candle closed at or before T (open + length ≤
T); a missing or unusable candle there, a gap inside an indicator's window, or too short a
history gives HOLD votes whose reasons say so — never an exception, never a BUY/SELL on bad data.
`weakest_first` orders holdings for selling (docs/rules.md). New strategies: see `strategies`.
A strategy may read a longer timeframe than the signal's (the daily trend family beside hourly
ones): `timeframes(settings)` names those read, `candles_needed(settings, tf)` how many of each.
"""

from __future__ import annotations

from collections.abc import Mapping

from core.config.rules import SignalSettings
from core.domain.models import AssetSignal
from core.market.candles import closed_candles, timeframe_ms
from core.signals.combine import KIND_ORDER, combine, weakest_first
from core.signals.history import CandleInput, SignalHistory, signal_history, to_frame
from core.signals.strategies import (
    STRATEGIES,
    Strategy,
    on_timeframe,
    register,
    selected_strategies,
    timeframes,
)

__all__ = [
    "KIND_ORDER",
    "STRATEGIES",
    "CandleInput",
    "SignalHistory",
    "Strategy",
    "candles_needed",
    "combine",
    "compute_signal",
    "compute_signals",
    "on_timeframe",
    "register",
    "selected_strategies",
    "signal_history",
    "timeframes",
    "weakest_first",
]


def compute_signal(
    asset: str,
    candles: CandleInput,
    settings: SignalSettings,
    at_ms: int | None = None,
    timeframe: str | None = None,
    other: Mapping[str, CandleInput] | None = None,
) -> AssetSignal:
    """The signal of `asset` as of `at_ms` (UTC epoch ms) from its candles.

    Candles not closed by `at_ms` are ignored. `at_ms=None` means every given candle is closed
    (e.g. candles from `core.market.candle_cache.CandleCache`) and reads as of the last one's close.
    `timeframe` defaults to `settings.timeframe`; `other` holds the candles of the longer
    timeframes strategies read (e.g. `{"1d": …}`), built from `candles` where missing. Raises
    `SettingsError` for an unknown strategy name, `ValueError` for candles in an unknown shape;
    bad data gives HOLD reasons.
    """
    tf = timeframe or settings.timeframe
    frame = to_frame(candles)
    if at_ms is None:
        at_ms = int(frame.index[-1]) + timeframe_ms(tf) if len(frame) else 0
    longer = {t: closed_candles(to_frame(c), t, at_ms) for t, c in (other or {}).items()}
    history = SignalHistory(asset, tf, settings, closed_candles(frame, tf, at_ms), longer)
    return history.at(at_ms)


def compute_signals(
    candles: Mapping[str, CandleInput],
    settings: SignalSettings,
    at_ms: int | None = None,
    timeframe: str | None = None,
) -> dict[str, AssetSignal]:
    """`compute_signal` for every asset of `candles` (keyed by asset), in asset order."""
    return {
        asset: compute_signal(asset, candles[asset], settings, at_ms, timeframe)
        for asset in sorted(candles)
    }


def candles_needed(settings: SignalSettings, timeframe: str | None = None) -> int:
    """How many contiguous closed candles of `timeframe` (default: the signal's) every selected
    strategy reading it needs to vote at all."""
    needs = [
        s.candles_needed(settings) + settings.confirm_candles - 1 + int(s.crossing)
        for s in selected_strategies(settings)
        if s.timeframe(settings) == (timeframe or settings.timeframe)
    ]
    return max(needs, default=0)
