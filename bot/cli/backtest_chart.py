"""The `--plot` chart of `ballast backtest` and `ballast demo`: the three equity curves, each
with its total return in the legend and Ballast's buys and sells marked on its curve, above
Ballast's cash share against its band.

`backtest_figure` builds the figure and draws nothing to disk (tests read its parts);
`bot.cli.backtest.write_plot` saves it. matplotlib loads only when a chart is drawn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from bot.charting import as_dates, buckets, date_axis, value_axis, with_return
from bot.cli.common import CURVE_NAMES

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from core.backtest.runner import BacktestResult
    from core.config.rules import PolicySettings

# 1200×930 px: sharp on a desktop, and its 9–11 pt text stays legible scaled to a phone.
SIZE = (7.5, 5.8)
DPI = 160
_CURVES = (("ballast", "tab:blue", "-", 1.3),
           ("hodl", "dimgrey", "-", 0.9),
           ("calendar", "tab:orange", "--", 0.9))
_CASH = "tab:blue"
_BAND = "tab:green"
# How many daily points, at most, the smoothed cash line averages: about a 120th of the period.
_SMOOTH_PARTS = 120
# Past this many trades the marks would hide the curve; the legend then gives the counts only.
MAX_MARKED_TRADES = 400
_MARKS = (("buy_times", "^", "tab:green", "buys"), ("sell_times", "v", "tab:red", "sells"))


def backtest_figure(result: BacktestResult, limits: PolicySettings, quote: str, *,
                    title: str | None = None) -> Figure:
    """The chart of one backtest as a matplotlib Figure (Agg-ready, no pyplot).

    Top: the equity curves, logarithmic when they span more than 5× (the axis label says so),
    labelled with their total returns in a legend above the plot, clear of the curves. Bottom:
    Ballast's cash share, one point a day over long periods (the daily mean as an area and a
    smoothed line), over the min–max cash band with the target dashed."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    figure = Figure(figsize=SIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[3, 1.15])
    equities = []
    for key, colour, style, width in _CURVES:
        curve = getattr(result, key)
        equities.append(curve.equity)
        top.plot(as_dates(curve.times), np.maximum(curve.equity, 1e-9), color=colour,
                 linestyle=style, linewidth=width,
                 label=with_return(CURVE_NAMES[key], curve.equity))
    mark_trades(top, result)
    value_axis(top, equities, quote)
    top.grid(True, alpha=0.3)
    figure.suptitle(title or _title(result), fontsize=11)
    # Above the plot, not on it: no corner of years of prices is reliably empty.
    top.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, fontsize=9,
               frameon=False, borderaxespad=0.3)

    cash = buckets(result.ballast.times, result.ballast.cash_share)
    days = as_dates(cash.times)
    low, target, high = (float(limits.min_cash), float(limits.target_cash),
                         float(limits.max_cash))
    # The band over the cash area (zorder 1.5), so it stays visible where cash sits inside it.
    bottom.axhspan(low, high, color=_BAND, alpha=0.18, linewidth=0, zorder=1.5,
                   label=f"cash band {low:.0%}–{high:.0%}")
    bottom.axhline(target, color=_BAND, linestyle="--", linewidth=1,
                   label=f"target {target:.0%}")
    window = max(1, round(cash.mean.size / _SMOOTH_PARTS)) if cash.daily else 1
    level = trailing_mean(cash.mean, window)
    if window > 1:
        # Day-to-day swings faintly behind, the level they average to in front.
        bottom.plot(days, cash.mean, color=_CASH, linewidth=0.4, alpha=0.3,
                    label="daily mean")
    bottom.fill_between(days, 0, level, color=_CASH, alpha=0.14, linewidth=0)
    bottom.plot(days, level, color=_CASH, linewidth=1.2,
                label=f"Ballast cash, {window}-day mean" if window > 1 else
                "Ballast cash, daily mean" if cash.daily else "Ballast cash")
    bottom.set_ylim(0, 1)
    span = as_dates(result.ballast.times[[0, -1]])
    if span[0] < span[-1]:
        bottom.set_xlim(span[0], span[-1])
    bottom.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    bottom.set_ylabel("cash share")
    bottom.grid(True, alpha=0.3)
    date_axis(bottom)
    figure.legend(*bottom.get_legend_handles_labels(), loc="outside lower center", ncol=4,
                  fontsize=8, frameon=False)
    return figure


def mark_trades(axes: Axes, result: BacktestResult) -> None:
    """Ballast's fills as marks on its curve, at the first point at or after each fill: buys ▲
    in green, sells ▼ in red, with their counts in the legend."""
    curve = result.ballast
    marked = curve.buy_times.size + curve.sell_times.size <= MAX_MARKED_TRADES
    for field, marker, colour, name in _MARKS:
        times = getattr(curve, field)
        if not times.size:
            continue
        if not marked:  # a legend entry without marks: the count still reads
            axes.scatter([], [], marker=marker, color=colour, label=f"{times.size} {name} "
                         "(not marked)")
            continue
        at = np.clip(np.searchsorted(curve.times, times), 0, curve.times.size - 1)
        axes.scatter(as_dates(curve.times[at]), curve.equity[at], marker=marker, s=16,
                     color=colour, edgecolors="none", alpha=0.85, zorder=3,
                     label=f"{times.size} {name}")


def trailing_mean(values: npt.ArrayLike, window: int) -> npt.NDArray[np.float64]:
    """Each point's mean with the `window - 1` before it (fewer at the start)."""
    data = np.asarray(values, dtype=np.float64)
    sums = np.cumsum(np.r_[0.0, data])
    ends = np.arange(1, data.size + 1)
    starts = np.maximum(0, ends - window)
    result: npt.NDArray[np.float64] = (sums[ends] - sums[starts]) / (ends - starts)
    return result


def _title(result: BacktestResult) -> str:
    return (f"Backtest {result.start:%Y-%m-%d} → {result.end:%Y-%m-%d} UTC · "
            f"{result.candles:,} {result.timeframe} candles")
