"""Pictures where a picture reads better: PNG bytes from matplotlib's Agg canvas.

Built on `Figure` + `FigureCanvasAgg` rather than pyplot, so no global figure state is shared
between calls and rendering can run in a worker thread. Sized for a phone screen.

matplotlib is imported by the functions that draw, not with this module: it costs `ballast run`
about 26 MB of memory, and most runs never draw a chart.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

import numpy
import numpy.typing as npt

from core.config.rules import PolicySettings
from core.domain.models import Portfolio

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

_SIZE = (7.2, 4.8)
_DPI = 110
# 1080×720 px: a phone's width, sharp on its screen.
_VALUE_SIZE = (7.2, 4.8)
_VALUE_DPI = 150
_OK = "#3b7dd8"
_OVER = "#d64545"
_UNDER = "#e0a030"
_CASH = "#2e9e6a"
_BAND = "#2e9e6a"
_HOLD = "#888888"


@dataclass(frozen=True, slots=True)
class ValuePoint:
    """One portfolio snapshot: total value and the cash part of it, at a time."""

    at: datetime
    total_value: Decimal
    cash_value: Decimal
    holding: Decimal | None = None
    """What the first point's holdings would be worth here (None: not known)."""


# Fewer snapshots than this draw no chart: a line needs some history to say anything.
MIN_VALUE_POINTS = 6


def allocation_chart(portfolio: Portfolio, limits: PolicySettings) -> bytes:
    """Horizontal bars of each holding's allocation against the min/max position limits,
    and cash against its band (min_cash … max_cash). Returns PNG bytes."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle
    from matplotlib.ticker import PercentFormatter

    holdings = sorted(
        (h for h in portfolio.holdings.values() if not h.dust),
        key=lambda h: (h.allocation, h.asset),
    )
    labels = ["Cash", *(h.asset for h in holdings)]
    shares = [float(portfolio.cash_allocation), *(float(h.allocation) for h in holdings)]
    colours = [_cash_colour(portfolio.cash_allocation, limits)]
    for holding in holdings:
        if holding.allocation > limits.max_position:
            colours.append(_OVER)
        elif holding.allocation < limits.min_position:
            colours.append(_UNDER)
        else:
            colours.append(_OK)

    figure = Figure(figsize=(_SIZE[0], max(3.0, 1.2 + 0.45 * len(labels))), dpi=_DPI)
    axes = figure.add_subplot()
    rows = list(range(len(labels)))
    # The cash band is drawn on the cash row only: the asset limits do not apply to cash.
    axes.add_patch(Rectangle(
        (float(limits.min_cash), -0.45), float(limits.max_cash - limits.min_cash), 0.9,
        facecolor=_BAND, alpha=0.15, edgecolor=_BAND, linestyle=":",
        label=f"cash band {_p(limits.min_cash)}–{_p(limits.max_cash)}",
    ))
    axes.barh(rows, shares, color=colours, height=0.6)
    top = len(labels) - 0.5
    for limit, name, colour, style in ((limits.min_position, "min", _UNDER, ":"),
                                       (limits.max_position, "max", _OVER, "--")):
        axes.plot([float(limit)] * 2, [0.5, top], linestyle=style, color=colour,
                  linewidth=1.6, label=f"{name} position {_p(limit)}")
    for row, share in zip(rows, shares, strict=True):
        axes.text(share + 0.005, row, f"{share:.1%}", va="center", fontsize=10)
    axes.set_yticks(rows, labels, fontsize=11)
    axes.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    right = max([*shares, float(limits.max_position), float(limits.max_cash)]) * 1.18
    axes.set_xlim(0, right)
    axes.set_ylim(-0.6, top + 0.1)
    axes.set_title(f"Allocation of {_money(portfolio.total_value)} {portfolio.quote}",
                   fontsize=13)
    axes.grid(axis="x", alpha=0.3)
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3, fontsize=9,
                frameon=False)
    return _png(figure)


def value_chart(points: Sequence[ValuePoint], quote: str,
                buys: Sequence[datetime] = (), sells: Sequence[datetime] = ()) -> bytes:
    """Portfolio value over time, with the cash part shaded underneath. Returns PNG bytes."""
    from bot.charting import png_bytes

    return png_bytes(value_figure(points, quote, buys, sells))


def value_figure(points: Sequence[ValuePoint], quote: str,
                 buys: Sequence[datetime] = (), sells: Sequence[datetime] = ()) -> Figure:
    """The value chart as a Figure (Agg canvas attached): the total value with its change in the
    legend, holding's line beside it (what the first holdings would be worth), Ballast's buys ▲
    and sells ▼ on the value line as the backtest chart marks them, the cash part as an area
    under it (one point a day over long histories, so hourly snapshots do not read as a
    barcode), concise date ticks that never overlap."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    from bot.charting import amount, as_dates, buckets, date_axis, with_return

    figure = Figure(figsize=_VALUE_SIZE, dpi=_VALUE_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    ordered = sorted(points, key=lambda p: p.at)
    if ordered:
        moments = numpy.array([int(p.at.timestamp() * 1000) for p in ordered], dtype=numpy.int64)
        totals = numpy.array([float(p.total_value) for p in ordered])
        cash = buckets(moments, [float(p.cash_value) for p in ordered])
        axes.plot(as_dates(moments), totals, color=_OK, linewidth=2,
                  label=with_return("total value", totals))
        holding = numpy.array([float(p.holding) if p.holding is not None else numpy.nan
                               for p in ordered])
        if numpy.isfinite(holding).any():
            axes.plot(as_dates(moments), holding, color=_HOLD, linewidth=1.4, linestyle="--",
                      label=with_return("holding", holding[numpy.isfinite(holding)]))
        _mark_trades(axes, moments, totals, buys, sells)
        share = float(ordered[-1].cash_value / ordered[-1].total_value) \
            if ordered[-1].total_value else 0.0
        axes.fill_between(as_dates(cash.times), 0, cash.mean, color=_CASH, alpha=0.3,
                          linewidth=0,
                          label=f"cash{', daily mean' if cash.daily else ''} (now {share:.0%})")
        low = min(float(totals.min()), float(cash.mean.min()))
        axes.set_ylim(bottom=0 if low < totals.max() * 0.5 else low * 0.9)
        axes.margins(x=0)
        date_axis(axes)
        figure.suptitle(f"Value: {_money(ordered[-1].total_value)} {quote}", fontsize=13)
        # Above the plot, not on it: the legend never hides the latest values.
        axes.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, fontsize=10,
                    frameon=False, borderaxespad=0.2)
    else:
        axes.text(0.5, 0.5, "No snapshots yet", ha="center", va="center", fontsize=14,
                  transform=axes.transAxes)
        figure.suptitle(f"Value in {quote}", fontsize=13)
    axes.set_ylabel(f"value ({quote})")
    axes.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: amount(v)))
    axes.grid(alpha=0.3)
    return figure


def _mark_trades(axes: Axes, moments: npt.NDArray[numpy.int64],
                 totals: npt.NDArray[numpy.float64],
                 buys: Sequence[datetime], sells: Sequence[datetime]) -> None:
    """Each trade on the value line at the first snapshot at or after it (as the backtest
    chart's `mark_trades`): buys ▲ green, sells ▼ red, counted in the legend."""
    from bot.charting import as_dates

    for times, marker, colour, name in ((buys, "^", _CASH, "buys"), (sells, "v", _OVER, "sells")):
        if not times:
            continue
        at_ms = numpy.array([int(t.timestamp() * 1000) for t in times], dtype=numpy.int64)
        at = numpy.clip(numpy.searchsorted(moments, at_ms), 0, moments.size - 1)
        axes.scatter(as_dates(moments[at]), totals[at], marker=marker, s=28, color=colour,
                     zorder=3, label=f"{len(times)} {name}")


def _cash_colour(allocation: Decimal, limits: PolicySettings) -> str:
    if allocation < limits.min_cash:
        return _UNDER
    return _CASH


def _png(figure: Figure) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    figure.tight_layout()
    buffer = io.BytesIO()
    FigureCanvasAgg(figure)
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _p(fraction: Decimal) -> str:
    return f"{float(fraction):.0%}"


def _money(value: Decimal) -> str:
    return f"{float(value):,.2f}"
