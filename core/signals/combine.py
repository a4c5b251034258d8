"""Votes → score and signal (docs/rules.md), and the weakest-holding order.

- score: the mean of the votes (-1…+1); a strategy without enough data votes HOLD (0).
- SELL per `sell_rule`: `any` (a SELL vote), `majority` (more than half vote SELL), `all`, or
  `score` — hysteresis on the score: SELL once the score is ≤ −sell_enter_score, and it stays
  SELL until the score is ≥ −sell_exit_score (a signal has to change its mind to flip back);
- BUY: under the vote rules when the score is above 0 (and not SELL); under `score` with the
  same hysteresis: BUY once the score is ≥ buy_enter_score, until it is ≤ buy_exit_score;
- STRONG_BUY: a BUY whose score is ≥ strong_buy_score (1.0, the seed: every strategy BUY);
- otherwise HOLD.
Under `any`, one SELL vote makes the asset SELL even when the other votes outweigh it (the
seed's "if ANY strategy shows SELL, sell").

Hysteresis needs the scores that came before, so signals are combined over a whole series of
closed candles at once (`combine_codes`); the live engine's few hundred candles and a
backtest's years go through the same function.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from core.config.rules import SignalSettings
from core.domain.models import AssetSignal, SignalKind

KIND_ORDER: tuple[SignalKind, ...] = (
    SignalKind.STRONG_BUY,
    SignalKind.SELL,
    SignalKind.BUY,
    SignalKind.HOLD,
)
"""Signal codes used in `combine_codes` arrays, in the order they are decided."""

# Scores are means of a few votes (e.g. 0.25, 1/3): compare to thresholds with this slack.
EPSILON = 1e-9


def hysteresis(
    enter: npt.NDArray[np.bool_], stay: npt.NDArray[np.bool_]
) -> npt.NDArray[np.bool_]:
    """A state along a series: on where `enter`, kept on while `stay`, off before any `enter`.

    state[t] = enter[t] or (state[t−1] and stay[t]). Vectorised: each candle takes the state
    of the last candle that decided it (one that enters, or one that does not stay).
    """
    size = enter.size
    decided = enter | ~stay
    last = np.maximum.accumulate(np.where(decided, np.arange(size), -1))
    result: npt.NDArray[np.bool_] = (last >= 0) & enter[np.maximum(last, 0)]
    return result


def score_states(
    scores: npt.NDArray[np.float64], settings: SignalSettings
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """SELL and BUY along a series of scores under `sell_rule = score` (module docs)."""
    sell = hysteresis(
        scores <= -settings.sell_enter_score + EPSILON,
        scores < -settings.sell_exit_score - EPSILON,
    )
    buy = hysteresis(
        scores >= settings.buy_enter_score - EPSILON,
        scores > settings.buy_exit_score + EPSILON,
    )
    return sell, buy & ~sell


def combine_codes(
    votes: npt.NDArray[np.int64], settings: SignalSettings
) -> npt.NDArray[np.int64]:
    """Signal codes (indices into `KIND_ORDER`) for a series of vote rows (candles × strategies),
    oldest first: under `sell_rule = score` each row's signal depends on the rows before it."""
    count = votes.shape[1]
    scores = votes.mean(axis=1) if count else np.zeros(votes.shape[0])
    sells = (votes < 0).sum(axis=1)
    rule = settings.sell_rule
    if rule == "score":
        sell, buy = score_states(scores, settings)
    else:
        if rule == "any":
            sell = sells > 0
        elif rule == "majority":
            sell = sells * 2 > count
        elif rule == "all":
            sell = (sells == count) & (count > 0)
        else:
            raise ValueError(f"sell_rule = {rule!r}: must be any, majority, all or score")
        buy = (votes.sum(axis=1) > 0) & ~sell
    strong = buy & (scores >= settings.strong_buy_score - EPSILON)
    codes = np.full(votes.shape[0], KIND_ORDER.index(SignalKind.HOLD), dtype=np.int64)
    codes[buy] = KIND_ORDER.index(SignalKind.BUY)
    codes[sell] = KIND_ORDER.index(SignalKind.SELL)
    codes[strong] = KIND_ORDER.index(SignalKind.STRONG_BUY)
    return codes


def combine(votes: Sequence[int], settings: SignalSettings) -> tuple[SignalKind, float]:
    """The signal and score of one candle's votes (-1, 0, +1 each), with nothing before it."""
    row = np.asarray([list(votes)], dtype=np.int64).reshape(1, len(votes))
    score = float(np.mean(row)) if len(votes) else 0.0
    return KIND_ORDER[int(combine_codes(row, settings)[0])], score


def weakest_first(
    signals: Mapping[str, AssetSignal],
    allocations: Mapping[str, Decimal | float],
) -> list[str]:
    """The assets of `allocations` (the holdings), weakest first (docs/rules.md).

    Weakest = lowest score; ties go to the larger allocation first, then to the asset name so
    the order is always the same. An asset without a signal counts as HOLD with score 0.
    """
    def key(asset: str) -> tuple[float, Decimal, str]:
        signal = signals.get(asset)
        score = signal.score if signal is not None else 0.0
        return score, -Decimal(str(allocations[asset])), asset

    return sorted(allocations, key=key)

