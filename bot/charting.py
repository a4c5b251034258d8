"""What every time chart shares: a date axis whose labels never overlap, a value axis that says
when it is logarithmic, returns in legend labels, and a share resampled to one point a day.

Charts are built as a matplotlib `Figure` by pure functions (tested without looking at pixels)
and written by thin wrappers (`save_figure`, `png_bytes`). `Figure` + the Agg canvas, never
pyplot: no global figure state, safe in a worker thread, no display needed.

matplotlib is imported inside the functions that draw, never with this module: `ballast run`
and the CLI start without it (tests/test_import_weight.py).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

MS_PER_DAY = 86_400_000
# A value axis turns logarithmic when its largest value is this many times its smallest.
LOG_RATIO = 5.0
# Series longer than this many days are drawn as one point a day: thousands of hourly swings
# side by side read as a solid block (a "barcode"), not as a level.
DAILY_AFTER_DAYS = 31.0


@dataclass(frozen=True, slots=True)
class Buckets:
    """A series grouped by time bucket (a day, or each point when short): times in ms since the
    epoch (the bucket's start), and each bucket's mean, lowest and highest value."""

    times: npt.NDArray[np.int64]
    mean: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    daily: bool


def buckets(times_ms: npt.ArrayLike, values: npt.ArrayLike, *,
            daily_after_days: float = DAILY_AFTER_DAYS) -> Buckets:
    """`values` at `times_ms` (sorted, ms since the epoch) as one point a day when they span more
    than `daily_after_days`, else as they are (low = high = mean)."""
    times = np.asarray(times_ms, dtype=np.int64)
    data = np.asarray(values, dtype=np.float64)
    if times.size == 0 or (times[-1] - times[0]) / MS_PER_DAY <= daily_after_days:
        return Buckets(times, data, data, data, daily=False)
    days = times // MS_PER_DAY
    starts = np.flatnonzero(np.r_[True, days[1:] != days[:-1]])
    counts = np.diff(np.r_[starts, days.size])
    return Buckets(
        times=days[starts] * MS_PER_DAY,
        mean=np.add.reduceat(data, starts) / counts,
        low=np.minimum.reduceat(data, starts),
        high=np.maximum.reduceat(data, starts),
        daily=True,
    )


def as_dates(times_ms: npt.ArrayLike) -> npt.NDArray[np.datetime64]:
    """Naive UTC datetime64: matplotlib plots it on its date axis with no timezone games."""
    return np.asarray(times_ms, dtype=np.int64).astype("datetime64[ms]")


def date_axis(axes: Axes) -> None:
    """Dates that never overlap: a few ticks at round moments (`AutoDateLocator`) labelled only
    with what changes between them (`ConciseDateFormatter`: months, with the year where it
    turns), upright."""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    locator = AutoDateLocator(minticks=3, maxticks=7)  # type: ignore[no-untyped-call]
    axes.xaxis.set_major_locator(locator)
    formatter = ConciseDateFormatter(locator)  # type: ignore[no-untyped-call]
    axes.xaxis.set_major_formatter(formatter)


def value_axis(axes: Axes, values: Sequence[npt.ArrayLike], quote: str) -> bool:
    """A logarithmic scale when the values span more than `LOG_RATIO`× (years of crypto span
    orders of magnitude), said in the axis label; plain numbers on its ticks either way.
    Returns whether the scale is logarithmic."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    joined = np.concatenate([np.asarray(v, dtype=np.float64).ravel() for v in values] or
                            [np.zeros(0)])
    positive = joined[joined > 0]
    log = bool(positive.size and positive.max() / positive.min() > LOG_RATIO)
    if log:
        axes.set_yscale("log")
        # 1-2-5 steps: a handful of labels per decade, never the crowded 6, 7, 8, 9.
        axes.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axes.yaxis.set_minor_formatter(NullFormatter())
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: amount(value)))
    axes.set_ylabel(f"value ({quote}, log scale)" if log else f"value ({quote})")
    return log


def amount(value: float) -> str:
    """A tick's value: thousands separated, no decimals except below 10."""
    if abs(value) >= 10 or value == 0:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def signed_percent(fraction: float) -> str:
    """+246%, −89%, +3.2%: a total return as a legend shows it (a true minus sign)."""
    text = f"{fraction:+.1%}" if abs(fraction) < 0.1 else f"{fraction:+,.0%}"
    return text.replace("-", "−")


def total_return(equity: npt.ArrayLike) -> float | None:
    """Last value over first, minus one; None without a positive first value."""
    curve = np.asarray(equity, dtype=np.float64)
    if curve.size == 0 or not curve[0] > 0:
        return None
    return float(curve[-1] / curve[0] - 1)


def with_return(name: str, equity: npt.ArrayLike) -> str:
    """A curve's legend label: its name and its total return (`Ballast +246%`)."""
    change = total_return(equity)
    return name if change is None else f"{name} {signed_percent(change)}"


def save_figure(figure: Figure, target: Path | str | BinaryIO) -> None:
    """Write `figure` as a PNG (Agg canvas) at its own size and dpi, to a path or a binary file.
    OSError when a path cannot be written."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    figure.savefig(target, format="png")


def png_bytes(figure: Figure) -> bytes:
    """`figure` as PNG bytes."""
    buffer = io.BytesIO()
    save_figure(figure, buffer)
    return buffer.getvalue()
