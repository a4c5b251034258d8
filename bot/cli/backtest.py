"""`ballast backtest`: Ballast's rules replayed over candle history, against two benchmarks."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from bot.cli.application import app
from bot.cli.common import (
    CURVE_NAMES,
    candle_directory,
    console,
    counted,
    error_console,
    fail,
    parse_moment,
    print_json,
)

if TYPE_CHECKING:
    from core.backtest.runner import BacktestResult
    from core.backtest.simulation import BacktestInput
    from core.backtest.simulation import Progress as ProgressCallback
    from core.config.settings import Settings

ROWS = (
    ("final_value", "Final value", "money"),
    ("total_return", "Total return", "pct"),
    ("cagr", "CAGR", "pct"),
    ("sharpe", "Sharpe", "ratio"),
    ("sortino", "Sortino", "ratio"),
    ("max_drawdown", "Max drawdown", "pct"),
    ("trades", "Trades", "count"),
    ("fees_paid", "Fees paid", "money"),
    ("turnover", "Turnover", "times"),
    ("avg_cash", "Average cash", "pct"),
)


@app.command("backtest")
def backtest_command(
    candles: Annotated[Path | None, typer.Option(
        "--candles", help="Directory of <exchange>_<BASE>_<QUOTE>_<timeframe>.csv[.gz] files "
        "(default: BALLAST_CANDLES_DIR, where `ballast candles download` writes).",
    )] = None,
    timeframe: Annotated[str | None, typer.Option(
        "--timeframe", help="Candle timeframe, e.g. 1h (default: the timeframe setting).",
    )] = None,
    start: Annotated[str | None, typer.Option(
        "--from", help="First day (UTC), e.g. 2021-01-01, or an ISO time (default: the data's).",
    )] = None,
    end: Annotated[str | None, typer.Option(
        "--to", help="Last day (UTC, included), e.g. 2024-12-31, or an ISO time to stop at.",
    )] = None,
    input_file: Annotated[Path | None, typer.Option(
        "--input", help="Starting portfolio as a what-if JSON file (default: the seed portfolio).",
    )] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (docs/formats.md).")] = False,
    plot: Annotated[Path | None, typer.Option(
        "--plot", help="Write a PNG of the three equity curves and Ballast's cash share.",
    )] = None,
) -> None:
    """Replay Ballast's signals and policy over history, with fees and exchange rounding.

    Each decision uses only the candles closed by then (the last close as its price); its
    orders fill at the next candle's open. Compared with buy-and-hold and monthly rebalancing
    to the starting weights.
    """
    import asyncio

    from core.backtest.replay import longer_candles, replay_from_frames
    from core.backtest.runner import run_backtest
    from core.backtest.verdict import verdict
    from core.config.settings import SettingsError
    from core.domain.models import epoch_ms
    from core.exchange.paper_markets import MarketsFileError, bundled_markets
    from core.market.candles import CandleError, read_candle_dir

    try:
        settings, inp = read_input(input_file)
        tf = timeframe or settings.timeframe
        # Reading years of candles and computing their signals takes seconds: say so.
        with working("reading candles and computing signals", enabled=not as_json):
            directory = candle_directory(candles)
            frames = read_candle_dir(directory, tf, quote=inp.start.quote)
            # Only what the portfolio holds or watches can be traded: skip the others' signals.
            wanted = set(inp.start.amounts) | set(inp.watchlist)
            frames = {a: frame for a, frame in frames.items() if a in wanted} or frames
            first, last = data_range(frames)
            start_ms = epoch_ms(parse_moment(start, "--from")) if start else first
            end_ms = (epoch_ms(parse_moment(end, "--to", end_of_day=True)) if end
                      else last + _length(tf))
            # Daily strategies read the directory's 1d files, or days built from these.
            longer = longer_candles(directory, frames, tf, inp.start.quote, settings.signal)
            replay = replay_from_frames(frames, tf, inp.start.quote, start_ms, end_ms,
                                        settings.signal, longer)
        markets = bundled_markets()
        with progress_bar(enabled=not as_json, total=len(replay.rows)) as progress:
            result = asyncio.run(run_backtest(replay, inp, markets, progress=progress))
    except (CandleError, SettingsError, MarketsFileError, ValueError, KeyError) as error:
        fail(str(error).strip("'\""))
    if plot is not None:
        write_plot(result, plot, settings)
    if as_json:
        print_json(result.summary())
        return
    console.print(summary_table(result.summary(), title=_title(result), days=period_days(result)))
    _explain(result)
    if plot is not None:
        console.print(f"Chart written to {plot}")
    console.print(verdict(result.summary(), settings.quote, days=period_days(result)),
                  highlight=False)


def read_input(path: Path | None) -> tuple[Settings, BacktestInput]:
    """Settings (paper, auto approval, the file's policy overrides) and the starting point."""
    from core.backtest.inputs import read_portfolio_file
    from core.backtest.runner import starting_portfolio
    from core.backtest.simulation import BacktestInput
    from core.config.settings import load_settings
    from core.exchange.factory import SEED_PORTFOLIO

    if path is None:
        settings = load_settings(mode="paper", approval="auto")
        start = starting_portfolio(settings.quote, SEED_PORTFOLIO, tuple(settings.cash_assets))
        return settings, BacktestInput(settings, start, {}, tuple(settings.watchlist))
    where = f"--input {path}"
    file = read_portfolio_file(path, where)
    settings = load_settings(mode="paper", approval="auto", quote=file.quote,
                             overrides_from=dict.fromkeys(file.settings, where), **file.settings)
    start = starting_portfolio(file.quote, file.balances, tuple(settings.cash_assets))
    watchlist = file.watchlist if file.watchlist is not None else tuple(settings.watchlist)
    return settings, BacktestInput(settings, start, file.positions, watchlist)


def _length(timeframe: str) -> int:
    from core.market.candles import timeframe_ms

    return timeframe_ms(timeframe)


def data_range(frames: Mapping[str, Any]) -> tuple[int, int]:
    """The first and last candle open time over all assets' frames."""
    starts = [int(f.index[0]) for f in frames.values() if len(f)]
    ends = [int(f.index[-1]) for f in frames.values() if len(f)]
    if not starts:
        raise ValueError("the candle files hold no candles")
    return min(starts), max(ends)


@contextmanager
def working(text: str, *, enabled: bool) -> Iterator[None]:
    """A spinner with `text` on stderr while a step without a known length runs, or nothing."""
    if not enabled:
        yield
        return
    with error_console.status(text):
        yield


@contextmanager
def progress_bar(*, enabled: bool, total: int) -> Iterator[ProgressCallback | None]:
    """A rich progress bar on stderr (stdout stays clean for the table), or nothing."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    if not enabled:
        yield None
        return
    step = max(1, total // 200)
    with Progress(
        TextColumn("replaying candles"), BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,}"), TimeRemainingColumn(),
        console=error_console, transient=True,
    ) as bar:
        task = bar.add_task("backtest", total=total)

        def advance(done: int, _total: int) -> None:
            if done % step == 0 or done == _total:
                bar.update(task, completed=done)

        yield advance


ANNUALISED = frozenset({"cagr", "sharpe", "sortino"})


def summary_table(summary: Mapping[str, Any], title: str, *, days: float | None = None) -> Table:
    """The three strategies side by side, one metric a row. Over a period of `days` too short
    for annual figures (`annualised_meaningful`), CAGR, Sharpe and Sortino read n/a; under a
    year (`cagr_meaningful`), CAGR does."""
    from core.backtest.metrics import (
        MIN_ANNUALISED_DAYS,
        MIN_CAGR_DAYS,
        annualised_meaningful,
        cagr_meaningful,
    )

    short = days is not None and not annualised_meaningful(days)
    no_cagr = days is not None and not cagr_meaningful(days)
    table = Table(title=title, title_justify="left")
    if short:
        table.caption = (f"n/a: annualised figures need at least {MIN_ANNUALISED_DAYS} days; "
                         "compare the total returns")
    elif no_cagr:
        table.caption = (f"CAGR n/a: it needs {MIN_CAGR_DAYS} days; compare the total returns")
    table.caption_justify = "left"
    table.add_column("")
    for key in ("ballast", "hodl", "calendar"):
        table.add_column(CURVE_NAMES[key], justify="right")
    for key, label, kind in ROWS:
        if (short and key in ANNUALISED) or (no_cagr and key == "cagr"):
            table.add_row(label, "n/a", "n/a", "n/a")
            continue
        cells = [_cell(summary[name].get(key), kind) for name in ("ballast", "hodl", "calendar")]
        table.add_row(label, *cells)
    return table


def period_days(result: BacktestResult) -> float:
    """How many days a backtest covered."""
    return (result.end - result.start).total_seconds() / 86400


def _cell(value: float | int | None, kind: str) -> str:
    if value is None:
        return "—"
    if kind == "money":
        return f"{value:,.2f}"
    if kind == "pct":
        return f"{value:.1%}"
    if kind == "times":
        return f"{value:,.1f}×"
    if kind == "count":
        return f"{value:,}"
    return f"{value:.2f}"


def _title(result: BacktestResult) -> str:
    return (f"Backtest {result.start:%Y-%m-%d %H:%M} → {result.end:%Y-%m-%d %H:%M} UTC · "
            f"{result.candles:,} {result.timeframe} candles")


def _explain(result: BacktestResult) -> None:
    tally = result.tally
    console.print(
        f"Ballast executed {tally.executed:,} of {counted(tally.plans, 'plan')} "
        f"({tally.drifted:,} not executed: price moved beyond max_price_drift before the fill; "
        f"{counted(tally.refused, 'order')} refused or skipped). Decisions use candles closed "
        "by then; fills at the next candle's open.",
        highlight=False,
    )


def write_plot(result: BacktestResult, path: Path, settings: Settings, *,
               title: str | None = None) -> None:
    """The backtest's chart as a PNG (`bot.cli.backtest_chart`): equity curves with their
    returns above Ballast's cash share and band."""
    from bot.charting import save_figure
    from bot.cli.backtest_chart import backtest_figure

    figure = backtest_figure(result, settings, settings.quote, title=title)
    try:
        save_figure(figure, path)
    except OSError as error:
        fail(f"cannot write the chart to {path}: {error.strerror or error}")
