"""One asset's signals at every closed candle of a history, computed once, read at any time.

Each strategy reads the candles of its own timeframe (`Strategy.timeframe`): the signal's
`timeframe` (hourly by default) or a longer one (the daily trend family). Per timeframe,
`core.signals.votes` turns candles into votes (usable candles, contiguous runs, states,
`confirm_candles`). Here the votes meet on one clock, the signal timeframe's: at each of its
closed candles, every strategy of a longer timeframe votes as of the last candle of *its*
timeframe closed by then (a daily vote stands all day on yesterday's close). The votes then
combine into a score and a signal (docs/rules.md, `core.signals.combine`), so the hysteresis of
`sell_rule = score` runs over the signal timeframe's candles whatever the strategies read.

Longer candles are taken as given (the exchange's own, a `1d` file) or, if not given, built
from the signal timeframe's candles (`core.market.resample`: UTC periods the data covers).

No look-ahead: every number at candle `t` comes from candles up to `t` only, so the signal read
at time T from a history that runs past T equals the one computed from the candles closed at
or before T. Reading at T uses the last candle that closed at or before T (open + length ≤ T);
if that candle is missing or unusable, the asset is HOLD with the reason, never a stale vote;
a longer timeframe's missing candle makes its strategies HOLD with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from core.config.rules import SignalSettings
from core.domain.models import AssetSignal, Candle, SignalKind, Vote
from core.market.candles import COLUMNS, candles_to_frame
from core.market.resample import aggregate_candles
from core.signals.combine import KIND_ORDER, combine_codes
from core.signals.indicators import FloatArray
from core.signals.strategies import Strategy, on_timeframe, selected_strategies
from core.signals.votes import BoolArray, IntArray, TimeframeVotes

type CandleInput = pd.DataFrame | Sequence[Candle]
"""Candles as a candle frame (see `core.market.candles`) or a sequence of `Candle`."""


class SignalHistory:
    """Signals of one asset at every usable closed candle; build with `signal_history`.

    `times`, `scores` and `kinds` are per usable candle of the signal timeframe (open times
    ascending), so a backtest can read them as arrays; `at(T)` gives the full `AssetSignal`.
    `other` holds candle frames of the longer timeframes strategies read, by timeframe.
    """

    def __init__(
        self,
        asset: str,
        timeframe: str,
        settings: SignalSettings,
        frame: pd.DataFrame,
        other: Mapping[str, pd.DataFrame] | None = None,
    ) -> None:
        settings = on_timeframe(settings, timeframe)
        self.asset = asset
        self.timeframe = timeframe
        self.settings = settings
        self.strategies: tuple[Strategy, ...] = selected_strategies(settings)
        reads = [s.timeframe(settings) for s in self.strategies]
        base = TimeframeVotes(timeframe, settings, frame, tuple(
            s for s, tf in zip(self.strategies, reads, strict=True) if tf == timeframe))
        self._base = base
        self.length, self.phase = base.length, base.phase
        self.times: IntArray = base.times
        self.closes: FloatArray = base.closes
        decided = self.times + self.length  # when each candle's signal is read: at its close
        # Per strategy: its timeframe's votes, and the row there that each row here reads.
        self._sources: list[tuple[TimeframeVotes, int, IntArray | None]] = []
        groups: dict[str, TimeframeVotes] = {timeframe: base}
        rows: dict[str, IntArray] = {}
        for strategy, tf in zip(self.strategies, reads, strict=True):
            if tf not in groups:
                given = (other or {}).get(tf)
                candles = given if given is not None else aggregate_candles(frame, timeframe, tf)
                groups[tf] = TimeframeVotes(tf, settings, candles, tuple(
                    s for s, t in zip(self.strategies, reads, strict=True) if t == tf))
                rows[tf] = groups[tf].rows_at(decided)
            group = groups[tf]
            self._sources.append((group, group.strategies.index(strategy), rows.get(tf)))
        self.votes = np.zeros((self.times.size, len(self.strategies)), dtype=np.int64)
        for column, (group, index, at) in enumerate(self._sources):
            if at is None:
                self.votes[:, column] = group.votes[:, index]
            elif group.times.size:
                self.votes[:, column] = np.where(at >= 0, group.votes[np.maximum(at, 0), index],
                                                 0)
        self.scores: FloatArray = (self.votes.mean(axis=1) if self.strategies
                                   else np.zeros(self.times.size, dtype=np.float64))
        self.kinds: IntArray = combine_codes(self.votes, settings)
        self.downtrend: BoolArray = self._downtrend()

    def index_at(self, at_ms: int) -> int | None:
        """Row of the candle the signal at `at_ms` stands on, or None if it is missing/unusable."""
        return self._base.index_at(at_ms)

    def rows_at(self, at_ms: IntArray) -> IntArray:
        """`index_at` for many times at once: -1 where the candle is missing or unusable."""
        return self._base.rows_at(at_ms)

    def signal_at(self, at_ms: int) -> tuple[SignalKind, float]:
        """Just the signal and score at `at_ms` (cheap; HOLD and 0 where `at` would say why)."""
        row = self.index_at(at_ms)
        if row is None:
            return SignalKind.HOLD, 0.0
        return KIND_ORDER[int(self.kinds[row])], float(self.scores[row])

    def at(self, at_ms: int) -> AssetSignal:
        """The asset's signal as of the last candle closed at or before `at_ms`, with reasons."""
        row = self.index_at(at_ms)
        if row is None:
            reason = self._base.why_no_candle(at_ms)
            votes = tuple(Vote(s.name, 0, reason) for s in self.strategies)
            return AssetSignal(self.asset, SignalKind.HOLD, 0.0, votes, {})
        decided = int(self.times[row]) + self.length
        found: list[Vote] = []
        indicators: dict[str, float] = {}
        seen: set[int] = set()
        for group, index, at in self._sources:
            there = row if at is None else int(at[row])
            if there < 0:
                found.append(Vote(group.strategies[index].name, 0, group.why_no_candle(decided)))
                continue
            found.append(group.vote(there, index))
            if id(group) not in seen:
                seen.add(id(group))
                indicators.update(group.indicators_at(there))
        return AssetSignal(self.asset, KIND_ORDER[int(self.kinds[row])], float(self.scores[row]),
                           tuple(found), indicators, bool(self.downtrend[row]))

    def candle_at(self, at_ms: int) -> int | None:
        """Open time of the candle the signal at `at_ms` stands on, or None."""
        row = self.index_at(at_ms)
        return None if row is None else int(self.times[row])

    def _downtrend(self) -> BoolArray:
        """Per candle: whether the asset is in a downtrend (`buy_in_downtrend`, docs/rules.md).

        The long-horizon trend's own verdict when `trend_ma` runs (it votes SELL while the close
        stays under its average less the band), else the close below its EMA(ema_slow) on these
        candles.
        """
        for column, strategy in enumerate(self.strategies):
            if strategy.name == "trend_ma":
                below: BoolArray = self.votes[:, column] < 0
                return below
        return self._base.below_slow_ema()


def to_frame(candles: CandleInput) -> pd.DataFrame:
    """Candles in either accepted shape → a sorted candle frame indexed by open time (ms).

    A DataFrame may carry the open time as its index or as a `timestamp` column.
    """
    if not isinstance(candles, pd.DataFrame):
        return candles_to_frame(candles)
    frame = candles
    if "timestamp" in frame.columns:
        frame = frame.set_index("timestamp")
    missing = [name for name in COLUMNS if name not in frame.columns]
    if missing:
        raise ValueError(f"candles lack column(s) {', '.join(missing)}; "
                         f"expected timestamp,{','.join(COLUMNS)}")
    if not pd.api.types.is_integer_dtype(frame.index.dtype):
        raise ValueError("candle open times must be integer epoch milliseconds "
                         f"(got {frame.index.dtype})")
    index = frame.index
    tidy = (
        index.dtype == np.int64
        and index.is_monotonic_increasing
        and index.is_unique
        and all(frame[name].dtype == np.float64 for name in COLUMNS)
    )
    if tidy:  # already a candle frame (e.g. from read_candle_file): no copy
        return frame
    frame = frame[list(COLUMNS)].astype(np.float64)
    frame.index = pd.Index(index.to_numpy(dtype=np.int64), name="timestamp")
    frame = frame[~frame.index.duplicated(keep="last")]
    if not frame.index.is_monotonic_increasing:
        frame = frame.sort_index(kind="stable")
    return frame


def signal_history(
    asset: str,
    candles: CandleInput,
    settings: SignalSettings,
    timeframe: str | None = None,
    other: Mapping[str, CandleInput] | None = None,
) -> SignalHistory:
    """Compute every strategy once over the whole history of `asset` (the efficient path).

    Read it with `.at(T)` / `.signal_at(T)` for any T: a value at T depends only on candles
    closed by T, so one history serves a whole backtest. `timeframe` defaults to the settings';
    `other` holds the candles of the other timeframes strategies read, by timeframe (built
    from `candles` where one is not given).
    """
    frames = {tf: to_frame(c) for tf, c in (other or {}).items()}
    return SignalHistory(asset, timeframe or settings.timeframe, settings, to_frame(candles),
                         frames)
