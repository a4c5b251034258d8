"""Running a study's backtests in parallel: joblib (loky) on this machine, or a Dask cluster.

The candles go to workers once, read-only. With joblib the arrays are written once to
memory-mapped files and every worker maps the same pages (loky pickles a `np.memmap` as its
file name, not its contents). With Dask they are scattered once to every worker
(`Client.scatter(..., broadcast=True)`); each task then refers to that copy.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from core.backtest.history import FloatArray
from core.backtest.runner import BacktestResult
from core.study.report import StudyPlan, best_overall
from core.study.tasks import SharedCandles, Task, run_task

Key = tuple[int, int, int, int]
Done = Callable[[Key], None]


def run_tasks(
    candles: SharedCandles,
    tasks: Sequence[Task],
    *,
    jobs: int = -1,
    scheduler: str | None = None,
    done: Done | None = None,
) -> dict[Key, BacktestResult]:
    """Every task's result by its key; `done(key)` is called as each one finishes.

    `jobs` is the number of local worker processes (-1: one per core); `scheduler` is the
    address of a Dask scheduler (`tcp://host:8786`), used instead when given.
    """
    results: dict[Key, BacktestResult] = {}
    stream = _dask(candles, tasks, scheduler) if scheduler else _joblib(candles, tasks, jobs)
    for key, result in stream:
        results[key] = result
        if done is not None:
            done(key)
    return results


def _joblib(
    candles: SharedCandles, tasks: Sequence[Task], jobs: int
) -> Iterator[tuple[Key, BacktestResult]]:
    from joblib import Parallel, delayed

    with tempfile.TemporaryDirectory(prefix="ballast-study-") as folder:
        mapped = memory_mapped(candles, Path(folder))
        parallel = Parallel(n_jobs=jobs, backend="loky", return_as="generator_unordered")
        yield from parallel(delayed(run_task)(mapped, task) for task in tasks)


def memory_mapped(candles: SharedCandles, folder: Path) -> SharedCandles:
    """The same candles backed by read-only files in `folder`, mapped rather than copied."""
    arrays: dict[tuple[str, str], dict[str, FloatArray]] = {}
    for index, (key, assets) in enumerate(candles.arrays.items()):
        arrays[key] = {}
        for asset, values in assets.items():
            path = folder / f"{index}_{asset}.npy"
            np.save(path, values)
            arrays[key][asset] = np.load(path, mmap_mode="r")
    return SharedCandles(arrays)


def _dask(
    candles: SharedCandles, tasks: Sequence[Task], address: str
) -> Iterator[tuple[Key, BacktestResult]]:
    from distributed import Client, as_completed

    # distributed ships no type hints for these two.
    with Client(address) as client:  # type: ignore[no-untyped-call]
        shared = client.scatter(candles, broadcast=True)
        futures = [client.submit(run_task, shared, task, pure=False) for task in tasks]
        for future in as_completed(futures):  # type: ignore[no-untyped-call]
            yield future.result()


def run_study(
    plan: StudyPlan,
    candles: SharedCandles,
    *,
    jobs: int = -1,
    scheduler: str | None = None,
    done: Done | None = None,
) -> dict[Key, BacktestResult]:
    """Run a study's folds, then the shifted starts of each portfolio's best config.

    `core.study.report.study_report` turns what this returns into the study report
    (docs/formats.md).
    """
    results = run_tasks(candles, plan.fold_tasks(), jobs=jobs, scheduler=scheduler, done=done)
    if plan.offsets_weeks:
        best = [best_overall(plan, results, p) for p in range(len(plan.portfolios))]
        results.update(run_tasks(candles, plan.shifted_tasks(best), jobs=jobs,
                                 scheduler=scheduler, done=done))
    return results


def backtest_count(plan: StudyPlan) -> int:
    """How many backtests `run_study` runs (for a progress bar)."""
    return sum(len(plan.configs) * len(plan.folds_of(p)) + len(plan.offsets_weeks)
               for p in range(len(plan.portfolios)))
