"""The votes of the strategies that read one timeframe, at every closed candle of it.

How candles become votes:

1. Only *usable* candles count: open, high, low and close finite and above zero. A candle that
   is missing, or present with unusable numbers (NaN), breaks the series.
2. The usable candles are cut into contiguous runs (each candle one timeframe after the
   previous). Indicators never span a break: each run starts its indicators afresh, and a
   strategy has no state until the run holds the candles it needs. So a gap gives HOLD with
   the gap in the reason for as long as the indicators are warming up again.
3. Each strategy turns its indicators into a state per candle; `confirm_candles` = N makes a
   state count only once it has held for N consecutive closed candles of its timeframe (for a
   crossing strategy: the cross happened N-1 candles ago and has held since).

No look-ahead: every number at candle `t` comes from candles up to `t` only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from core.config.rules import SignalSettings
from core.domain.models import Vote
from core.market.candles import COLUMNS, format_ms, last_closed_open, timeframe_ms
from core.signals.indicators import FloatArray, ema
from core.signals.strategies import Strategy

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class _Run:
    """A contiguous run of usable candles: rows [start, stop) of the usable series."""

    start: int
    stop: int
    origin: str  # what came before it, in words, for reasons


class TimeframeVotes:
    """The votes of the strategies that read one timeframe, at every usable closed candle of
    it (module docs); `core.signals.history` combines the timeframes into signals."""

    def __init__(
        self,
        timeframe: str,
        settings: SignalSettings,
        frame: pd.DataFrame,
        strategies: tuple[Strategy, ...],
    ) -> None:
        self.timeframe = timeframe
        self.settings = settings
        self.strategies = strategies
        self.length = timeframe_ms(timeframe)
        all_times = frame.index.to_numpy(dtype=np.int64)
        table = _table(frame)
        prices = table[:, :4]  # open, high, low, close
        usable = np.all(np.isfinite(prices) & (prices > 0), axis=1)
        self._all_times = all_times
        self._unusable_times = all_times[~usable]
        self.phase = int(all_times[0] % self.length) if all_times.size else 0
        columns = {name: table[usable, column] for column, name in enumerate(COLUMNS)}
        self.times: IntArray = all_times[usable]
        self.closes: FloatArray = columns["close"]
        self._runs = self._find_runs()
        size, count = self.times.size, len(self.strategies)
        self.position = np.zeros(size, dtype=np.int64)  # candles in its run so far, from 1
        self.run_start = np.zeros(size, dtype=np.int64)
        for index, run in enumerate(self._runs):
            self.position[run.start:run.stop] = np.arange(1, run.stop - run.start + 1)
            self.run_start[run.start:run.stop] = index
        self._run_frames: dict[int, pd.DataFrame] = {}
        self.indicators: list[dict[str, FloatArray]] = []
        self.states = np.full((size, count), np.nan)
        for column, strategy in enumerate(self.strategies):
            values = self._compute(strategy, columns)
            self.indicators.append(values)
            self.states[:, column] = self._states(strategy, values)
        self._run_frames.clear()
        self.held = np.zeros((size, count), dtype=np.int64)  # candles the state has held
        self.crossed = np.zeros((size, count), dtype=bool)  # the held state began with a turn
        self.votes = np.zeros((size, count), dtype=np.int64)
        for column, strategy in enumerate(self.strategies):
            self._confirm(column, strategy)

    # ------------------------------------------------------------------ reading

    def rows_at(self, at_ms: IntArray) -> IntArray:
        """For each time, the row of the candle a signal then stands on: the last one closed
        at or before it (open + length ≤ T); -1 where that candle is missing or unusable."""
        if self.times.size == 0:
            return np.full(at_ms.shape, -1, dtype=np.int64)
        expected = (at_ms - self.length - self.phase) // self.length * self.length + self.phase
        index = np.searchsorted(self.times, expected, side="left")
        safe = np.minimum(index, self.times.size - 1)
        found = (index < self.times.size) & (self.times[safe] == expected)
        return np.where(found, safe, -1).astype(np.int64)

    def index_at(self, at_ms: int) -> int | None:
        """Row of the candle a signal at `at_ms` stands on, or None if it is missing/unusable."""
        row = int(np.searchsorted(self.times, at_ms - self.length, side="right")) - 1
        if row < 0 or self.times[row] != last_closed_open(at_ms, self.timeframe, self.phase):
            return None
        return row

    def indicators_at(self, row: int) -> dict[str, float]:
        """Every strategy's indicator values at `row`, the defined ones."""
        found: dict[str, float] = {}
        for values in self.indicators:
            for key, series in values.items():
                value = float(series[row])
                if np.isfinite(value):
                    found[key] = value
        return found

    def below_slow_ema(self) -> BoolArray:
        """Per candle: the close is below its EMA(ema_slow) (False while it warms up).

        The ema strategy's average when it runs, else the same average computed here, run by
        run like every indicator.
        """
        length = self.settings.ema_slow
        key = f"ema_{length}"
        slow = next((values[key] for values in self.indicators if key in values), None)
        if slow is None:
            slow = np.full(self.times.size, np.nan)
            for run in self._runs:
                if run.stop - run.start >= length:
                    slow[run.start:run.stop] = ema(self.closes[run.start:run.stop], length)
        below: BoolArray = np.less(self.closes, slow, where=np.isfinite(slow),
                                   out=np.zeros(self.times.size, dtype=bool))
        return below

    # ------------------------------------------------------------------ building

    def _find_runs(self) -> list[_Run]:
        times = self.times
        if times.size == 0:
            return []
        breaks = np.nonzero(np.diff(times) != self.length)[0] + 1
        starts = [0, *breaks.tolist()]
        stops = [*breaks.tolist(), times.size]
        runs = []
        for start, stop in zip(starts, stops, strict=True):
            runs.append(_Run(start, stop, self._origin(start)))
        return runs

    def _origin(self, start: int) -> str:
        first = int(self.times[start])
        previous = int(self.times[start - 1]) if start > 0 else None
        low = previous if previous is not None else -(2**62)
        bad = self._unusable_times[(self._unusable_times > low) & (self._unusable_times < first)]
        if previous is None and bad.size == 0:
            return f"history starts {format_ms(first)}"
        parts = []
        if previous is not None:
            between = (first - previous) // self.length - 1
            missing = between - bad.size
            if missing > 0:
                parts.append(f"{missing} candle{'s' if missing != 1 else ''} missing")
        if bad.size:
            parts.append(f"{bad.size} candle{'s' if bad.size != 1 else ''} "
                         "with unusable prices (NaN or ≤ 0)")
        where = (f"between {format_ms(previous)} and {format_ms(first)}"
                 if previous is not None else f"before {format_ms(first)}")
        return f"gap: {' and '.join(parts) or 'off-grid candle'} {where}"

    def _compute(self, strategy: Strategy, columns: dict[str, FloatArray]) -> dict[str, FloatArray]:
        size = self.times.size
        needed = strategy.candles_needed(self.settings)
        merged: dict[str, FloatArray] = {}
        for run in self._runs:
            if run.stop - run.start < needed:
                continue
            part = self._run_frames.get(run.start)
            if part is None:
                # A fresh frame per run (not a view of a bigger one): pandas-ta is much
                # faster on it, and no strategy can reach past the run's ends.
                part = pd.DataFrame({name: values[run.start:run.stop]
                                     for name, values in columns.items()})
                self._run_frames[run.start] = part
            for key, values in strategy.compute(part, self.settings).items():
                target = merged.get(key)
                if target is None:
                    target = merged[key] = np.full(size, np.nan)
                target[run.start:run.stop] = values
                # Nothing shows before the strategy has its candles, as if computed then
                # (EMA(20) exists before EMA(50) does, but only once both can be).
                target[run.start:run.start + needed - 1] = np.nan
        return merged

    def _states(self, strategy: Strategy, values: dict[str, FloatArray]) -> FloatArray:
        if not values:
            return np.full(self.times.size, np.nan)
        return strategy.states(values, self.closes, self.settings)

    def _confirm(self, column: int, strategy: Strategy) -> None:
        state = self.states[:, column]
        size = state.size
        if size == 0:
            return
        defined = ~np.isnan(state)
        index = np.arange(size)
        same = np.zeros(size, dtype=bool)
        same[1:] = (defined[1:] & defined[:-1] & (state[1:] == state[:-1])
                    & (self.position[1:] > 1))
        reset = np.maximum.accumulate(np.where(same, 0, index))
        held = np.where(defined, index - reset + 1, 0)
        before = index - held  # the candle before the state began
        valid_before = (before >= 0) & (held > 0)
        safe_before = np.where(valid_before, before, 0)
        crossed = (
            valid_before
            & (self.run_start[safe_before] == self.run_start)
            & defined[safe_before]
            & (state[safe_before] != state)
            & (state != 0)
        )
        needed = self.settings.confirm_candles
        # A crossing votes once, when its turn has held `needed` candles; a level, while it holds.
        counts = crossed & (held == needed) if strategy.crossing else defined & (held >= needed)
        self.held[:, column] = held
        self.crossed[:, column] = crossed
        self.votes[:, column] = np.where(counts, np.nan_to_num(state), 0).astype(np.int64)

    # ------------------------------------------------------------------ reasons

    def vote(self, row: int, column: int) -> Vote:
        """The vote of strategy `column` at `row`, with its reason in numbers."""
        strategy = self.strategies[column]
        settings = self.settings
        vote = int(self.votes[row, column])
        label = strategy.label(settings)
        confirm = settings.confirm_candles
        required = strategy.candles_needed(settings) + confirm - 1 + int(strategy.crossing)
        position = int(self.position[row])
        state = self.states[row, column]
        if np.isnan(state):
            if position < required:
                run = self._runs[int(self.run_start[row])]
                reason = (f"{label} needs {required} contiguous closed candles, has {position} "
                          f"({run.origin})")
            else:
                reason = f"{label} has no value at {format_ms(int(self.times[row]))}"
            return Vote(strategy.name, 0, reason)
        values = {key: float(series[row]) for key, series in self.indicators[column].items()}
        held, crossed = int(self.held[row, column]), bool(self.crossed[row, column])
        fresh = crossed and held <= confirm
        reason = strategy.explain(values, float(self.closes[row]), int(state), fresh, settings)
        if state == 0 or (strategy.crossing and not crossed):
            return Vote(strategy.name, vote, reason)
        if strategy.crossing and not fresh:
            reason += f" (crossed {_candles(held - 1)} ago)"
        elif held < confirm:
            reason += f", held {held} of {confirm} candles"
        elif confirm > 1:
            reason += f", held {held} candles"
        return Vote(strategy.name, vote, reason)

    def why_no_candle(self, at_ms: int) -> str:
        """Why no candle stands at `at_ms` (missing, unusable, none yet), in words."""
        expected = last_closed_open(at_ms, self.timeframe, self.phase)
        closed = self._all_times[self._all_times <= expected]
        if closed.size == 0:
            return f"no closed candle at or before {format_ms(at_ms)}"
        last = int(closed[-1])
        if last == expected:
            return f"latest closed candle {format_ms(expected)} has unusable prices (NaN or ≤ 0)"
        behind = (expected - last) // self.length
        return (f"latest closed candle {format_ms(expected)} is missing: the candles end "
                f"{_candles(behind)} earlier, at {format_ms(last)}")


def _candles(count: int) -> str:
    return f"{count} candle{'s' if count != 1 else ''}"


def _table(frame: pd.DataFrame) -> FloatArray:
    """The candle columns (`COLUMNS`, in that order) as one float array, a row per candle."""
    names = list(COLUMNS)
    # One copy of the whole frame: picking the columns out one by one or by a list costs twenty
    # times as much (0.2 ms, an eighth of a 500-candle symbol's signal time).
    chosen = frame if list(frame.columns) == names else frame[names]
    table: FloatArray = chosen.to_numpy(dtype=np.float64)
    return table
