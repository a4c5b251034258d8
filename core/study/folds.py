"""Walk-forward folds and shifted starts of a study period. Pure: epoch milliseconds in and out."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS


@dataclass(frozen=True, slots=True)
class Period:
    """[start_ms, end_ms): a fold or a whole study period."""

    start_ms: int
    end_ms: int

    @property
    def years(self) -> float:
        """The period's length in 365-day years."""
        return (self.end_ms - self.start_ms) / (365 * DAY_MS)


def split_folds(start_ms: int, end_ms: int, folds: int, align_ms: int = DAY_MS) -> list[Period]:
    """`folds` consecutive periods covering [start_ms, end_ms), boundaries on `align_ms`.

    Inner boundaries are rounded down to whole days (so daily candles split cleanly); the
    first fold starts at `start_ms` and the last ends at `end_ms`.
    """
    if folds < 1:
        raise ValueError(f"--folds {folds}: must be at least 1")
    length = (end_ms - start_ms) / folds
    if length < align_ms:
        raise ValueError(f"{folds} folds of {(end_ms - start_ms) / DAY_MS:.1f} days are "
                         "shorter than a day each: use fewer folds or a longer period")
    bounds = [start_ms]
    for k in range(1, folds):
        bounds.append(int((start_ms + k * length) // align_ms * align_ms))
    bounds.append(end_ms)
    if any(b <= a for a, b in itertools.pairwise(bounds)):
        raise ValueError(f"{folds} folds do not fit in the period: use fewer folds")
    return [Period(a, b) for a, b in itertools.pairwise(bounds)]


def shifted_starts(start_ms: int, end_ms: int, weeks: tuple[int, ...]) -> list[Period]:
    """The period started `w` weeks later for each `w` (same end): start-date robustness."""
    periods = []
    for w in weeks:
        if w < 0:
            raise ValueError(f"--offsets {w}: weeks must be ≥ 0")
        start = start_ms + w * WEEK_MS
        if start >= end_ms:
            raise ValueError(f"a start {w} weeks later is past the end of the period")
        periods.append(Period(start, end_ms))
    return periods
