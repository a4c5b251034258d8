"""A study's plan and its report (JSON in docs/formats.md): pure, from the backtests' results."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from core.backtest.history import FloatArray, IntArray
from core.backtest.metrics import Metrics, periods_per_year
from core.backtest.runner import BacktestResult
from core.backtest.simulation import BacktestInput, Tally
from core.market.candles import timeframe_ms
from core.study.folds import DAY_MS, Period
from core.study.grid import Config
from core.study.selection import CRITERION, chain, choose, on_clock, sampled_returns
from core.study.stats import (
    DEFAULT_SPLITS,
    SPA_REPS,
    SPA_SEED,
    deflated_sharpe,
    pbo_cscv,
    spa_pvalue,
)
from core.study.tasks import Task

FOLD, SHIFTED = 0, 1
Results = Mapping[tuple[int, int, int, int], BacktestResult]


@dataclass(frozen=True, slots=True)
class StudyPortfolio:
    """A starting portfolio and its backtest input under each configuration (grid order).

    `folds`, when given, are this portfolio's own (the years where all its assets have
    candles, `core.study.baskets.yearly_folds`); else it runs the plan's folds.
    """

    name: str
    inputs: tuple[BacktestInput, ...]
    folds: tuple[Period, ...] = ()


@dataclass(frozen=True, slots=True)
class StudyPlan:
    """What a study runs: portfolios × configurations × folds, then shifted starts of one."""

    period: Period
    folds: tuple[Period, ...]
    configs: tuple[Config, ...]
    portfolios: tuple[StudyPortfolio, ...]
    offsets_weeks: tuple[int, ...]

    def folds_of(self, p: int) -> tuple[Period, ...]:
        """Portfolio `p`'s folds: its own, or the plan's."""
        return self.portfolios[p].folds or self.folds

    def period_of(self, p: int) -> Period:
        """Portfolio `p`'s whole period: from its first fold's start to its last's end."""
        folds = self.folds_of(p)
        return Period(folds[0].start_ms, folds[-1].end_ms)

    def fold_tasks(self) -> list[Task]:
        """Every (portfolio, config, fold) backtest."""
        return [
            Task((p, c, f, FOLD), inp.settings.timeframe, fold.start_ms, fold.end_ms, inp)
            for p, portfolio in enumerate(self.portfolios)
            for c, inp in enumerate(portfolio.inputs)
            for f, fold in enumerate(self.folds_of(p))
        ]

    def shifted_tasks(self, best: Sequence[int]) -> list[Task]:
        """The whole period started `offsets_weeks` later, for each portfolio's best config."""
        from core.study.folds import shifted_starts

        tasks = []
        for p, portfolio in enumerate(self.portfolios):
            whole = self.period_of(p)
            periods = shifted_starts(whole.start_ms, whole.end_ms, self.offsets_weeks)
            inp = portfolio.inputs[best[p]]
            for s, period in enumerate(periods):
                tasks.append(Task((p, best[p], s, SHIFTED), inp.settings.timeframe,
                                  period.start_ms, period.end_ms, inp))
        return tasks

    def timeframe(self, p: int, c: int) -> str:
        """The candle timeframe config `c` of portfolio `p` runs on."""
        return self.portfolios[p].inputs[c].settings.timeframe


def chained(plan: StudyPlan, results: Results, p: int, c: int,
            folds: Sequence[int] | None = None) -> BacktestResult:
    """Config `c`'s fold results chained into one account (all folds, or those given)."""
    chosen = range(len(plan.folds_of(p))) if folds is None else folds
    runs = [results[(p, c, f, FOLD)] for f in chosen]
    return _chain_runs(plan.timeframe(p, c), runs)


def _chain_runs(timeframe: str, runs: Sequence[BacktestResult]) -> BacktestResult:
    tally = Tally(*(sum(getattr(r.tally, n) for r in runs)
                    for n in ("plans", "executed", "drifted", "refused")))
    return BacktestResult(timeframe, chain([r.ballast for r in runs]),
                          chain([r.hodl for r in runs]), chain([r.calendar for r in runs]), tally)


def best_overall(plan: StudyPlan, results: Results, p: int) -> int:
    """The config the criterion picks over all folds chained (for the shifted starts)."""
    runs = [chained(plan, results, p, c) for c in range(len(plan.configs))]
    return choose([r.ballast.metrics(r.timeframe) for r in runs], plan.period_of(p).years)


def _fold_metrics(plan: StudyPlan, results: Results, p: int, f: int) -> list[Metrics]:
    return [results[(p, c, f, FOLD)].ballast.metrics(plan.timeframe(p, c))
            for c in range(len(plan.configs))]


def walk_forward(plan: StudyPlan, results: Results, p: int) -> dict[str, Any]:
    """Choose on fold k−1, report fold k; the chosen configs' out-of-sample folds chained."""
    folds = plan.folds_of(p)
    picks = [choose(_fold_metrics(plan, results, p, k - 1), folds[k - 1].years)
             for k in range(1, len(folds))]
    shape: dict[str, Any] = {
        "criterion": CRITERION,
        "chosen": [plan.configs[c].name for c in picks],
        "oos": {},
    }
    if picks:
        runs = [results[(p, c, k + 1, FOLD)] for k, c in enumerate(picks)]
        timeframes = {plan.timeframe(p, c) for c in picks}
        timeframe = max(timeframes, key=timeframe_ms)
        if len(timeframes) > 1:
            # Picks on different timeframes: read every fold on the longest candle's clock.
            runs = [_on_clock(run, timeframe, folds[k + 1]) for k, run in enumerate(runs)]
        shape["oos"] = _chain_runs(timeframe, runs).summary()
    return shape


def _clock(timeframe: str, period: Period) -> IntArray:
    step = timeframe_ms(timeframe)
    return np.arange(period.start_ms, period.end_ms + 1, step, dtype=np.int64)


def _on_clock(run: BacktestResult, timeframe: str, period: Period) -> BacktestResult:
    clock = _clock(timeframe, period)
    return BacktestResult(timeframe, on_clock(run.ballast, clock), on_clock(run.hodl, clock),
                          on_clock(run.calendar, clock), run.tally)


def overfitting(plan: StudyPlan, results: Results, p: int) -> dict[str, Any]:
    """PBO, the deflated Sharpe and SPA from every config's chained returns on one clock.

    The clock steps by the grid's longest candle, so per-candle returns when the grid has one
    timeframe. With a single configuration nothing was chosen among several: PBO and the
    deflated Sharpe are None (JSON null).
    """
    configs = range(len(plan.configs))
    timeframe = max((plan.timeframe(p, c) for c in configs), key=timeframe_ms)
    clock = _clock(timeframe, plan.period_of(p))
    runs = [chained(plan, results, p, c) for c in configs]
    matrix = np.column_stack([sampled_returns(run.ballast, clock) for run in runs])
    several = len(plan.configs) > 1
    splits = min(DEFAULT_SPLITS, 2 * (matrix.shape[0] // 4))
    pbo = pbo_cscv(matrix, splits) if several and splits >= 2 else None
    dsr = deflated_sharpe(matrix) if several and matrix.shape[0] >= 3 else None
    annual = np.sqrt(periods_per_year(timeframe))
    detail: dict[str, Any] = {"returns": f"per {timeframe} candle, all folds chained"}
    if pbo is not None:
        detail["pbo"] = pbo.as_dict()
    if dsr is not None:
        detail["deflated_sharpe"] = {
            **dsr.as_dict(), "best": plan.configs[dsr.best].name,
            "sharpe_annual": round(dsr.sharpe * annual, 6),
            "expected_max_sharpe_annual": round(dsr.expected_max_sharpe * annual, 6),
        }
    spa, detail["spa"] = superior_ability(plan, runs, matrix, clock)
    return {"pbo": round(pbo.pbo, 6) if pbo else None,
            "deflated_sharpe": round(dsr.probability, 6) if dsr else None,
            "spa": spa, "statistics": detail}


def superior_ability(plan: StudyPlan, runs: Sequence[BacktestResult], matrix: FloatArray,
                     clock: IntArray) -> tuple[dict[str, float | None], dict[str, Any]]:
    """Hansen's SPA p-values of every config against buy-and-hold and against the same-cash
    passive mix (each config's own average cash held, the rest as buy-and-hold), and their
    inputs.

    The tests read each config's per-candle excess returns summed per UTC day: the same mean
    edge, a bootstrap over days rather than hours (hourly, it takes a minute per test).
    """
    hodl = np.column_stack([sampled_returns(run.hodl, clock) for run in runs])
    mix = np.column_stack([
        same_cash_returns(on_clock(run.hodl, clock).equity,
                          run.ballast.metrics(run.timeframe).avg_cash)
        for run in runs
    ])
    days = clock[1:] // DAY_MS
    starts = np.flatnonzero(np.r_[True, days[1:] != days[:-1]])
    p_values: dict[str, float | None] = {}
    detail: dict[str, Any] = {"returns": "each config's per-candle excess returns, summed per "
                                         "UTC day", "days": int(starts.size),
                              "bootstrap": "stationary", "reps": SPA_REPS, "seed": SPA_SEED,
                              "p_value": "consistent"}
    for key, benchmark in (("vs_hodl", hodl), ("vs_same_cash", mix)):
        excess = np.add.reduceat(matrix - benchmark, starts, axis=0) if starts.size else matrix
        if excess.shape[0] < 3:
            p_values[key] = None
            continue
        p_values[key] = round(spa_pvalue(excess), 6)
        best = int(np.argmax(excess.mean(axis=0)))
        detail[f"best_{key}"] = {"config": plan.configs[best].name,
                                 "mean_daily_excess": round(float(excess[:, best].mean()), 8)}
    return p_values, detail


def same_cash_returns(hodl_equity: FloatArray, cash: float) -> FloatArray:
    """Per-period returns of the passive mix: `cash` of the start kept as cash, the rest held
    as buy-and-hold (`hodl_equity`, read on the study's clock)."""
    start = float(hodl_equity[0]) if hodl_equity.size else 0.0
    mix = cash * start + (1.0 - cash) * np.asarray(hodl_equity, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = np.where(mix[:-1] > 0, mix[1:] / mix[:-1] - 1.0, 0.0)
    return np.asarray(returns, dtype=np.float64)


def shifted_starts(plan: StudyPlan, results: Results, p: int) -> dict[str, Any]:
    """The best config's whole-period figures started a few weeks apart, and their spread."""
    found = sorted((k, r) for k, r in results.items() if k[0] == p and k[3] == SHIFTED)
    if not found:
        return {}
    starts = []
    for (_, _, s, _), result in found:
        ballast = result.summary()["ballast"]
        starts.append({"weeks_later": plan.offsets_weeks[s], "from": _iso(result.start),
                       **{k: ballast[k] for k in ("total_return", "sharpe", "max_drawdown")}})
    spread = {k: round(max(s[k] for s in starts) - min(s[k] for s in starts), 6)
              for k in ("total_return", "sharpe", "max_drawdown")}
    return {"config": plan.configs[found[0][0][1]].name, "starts": starts, "spread": spread}


def portfolio_report(plan: StudyPlan, results: Results, p: int) -> dict[str, Any]:
    """The study JSON shape (docs/formats.md) for one starting portfolio, with more detail
    beside its keys."""
    configs = []
    for c, config in enumerate(plan.configs):
        folds = []
        for f in range(len(plan.folds_of(p))):
            summary = results[(p, c, f, FOLD)].summary()
            period = summary.pop("period")
            folds.append({"from": period["from"], "to": period["to"], **summary,
                          "candles": period["candles"]})
        whole = chained(plan, results, p, c).summary()
        whole.pop("period")
        configs.append({"name": config.name, "settings": dict(config.settings),
                        "folds": folds, "all_folds": whole})
    report: dict[str, Any] = {"portfolio": plan.portfolios[p].name}
    if plan.portfolios[p].folds:
        report["period"], report["folds"] = _bounds(plan.period_of(p), plan.folds_of(p))
    return {**report, "configs": configs,
            "walk_forward": walk_forward(plan, results, p),
            **overfitting(plan, results, p),
            "start_robustness": shifted_starts(plan, results, p)}


def study_report(plan: StudyPlan, results: Results) -> dict[str, Any]:
    """The first portfolio's report at the top (docs/formats.md); all of them under `portfolios`."""
    reports = [portfolio_report(plan, results, p) for p in range(len(plan.portfolios))]
    period, folds = _bounds(plan.period_of(0), plan.folds_of(0))
    top: dict[str, Any] = {**reports[0], "period": period, "folds": folds}
    if len(reports) > 1:
        top["portfolios"] = reports
    return top


def _bounds(period: Period, folds: Sequence[Period]) -> tuple[dict[str, str],
                                                                 list[dict[str, str]]]:
    return ({"from": _iso_ms(period.start_ms), "to": _iso_ms(period.end_ms)},
            [{"from": _iso_ms(f.start_ms), "to": _iso_ms(f.end_ms)} for f in folds])


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso_ms(ms: int) -> str:
    return _iso(datetime.fromtimestamp(ms / 1000, UTC))
