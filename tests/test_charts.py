"""The backtest's `--plot` chart and Telegram's value chart, checked on their rendered parts
rather than by eye: returns in the legend, the legend clear of the curves, "log scale" said when
used, date labels that do not overlap, and cash drawn as at most one point a day however many
candles or snapshots there are."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pytest

from bot.charting import MS_PER_DAY, buckets, signed_percent, total_return
from bot.cli.backtest_chart import MAX_MARKED_TRADES, backtest_figure, trailing_mean
from bot.telegram.charts import ValuePoint, value_figure
from core.backtest.benchmarks import EquityCurve
from core.backtest.runner import BacktestResult
from core.backtest.simulation import Tally
from core.config.rules import PolicySettings

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.text import Text
    from matplotlib.transforms import Bbox

HOUR = 3_600_000
START = 1_609_459_200_000  # 2021-01-01T00:00Z
LIMITS = PolicySettings()


def hourly_result(
    days: float, *, growth: float = 3.0, seed: int = 1, trades: int = 0
) -> BacktestResult:
    """A 1h backtest over `days`: three noisy curves (Ballast ends `growth`× up), a cash share
    that swings hour by hour between the target and all cash, as a busy strategy's does, and
    `trades` fills at random moments, a third of them buys."""
    rng = np.random.default_rng(seed)
    hours = int(days * 24) + 1
    times = START + np.arange(hours, dtype=np.int64) * HOUR
    drift = np.linspace(0, np.log(growth), hours)

    def curve(scale: float, noise: float) -> npt.NDArray[np.float64]:
        walk = np.cumsum(rng.normal(0, noise, hours))
        return np.asarray(3000 * np.exp(drift * scale + walk - walk[0]))

    cash = np.clip(0.25 + 0.75 * (rng.random(hours) < 0.3) * rng.random(hours), 0, 1)
    fills = np.sort(rng.integers(times[0], times[-1], trades))
    buys = rng.random(trades) < 1 / 3
    return BacktestResult(
        timeframe="1h",
        ballast=EquityCurve(times, curve(1.0, 0.004), cash,
                            buy_times=fills[buys], sell_times=fills[~buys]),
        hodl=EquityCurve(times, curve(0.8, 0.006), np.zeros(hours)),
        calendar=EquityCurve(times, curve(0.9, 0.005), np.full(hours, 0.2)),
        tally=Tally(),
    )


def drawn(result: BacktestResult) -> Figure:
    figure = backtest_figure(result, LIMITS, "USDT")
    figure.canvas.draw()
    return figure


def extents(labels: Iterable[Text], figure: Figure) -> list[Bbox]:
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    return [label.get_window_extent(renderer) for label in labels
            if label.get_visible() and label.get_text()]


def assert_apart(boxes: list[Bbox], axis: str) -> None:
    """No two boxes share any stretch along `axis` ("x" or "y")."""
    spans = sorted((b.x0, b.x1) if axis == "x" else (b.y0, b.y1) for b in boxes)
    for (_, end), (begin, _) in pairwise(spans):
        assert end < begin, spans


def panels(figure: Figure) -> tuple[Axes, Axes]:
    top, bottom = figure.axes
    return top, bottom


def test_a_multi_year_1h_chart_says_log_scale_and_shows_each_return() -> None:
    result = hourly_result(3 * 365, growth=8.0)
    figure = drawn(result)
    top, _ = panels(figure)
    assert top.get_yscale() == "log"
    assert "log scale" in top.get_ylabel() and "USDT" in top.get_ylabel()
    legend = top.get_legend()
    assert legend is not None
    labels = [text.get_text() for text in legend.get_texts()]
    for name, curve in (("Ballast", result.ballast), ("Buy & hold", result.hodl),
                        ("Calendar (monthly)", result.calendar)):
        change = total_return(curve.equity)
        assert change is not None
        assert f"{name} {signed_percent(change)}" in labels
    assert any("%" in label and label.startswith("Ballast +") for label in labels)


def test_the_legend_sits_above_the_curves_not_on_them() -> None:
    figure = drawn(hourly_result(2 * 365, trades=60))  # with the trade marks' two entries
    top, _ = panels(figure)
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    legend = top.get_legend()
    assert legend is not None
    box = legend.get_window_extent(renderer)
    plot_area = top.get_window_extent(renderer)
    assert box.y0 >= plot_area.y1 - 1  # above the plot area: covers no peak
    figure_box = figure.bbox
    assert figure_box.x0 <= box.x0 and box.x1 <= figure_box.x1  # not cut off either
    assert box.y1 <= figure_box.y1
    title = figure.get_suptitle()
    assert title.startswith("Backtest 2021-01-01 → 2023-01-01")
    (title_box,) = extents([figure._suptitle], figure)  # type: ignore[attr-defined]
    assert not title_box.overlaps(box)


def test_each_fill_is_marked_on_ballasts_curve_buys_up_sells_down() -> None:
    result = hourly_result(365, trades=60)
    top, _ = panels(drawn(result))
    curve = result.ballast
    for times, marker_label in ((curve.buy_times, "buys"), (curve.sell_times, "sells")):
        (marks,) = [c for c in top.collections if c.get_label() == f"{times.size} {marker_label}"]
        offsets = np.asarray(marks.get_offsets())
        assert len(offsets) == times.size > 0
        # each mark sits on the curve at the first point at or after its fill
        at = np.searchsorted(curve.times, times)
        assert np.allclose(offsets[:, 1], curve.equity[at])


def test_too_many_trades_are_counted_in_the_legend_not_marked() -> None:
    result = hourly_result(365, trades=MAX_MARKED_TRADES + 1)
    top, _ = panels(drawn(result))
    labels = [c.get_label() for c in top.collections]
    assert f"{result.ballast.buy_times.size} buys (not marked)" in labels
    assert all(len(c.get_offsets()) == 0 for c in top.collections)  # type: ignore[arg-type]


def test_a_small_range_stays_linear_and_says_nothing_about_log() -> None:
    figure = drawn(hourly_result(2, growth=1.05))
    top, _ = panels(figure)
    assert top.get_yscale() == "linear"
    assert top.get_ylabel() == "value (USDT)"


@pytest.mark.parametrize("days", [1, 2, 10, 45, 200, 3 * 365, 8 * 365])
def test_date_and_value_tick_labels_never_overlap(days: int) -> None:
    figure = drawn(hourly_result(days))
    top, bottom = panels(figure)
    dates = extents(bottom.get_xticklabels(), figure)
    assert len(dates) >= 2
    assert_apart(dates, "x")
    for axes in (top, bottom):
        values = extents(axes.get_yticklabels(), figure)
        assert len(values) >= 2
        assert_apart(values, "y")
    # the two panels share the date axis: the top one's dates are not drawn twice
    assert extents(top.get_xticklabels(), figure) == []


def test_the_cash_panel_has_at_most_one_point_a_day_and_shows_the_band() -> None:
    days = 3 * 365
    result = hourly_result(days)
    figure = drawn(result)
    _, bottom = panels(figure)
    lines = [line for line in bottom.get_lines() if len(line.get_xdata()) > 2]  # type: ignore[arg-type]
    assert lines
    for line in lines:
        assert len(line.get_xdata()) <= days + 1  # type: ignore[arg-type]
    labels = [text.get_text() for legend in figure.legends for text in legend.get_texts()]
    band = f"cash band {LIMITS.min_cash:.0%}–{LIMITS.max_cash:.0%}"
    assert band in labels and f"target {LIMITS.target_cash:.0%}" in labels
    assert any(label.startswith("Ballast cash, ") and "-day mean" in label for label in labels)
    assert bottom.get_ylim() == (0.0, 1.0)


def test_a_short_backtest_keeps_every_candle_of_its_cash() -> None:
    result = hourly_result(2)
    figure = drawn(result)
    _, bottom = panels(figure)
    sizes = [len(line.get_xdata()) for line in bottom.get_lines()]  # type: ignore[arg-type]
    assert result.ballast.times.size in sizes


def test_the_chart_fits_a_phone_and_a_desktop(tmp_path: Path) -> None:
    from bot.cli.backtest import write_plot
    from core.config.settings import Settings

    path = tmp_path / "chart.png"
    write_plot(hourly_result(30), path, Settings(_env_file=None))
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")
    assert 1000 <= width <= 1280 and 700 <= height <= 1280  # Telegram keeps ≤ 1280 px sides


def test_daily_buckets_average_each_utc_day() -> None:
    times = START + np.arange(24 * 40, dtype=np.int64) * HOUR
    values = np.tile(np.r_[np.zeros(12), np.ones(12)], 40)
    daily = buckets(times, values)
    assert daily.daily and daily.times.size == 40
    assert np.all(daily.times % MS_PER_DAY == 0)
    assert np.allclose(daily.mean, 0.5)
    assert np.all(daily.low == 0) and np.all(daily.high == 1)
    short = buckets(times[:48], values[:48])
    assert not short.daily and short.mean.size == 48


def test_trailing_mean_and_signed_percent() -> None:
    assert trailing_mean([1, 2, 3, 4], 2).tolist() == [1.0, 1.5, 2.5, 3.5]
    assert signed_percent(2.46) == "+246%"
    assert signed_percent(-0.892) == "−89%"
    assert signed_percent(0.032) == "+3.2%"
    assert total_return([0, 1]) is None


# -- the Telegram value chart ------------------------------------------------------------------


def value_points(hours: int) -> list[ValuePoint]:
    """Hourly snapshots whose cash jumps between 22% and 60% of the value, hour by hour."""
    rng = np.random.default_rng(3)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    values = 12000 * np.exp(np.cumsum(rng.normal(0, 0.004, hours)))
    shares = np.where(rng.random(hours) < 0.3, 0.6, 0.22)
    return [ValuePoint(start + timedelta(hours=i), Decimal(f"{values[i]:.2f}"),
                       Decimal(f"{values[i] * shares[i]:.2f}")) for i in range(hours)]


@pytest.mark.parametrize("days", [2, 90, 400])
def test_the_value_chart_shows_the_change_and_keeps_its_labels_apart(days: int) -> None:
    points = value_points(days * 24)
    figure = value_figure(points, "USDT")
    figure.canvas.draw()
    (axes,) = figure.axes
    legend = axes.get_legend()
    assert legend is not None
    labels = [text.get_text() for text in legend.get_texts()]
    change = float(points[-1].total_value / points[0].total_value - 1)
    assert labels[0] == f"total value {signed_percent(change)}"
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    assert legend.get_window_extent(renderer).y0 >= axes.get_window_extent(renderer).y1 - 1
    assert_apart(extents(axes.get_xticklabels(), figure), "x")
    assert_apart(extents(axes.get_yticklabels(), figure), "y")
    (cash,) = axes.collections
    drawn_points = max(np.shape(path.vertices)[0] for path in cash.get_paths())
    if days > 31:
        assert drawn_points <= 2 * (days + 1) + 3  # an area: each day's point on top and bottom
        assert "daily mean" in labels[1]


@pytest.mark.parametrize("points", [1, 2])
def test_a_backtest_of_one_or_two_points_still_draws(points: int) -> None:
    import dataclasses

    whole = hourly_result(2)

    def cut(curve: EquityCurve) -> EquityCurve:
        return dataclasses.replace(curve, times=curve.times[:points],
                                   equity=curve.equity[:points],
                                   cash_share=curve.cash_share[:points])

    result = dataclasses.replace(whole, ballast=cut(whole.ballast), hodl=cut(whole.hodl),
                                 calendar=cut(whole.calendar))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        figure = drawn(result)
    assert len(figure.axes) == 2
