"""Votes → score and signal (SPEC §2), and the weakest-holding order.

- score: the mean of the votes (-1…+1); a strategy without enough data votes HOLD (0).
- STRONG_BUY when every strategy votes BUY;
- SELL per `sell_rule`: `any` (a SELL vote), `majority` (more than half vote SELL), `all`;
- BUY when the score is above 0;
- otherwise HOLD.
SELL is checked before BUY: under `any`, one SELL vote makes the asset SELL even when the
other votes outweigh it (the seed's "if ANY strategy shows SELL, sell").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from core.models import AssetSignal, SignalKind

KIND_ORDER: tuple[SignalKind, ...] = (
    SignalKind.STRONG_BUY,
    SignalKind.SELL,
    SignalKind.BUY,
    SignalKind.HOLD,
)
"""Signal codes used in `combine_codes` arrays, in the order they are decided."""


def combine_codes(votes: npt.NDArray[np.int64], sell_rule: str) -> npt.NDArray[np.int64]:
    """Signal codes (indices into `KIND_ORDER`) for rows of votes (candles × strategies)."""
    count = votes.shape[1]
    buys = (votes > 0).sum(axis=1)
    sells = (votes < 0).sum(axis=1)
    if sell_rule == "any":
        sell = sells > 0
    elif sell_rule == "majority":
        sell = sells * 2 > count
    elif sell_rule == "all":
        sell = (sells == count) & (count > 0)
    else:
        raise ValueError(f"sell_rule = {sell_rule!r}: must be any, majority or all")
    strong = (buys == count) & (count > 0)
    buy = votes.sum(axis=1) > 0
    codes = np.full(votes.shape[0], KIND_ORDER.index(SignalKind.HOLD), dtype=np.int64)
    codes[buy] = KIND_ORDER.index(SignalKind.BUY)
    codes[sell] = KIND_ORDER.index(SignalKind.SELL)
    codes[strong] = KIND_ORDER.index(SignalKind.STRONG_BUY)
    return codes


def combine(votes: Sequence[int], sell_rule: str) -> tuple[SignalKind, float]:
    """The signal and score of one asset's votes (-1, 0, +1 each)."""
    row = np.asarray([list(votes)], dtype=np.int64).reshape(1, len(votes))
    score = float(np.mean(row)) if len(votes) else 0.0
    return KIND_ORDER[int(combine_codes(row, sell_rule)[0])], score


def weakest_first(
    signals: Mapping[str, AssetSignal],
    allocations: Mapping[str, Decimal | float],
) -> list[str]:
    """The assets of `allocations` (the holdings), weakest first (SPEC §2).

    Weakest = lowest score; ties go to the larger allocation first, then to the asset name so
    the order is always the same. An asset without a signal counts as HOLD with score 0.
    """
    def key(asset: str) -> tuple[float, Decimal, str]:
        signal = signals.get(asset)
        score = signal.score if signal is not None else 0.0
        return score, -Decimal(str(allocations[asset])), asset

    return sorted(allocations, key=key)
