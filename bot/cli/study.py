"""`ballast study`: a settings grid backtested over walk-forward folds, in parallel.

See docs/study.md.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

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
from bot.cli.study_report import show_report

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from core.backtest.inputs import PortfolioFile
    from core.backtest.runner import BacktestResult
    from core.study.grid import Config
    from core.study.report import StudyPlan, StudyPortfolio
    from core.study.tasks import SharedCandles

SEED = "seed"
DAY_MS = 86_400_000


@app.command("study")
def study_command(
    start: Annotated[str, typer.Option("--from", help="First day (UTC), e.g. 2017-09-01.")],
    end: Annotated[str, typer.Option("--to", help="Last day (UTC, included), e.g. 2024-12-31.")],
    candles: Annotated[Path | None, typer.Option(
        "--candles", help="Directory of <exchange>_<BASE>_<QUOTE>_<timeframe>.csv[.gz] files "
        "(default: BALLAST_CANDLES_DIR, where `ballast candles download` writes).",
    )] = None,
    timeframe: Annotated[str | None, typer.Option(
        "--timeframe", help="Candle timeframe for configs the grid gives none (default: setting).",
    )] = None,
    inputs: Annotated[list[Path] | None, typer.Option(
        "--input", metavar="<path>",
        help="Starting portfolio (what-if JSON); repeat for several (default: seed).",
    )] = None,
    grid_file: Annotated[Path | None, typer.Option(
        "--grid", help="TOML mapping setting names to lists of values (default: the defaults).",
    )] = None,
    folds: Annotated[int, typer.Option("--folds", min=1, help="Walk-forward folds.")] = 4,
    jobs: Annotated[int, typer.Option(
        "--jobs", help="Worker processes on this machine (-1: one per core).",
    )] = -1,
    scheduler: Annotated[str | None, typer.Option(
        "--scheduler", help="Dask scheduler address (tcp://host:8786): run there instead.",
    )] = None,
    offsets: Annotated[str, typer.Option(
        "--offsets", help="Start-date robustness: weeks to shift the start by ('' for none).",
    )] = "0,2,4,6",
    baskets: Annotated[int | None, typer.Option(
        "--baskets", min=0, help="Add N seeded random baskets of the candle directory's pairs.",
    )] = None,
    basket_seed: Annotated[int | None, typer.Option(
        "--basket-seed", help="The baskets' seed (default: the grid's [baskets] seed, else 0).",
    )] = None,
    yearly: Annotated[bool, typer.Option(
        "--yearly", help="Folds: the calendar years where all of a portfolio's assets have data.",
    )] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (docs/formats.md).")] = False,
    plot: Annotated[Path | None, typer.Option(
        "--plot", help="Write a PNG: every config's folds chained, the walk-forward, benchmarks.",
    )] = None,
) -> None:
    """Backtest every configuration of a grid over consecutive folds, choose walk-forward,
    and say how likely the choice is overfitted (PBO, deflated Sharpe) and whether it beats
    holding beyond luck (Hansen's SPA). See docs/study.md.
    """
    from bot.cli.study_baskets import with_baskets
    from core.config.settings import SettingsError
    from core.exchange.paper_markets import MarketsFileError
    from core.market.candles import CandleError
    from core.study.parallel import backtest_count, run_study
    from core.study.report import study_report

    if jobs == 0 or jobs < -1:
        fail(f"--jobs {jobs}: give a number of workers, or -1 for one per core")
    try:
        folder = candle_directory(candles)
        plan = build_plan(folder, start, end, timeframe, inputs or [], grid_file, folds,
                          _weeks(offsets))
        plan, drawn = with_baskets(plan, folder, grid_file, timeframe, baskets, basket_seed,
                                   yearly=yearly)
        shared = read_candles(folder, plan)
        with study_progress(enabled=not as_json, total=backtest_count(plan)) as done:
            results = run_study(plan, shared, jobs=jobs, scheduler=scheduler, done=done)
        report = study_report(plan, results)
        if drawn:
            report["baskets"] = drawn
    except (CandleError, SettingsError, MarketsFileError, ValueError, KeyError,
            OSError) as error:
        fail(str(error).strip("'\""))
    if plot is not None:
        write_plot(plan, results, report, plot)
    if as_json:
        print_json(report)
        return
    show_report(report)
    if plot is not None:
        console.print(f"Chart written to {plot}")


def _weeks(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ValueError(f"--offsets {text!r}: expected weeks like 0,2,4,6") from None


def read_grid(path: Path | None) -> list[Config]:
    """The grid file's configurations (the defaults alone without one)."""
    from core.config.settings import Settings, SettingsError
    from core.study.grid import Config, expand_grid

    if path is None:
        return [Config("defaults", {})]
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(f"--grid {path} does not exist") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise SettingsError(f"--grid {path} is not valid TOML: {error}") from None
    flat: dict[str, Any] = {}
    data.pop("baskets", None)  # the basket draw's table (`grid_baskets`), not settings
    for key, value in data.items():
        # `[policy]`/`[signals]` tables read as in a settings file.
        flat.update(value if isinstance(value, dict) else {key: value})
    try:
        return expand_grid(flat, set(Settings.model_fields))
    except ValueError as error:
        raise SettingsError(f"--grid {path}: {error}") from None


def read_portfolio(path: Path) -> PortfolioFile:
    """A what-if file as a study's starting portfolio."""
    from core.backtest.inputs import read_portfolio_file

    return read_portfolio_file(path, f"--input {path}")


def study_portfolio(
    name: str, file: PortfolioFile | None, configs: Sequence[Config], timeframe: str | None
) -> StudyPortfolio:
    """One portfolio's backtest input under every config, each config's settings validated.

    Settings stack as in `ballast backtest` (file, environment, the portfolio file's
    `settings`), then `--timeframe`, then the grid's values on top.
    """
    from core.backtest.runner import starting_portfolio
    from core.backtest.simulation import BacktestInput
    from core.config.settings import SettingsError, load_settings
    from core.exchange.factory import SEED_PORTFOLIO
    from core.study.report import StudyPortfolio

    base: dict[str, Any] = {"timeframe": timeframe} if timeframe else {}
    quote = "USDT"
    if file is not None:
        base = {**base, **file.settings}
        quote = file.quote
    inputs = []
    for config in configs:
        try:
            settings = load_settings(mode="paper", approval="auto", quote=quote,
                                     **{**base, **config.settings})
        except SettingsError as error:
            raise SettingsError(f"grid config {config.name} ({name}): {error}") from None
        balances = file.balances if file is not None else SEED_PORTFOLIO
        start = starting_portfolio(quote, balances, tuple(settings.cash_assets))
        if file is not None and file.watchlist is not None:
            watchlist = file.watchlist
        else:
            watchlist = tuple(settings.watchlist)
        positions = file.positions if file is not None else {}
        inputs.append(BacktestInput(settings, start, positions, watchlist))
    return StudyPortfolio(name, tuple(inputs))


def build_plan(
    candles: Path, start: str, end: str, timeframe: str | None, inputs: Sequence[Path],
    grid_file: Path | None, folds: int, offsets: tuple[int, ...],
) -> StudyPlan:
    """Everything a study runs, validated before any backtest starts."""
    from core.domain.models import epoch_ms
    from core.study.folds import Period, split_folds
    from core.study.report import StudyPlan

    period = Period(epoch_ms(parse_moment(start, "--from")),
                    epoch_ms(parse_moment(end, "--to", end_of_day=True)))
    if period.end_ms <= period.start_ms:
        raise ValueError("the study period is empty: --to must be after --from")
    configs = read_grid(grid_file)
    if inputs:
        names = [p.stem for p in inputs]
        if len(set(names)) != len(names):
            raise ValueError("two --input files share a name: rename one")
        portfolios = [study_portfolio(p.stem, read_portfolio(p), configs, timeframe)
                      for p in inputs]
    else:
        portfolios = [study_portfolio(SEED, None, configs, timeframe)]
    return StudyPlan(period, tuple(split_folds(period.start_ms, period.end_ms, folds)),
                     tuple(configs), tuple(portfolios), offsets)


def read_candles(directory: Path, plan: StudyPlan) -> SharedCandles:
    """Each (timeframe, quote) the study needs, read once; only assets some portfolio uses."""
    from core.market.candles import read_candle_dir, timeframe_ms
    from core.market.resample import candles_of_timeframe
    from core.signals import timeframes
    from core.study.tasks import SharedCandles

    wanted: dict[tuple[str, str], set[str]] = {}
    longer: dict[tuple[str, str], set[str]] = {}  # (longer timeframe, quote) → its sources
    for portfolio in plan.portfolios:
        for inp in portfolio.inputs:
            key = (inp.settings.timeframe, inp.start.quote)
            wanted.setdefault(key, set()).update(inp.start.amounts, inp.watchlist)
            for tf in timeframes(inp.settings.signal)[1:]:
                longer.setdefault((tf, inp.start.quote), set()).add(inp.settings.timeframe)
    frames = {}
    for (tf, quote), assets in wanted.items():
        found = read_candle_dir(directory, tf, quote=quote)
        frames[(tf, quote)] = {a: f for a, f in found.items() if a in assets} or found
    check_listed(plan, frames)
    # Daily strategies beside hourly ones: the directory's 1d files, or days built from hours.
    for (tf, quote), sources in longer.items():
        if (tf, quote) not in frames:
            source = min(sources, key=timeframe_ms)
            frames[(tf, quote)] = candles_of_timeframe(directory, tf, frames[(source, quote)],
                                                       source, quote=quote)
    return SharedCandles.from_frames(frames)


def check_listed(plan: StudyPlan, frames: Mapping[tuple[str, str], Mapping[str, Any]]) -> None:
    """Every held asset has candles from before the study's start, enough for its signals to
    vote at the start: say which does not, and the earliest start that works, before running.

    Each fold starts from the portfolio's quantities, so an asset listed after the start cannot
    be held in the first fold.
    """
    from core.backtest.history import to_datetime
    from core.market.candles import timeframe_ms
    from core.signals import candles_needed

    for p, portfolio in enumerate(plan.portfolios):
        start_ms = plan.period_of(p).start_ms
        # Per holding, when the signals of every configuration (each its timeframe and
        # warm-up) can vote: the study may start then.
        ready: dict[str, tuple[int, str, int, int]] = {}
        for inp in portfolio.inputs:
            tf, quote = inp.settings.timeframe, inp.start.quote
            warm_up = candles_needed(inp.settings.signal)
            for asset in sorted(inp.start.amounts):
                frame = frames[(tf, quote)].get(asset)
                if frame is None or not len(frame):
                    raise ValueError(f"portfolio {portfolio.name} holds {asset}, which has no "
                                     f"{tf} {quote} candles in the candle directory")
                first = int(frame.index[0])
                when = first + warm_up * timeframe_ms(tf)
                if asset not in ready or when > ready[asset][0]:
                    ready[asset] = (when, tf, first, warm_up)
        for asset, (when, timeframe, first, warm_up) in sorted(ready.items()):
            if when > start_ms:
                earliest = -(-when // DAY_MS) * DAY_MS  # --from takes a day
                raise ValueError(
                    f"portfolio {portfolio.name} holds {asset}, whose {timeframe} candles "
                    f"start {to_datetime(first):%Y-%m-%d %H:%M}: start the study on "
                    f"{to_datetime(earliest):%Y-%m-%d} or later (its signals warm up on "
                    f"{warm_up} candles), or leave {asset} out of the portfolio")


@contextmanager
def study_progress(*, enabled: bool, total: int) -> Iterator[Callable[[Any], None]]:
    """A rich progress bar over backtests on stderr (or none); yields the per-backtest tick."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(
        TextColumn("backtests"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=error_console, transient=True, disable=not enabled,
    ) as bar:
        task = bar.add_task("study", total=total)
        yield lambda _key: bar.advance(task)


def write_plot(plan: StudyPlan, results: Mapping[Any, BacktestResult],
               report: Mapping[str, Any], path: Path) -> None:
    """The study's chart (`study_figure`) as a PNG."""
    from bot.charting import save_figure

    try:
        save_figure(study_figure(plan, results, report), path)
    except OSError as error:
        fail(f"cannot write the chart to {path}: {error.strerror or error}")


def study_figure(plan: StudyPlan, results: Mapping[Any, BacktestResult],
                 report: Mapping[str, Any]) -> Figure:
    """The first portfolio: each config's folds chained, the walk-forward, both benchmarks —
    returns in the legend above the plot, "log scale" in the axis label when used, concise
    date ticks."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from bot.charting import as_dates, date_axis, value_axis, with_return
    from bot.cli.backtest_chart import DPI, SIZE
    from core.study.report import FOLD, chained
    from core.study.selection import chain

    figure = Figure(figsize=SIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axis = figure.add_subplot()
    for c in range(len(plan.configs)):
        run = chained(plan, results, 0, c)
        axis.plot(as_dates(run.ballast.times), run.ballast.equity,
                  color="tab:blue", alpha=0.25, linewidth=0.6)
    run = chained(plan, results, 0, 0)
    for curve, label, colour in ((run.hodl, CURVE_NAMES["hodl"], "black"),
                                 (run.calendar, CURVE_NAMES["calendar"], "tab:orange")):
        axis.plot(as_dates(curve.times), curve.equity, label=with_return(label, curve.equity),
                  color=colour, linewidth=1.0)
    names = [c.name for c in plan.configs]
    picks = [names.index(n) for n in report["walk_forward"]["chosen"]]
    if picks:
        # The out-of-sample folds as one account, starting where the first pick's chain stood.
        oos = chain([results[(0, c, k, FOLD)].ballast for k, c in enumerate(picks, start=1)])
        level = chained(plan, results, 0, picks[0], range(1)).ballast.equity[-1]
        axis.plot(as_dates(oos.times), oos.equity * level / oos.equity[0], color="tab:red",
                  linewidth=1.2,
                  label=with_return("walk-forward picks, out of sample", oos.equity))
    axis.plot([], [], color="tab:blue", alpha=0.5, label="each config, folds chained")
    quote = plan.portfolios[0].inputs[0].start.quote
    value_axis(axis, [run.hodl.equity, run.calendar.equity], quote)
    figure.suptitle(f"Study · {plan.portfolios[0].name} · {counted(len(names), 'config')} × "
                    f"{counted(len(plan.folds_of(0)), 'fold')}", fontsize=11)
    axis.grid(True, alpha=0.3)
    axis.margins(x=0)
    date_axis(axis)
    axis.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, fontsize=9,
                frameon=False, borderaxespad=0.3)
    return figure
