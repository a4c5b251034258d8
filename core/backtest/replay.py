"""The market as a backtest sees it at each decision: last closed prices and signals.

A decision is taken at the open time T of candle `row` — the moment candle `row - 1` closed.
It sees only what had closed by T:

- prices are the closes of candle `row - 1`; an asset without that candle (not listed yet,
  an outage, its data ended) is unpriced, so nothing is planned for it;
- signals stand on the last candle closed at or before T (`core.signals.SignalHistory`, whose
  values at a candle depend on that candle and earlier ones only); a daily strategy beside
  hourly ones on the last day closed by T, from the directory's `1d` files or, without them,
  from days built out of the hourly candles (`core.market.resample`).

Orders from that decision fill at the open of candle `row` (see `core.backtest.broker`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from core.backtest.history import FloatArray, IntArray, MarketHistory, to_datetime
from core.config.rules import SignalSettings
from core.domain.models import AssetSignal, Price, SignalKind
from core.market.candles import read_candle_dir, timeframe_ms
from core.market.resample import aggregate_candles, candles_of_timeframe
from core.signals import (
    KIND_ORDER,
    SignalHistory,
    candles_needed,
    on_timeframe,
    signal_history,
    timeframes,
)

HOLD_CODE = KIND_ORDER.index(SignalKind.HOLD)
SignalCodes = npt.NDArray[np.int8]
type Longer = Mapping[str, Mapping[str, pd.DataFrame]]
"""Candle frames of the longer timeframes strategies read: timeframe → asset → frame."""
# Candles of history before the start that signals warm up on. Fixed, so that a backtest's
# result does not depend on how far back the candle files happen to go.
MIN_WARM_UP = 500


@dataclass(frozen=True, slots=True)
class _Column:
    codes: IntArray
    scores: FloatArray
    downtrend: npt.NDArray[np.bool_]


class SignalHistories(Mapping[str, SignalHistory]):
    """Each asset's `SignalHistory`, computed from its candles when first read, then kept.

    A full history holds every indicator and vote (megabytes per asset-year): the fast replay
    needs only its signal codes and scores, which `compute` gives without keeping it. The
    histories are kept only for what reads them (the owner's explanations, the engine run).
    """

    def __init__(
        self,
        frames: Mapping[str, pd.DataFrame],
        settings: SignalSettings,
        timeframe: str,
        longer: Longer | None = None,
    ) -> None:
        self._frames = dict(frames)
        self._settings = settings
        self._timeframe = timeframe
        self._longer = dict(longer or {})
        self._kept: dict[str, SignalHistory] = {}

    def compute(self, asset: str) -> SignalHistory:
        """The history of `asset`, computed afresh and not kept."""
        other = {tf: assets[asset] for tf, assets in self._longer.items() if asset in assets}
        return signal_history(asset, self._frames[asset], self._settings, self._timeframe,
                              other)

    def __getitem__(self, asset: str) -> SignalHistory:
        history = self._kept.get(asset)
        if history is None:
            history = self._kept[asset] = self.compute(asset)
        return history

    def __iter__(self) -> Iterator[str]:
        return iter(self._frames)

    def __len__(self) -> int:
        return len(self._frames)


class MarketReplay:
    """Prices and signals of every asset at every decision row of a backtest.

    `codes[row, column]` and `scores[row, column]` are every asset's signal code (`KIND_ORDER`)
    and score at each decision row.
    """

    def __init__(
        self,
        history: MarketHistory,
        signals: SignalHistories,
        quote: str,
        first_row: int,
    ) -> None:
        if not 1 <= first_row <= history.times.size:
            raise ValueError(
                f"the backtest must start after the first candle ({first_row=}): "
                "a decision needs one closed candle"
            )
        self.history = history
        self.signals = signals
        self.quote = quote
        self.first_row = first_row
        self._columns = {asset: self._precompute(signals.compute(asset)) for asset in signals}
        self.codes, self.scores = self._signal_matrices()
        self._memo: dict[tuple[str, int, float, bool], AssetSignal] = {}
        self._symbols = {asset: f"{asset}/{quote}" for asset in history.assets}
        self._prices_row = -1
        self._prices: dict[str, Price] = {}

    @property
    def rows(self) -> range:
        """The decision rows: the candles of the backtest period."""
        return range(self.first_row, self.history.times.size)

    @property
    def assets(self) -> tuple[str, ...]:
        """Every asset with candles."""
        return self.history.assets

    def time(self, row: int) -> datetime:
        """When the decision of `row` is taken: the open of candle `row`."""
        return to_datetime(int(self.history.times[row]))

    def last_closes(self, row: int) -> dict[str, Decimal]:
        """Each asset's close of candle `row - 1`, if it has that candle (else it is unpriced)."""
        closes = self.history.closes[row - 1].tolist()
        traded = self.history.traded[row - 1].tolist()
        return {
            asset: Decimal(repr(value))
            for asset, value, real in zip(self.history.assets, closes, traded, strict=True)
            if real
        }

    def prices(self, row: int) -> dict[str, Price]:
        """Last closed prices as the exchange would quote them, keyed by `BASE/QUOTE`.

        The answer for the latest row asked is kept: a decision reads it more than once.
        """
        if self._prices_row == row:
            return self._prices
        at = self.time(row)
        self._prices = {
            self._symbols[asset]: Price(asset, self.quote, last, at)
            for asset, last in self.last_closes(row).items()
        }
        self._prices_row = row
        return self._prices

    def signals_at(self, row: int, assets: Iterable[str]) -> dict[str, AssetSignal]:
        """Signal and score only (no votes), from arrays: the fast path for long backtests."""
        found: dict[str, AssetSignal] = {}
        for asset in assets:
            column = self._columns.get(asset)
            if column is None:
                continue
            code, score = int(column.codes[row]), float(column.scores[row])
            down = bool(column.downtrend[row])
            key = (asset, code, score, down)
            signal = self._memo.get(key)
            if signal is None:
                signal = self._memo[key] = AssetSignal(asset, KIND_ORDER[code], score,
                                                       downtrend=down)
            found[asset] = signal
        return found

    def explained_signals_at(self, row: int, assets: Iterable[str]) -> dict[str, AssetSignal]:
        """Full signals with every strategy's vote and reason (what the owner is shown)."""
        at_ms = int(self.history.times[row])
        return {a: self.signals[a].at(at_ms) for a in assets if a in self.signals}

    def _signal_matrices(self) -> tuple[SignalCodes, FloatArray]:
        """Every asset's signal code and score at every decision row (HOLD and 0 without
        signals), an array each."""
        shape = (self.history.times.size, len(self.history.assets))
        codes = np.full(shape, HOLD_CODE, dtype=np.int8)
        scores = np.zeros(shape)
        for column, asset in enumerate(self.history.assets):
            found = self._columns.get(asset)
            if found is not None:
                codes[:, column] = found.codes
                scores[:, column] = found.scores
        return codes, scores

    def _precompute(self, history: SignalHistory) -> _Column:
        """`history.signal_at(T)` for the decision time T of every row, as arrays."""
        rows = self.history.times.size
        if history.times.size == 0:
            return _Column(np.full(rows, HOLD_CODE, dtype=np.int64), np.zeros(rows),
                           np.zeros(rows, dtype=np.bool_))
        # Where the candle the signal at T stands on is missing or unusable the signal is HOLD,
        # as `signal_at` says.
        at = history.rows_at(self.history.times)
        found, safe = at >= 0, np.maximum(at, 0)
        codes = np.where(found, history.kinds[safe], HOLD_CODE).astype(np.int64)
        scores = np.where(found, history.scores[safe], 0.0).astype(np.float64)
        downtrend = found & history.downtrend[safe]
        return _Column(codes, scores, downtrend)


def warm_up_candles(settings: SignalSettings, timeframe: str | None = None) -> int:
    """How many candles of `timeframe` (default: the signal's) before the start the signals
    are computed over.

    The signal's own: at least `MIN_WARM_UP`, ten times what its strategies need (the
    exponential averages' memory fades). A longer timeframe's (the daily trend family): twice
    what its strategies need, whose values are exact from that many candles on.
    """
    if timeframe is None or timeframe == settings.timeframe:
        return max(MIN_WARM_UP, candles_needed(settings) * 10)
    return 2 * candles_needed(settings, timeframe)


def longer_candles(
    directory: Path | str,
    frames: Mapping[str, pd.DataFrame],
    timeframe: str,
    quote: str,
    settings: SignalSettings,
) -> Longer:
    """The candles of the longer timeframes the strategies read, per asset of `frames` (the
    `timeframe` candles): the directory's own files of that timeframe, else built from
    `frames` (`core.market.resample`)."""
    signal = on_timeframe(settings, timeframe)
    return {tf: candles_of_timeframe(directory, tf, frames, timeframe, quote=quote)
            for tf in timeframes(signal)[1:]}


def load_replay(
    directory: Path | str,
    timeframe: str,
    quote: str,
    start_ms: int,
    end_ms: int,
    settings: SignalSettings,
) -> MarketReplay:
    """Read a candle directory and prepare the period [start_ms, end_ms) for replay.

    Candles after `end_ms` are never read into anything; candles before `start_ms` serve only
    as the signals' warm-up (`warm_up_candles`) and as the first decision's last close.
    """
    frames = read_candle_dir(directory, timeframe, quote=quote)
    longer = longer_candles(directory, frames, timeframe, quote, settings)
    return replay_from_frames(frames, timeframe, quote, start_ms, end_ms, settings, longer)


def replay_from_frames(
    frames: Mapping[str, pd.DataFrame],
    timeframe: str,
    quote: str,
    start_ms: int,
    end_ms: int,
    settings: SignalSettings,
    longer: Longer | None = None,
) -> MarketReplay:
    """`load_replay` on candle frames already read; `longer` holds the candles of the longer
    timeframes the strategies read (`longer_candles`), built from `frames` where missing."""
    if end_ms <= start_ms:
        raise ValueError("the backtest period is empty: --to must be after --from")
    settings = on_timeframe(settings, timeframe)
    length = timeframe_ms(timeframe)
    warm_from = start_ms - warm_up_candles(settings) * length
    cut = {asset: _between(frame, warm_from, end_ms) for asset, frame in frames.items()}
    cut = {asset: frame for asset, frame in cut.items() if len(frame)}
    if not cut:
        raise ValueError(_no_candles(start_ms, end_ms))
    given = dict(longer or {})
    other: dict[str, dict[str, pd.DataFrame]] = {}
    for tf in timeframes(settings)[1:]:
        # Built from the whole files, not from the warm-up cut: days need far more history.
        found = given.get(tf, {})
        since = start_ms - warm_up_candles(settings, tf) * timeframe_ms(tf)
        other[tf] = {a: _between(found[a] if a in found else aggregate_candles(
            frames[a], timeframe, tf), since, end_ms) for a in cut}
    history = MarketHistory.from_frames(timeframe, cut)
    window = history.between(start_ms - length, end_ms)
    history = history.window(window)
    first_row = int(np.searchsorted(history.times, start_ms, side="left"))
    if first_row >= history.times.size:
        raise ValueError(_no_candles(start_ms, end_ms))
    first_row = max(first_row, 1)
    signals = SignalHistories(cut, settings, timeframe, other)
    return MarketReplay(history, signals, quote, first_row)


def _between(frame: pd.DataFrame, start_ms: int, end_ms: int) -> pd.DataFrame:
    """The candles opening in [start_ms, end_ms): a slice of the frame, not a copy."""
    times = frame.index.to_numpy(dtype=np.int64)
    first, last = np.searchsorted(times, [start_ms, end_ms], side="left")
    return frame.iloc[int(first):int(last)]


def _no_candles(start_ms: int, end_ms: int) -> str:
    return (f"no candles between {to_datetime(start_ms):%Y-%m-%d %H:%M} and "
            f"{to_datetime(end_ms):%Y-%m-%d %H:%M} UTC in the candle directory")
