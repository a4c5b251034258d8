"""Study speed: 16 configurations × 4 walk-forward folds over 4 years of real 1h candles.

    uv run python bench/study_bench.py --candles DIR [--jobs 1,2]

Runs `ballast study`'s whole path for 2021-01-01 … 2024-12-31, the seed portfolio with the
default watchlist, a grid of sell_rule × rebalance_interval × min_trade_value (16 configs):
read the candles once, then 64 backtests (each `ballast backtest` of one config over one fold),
the walk-forward choice, PBO and the deflated Sharpe. Start-date robustness is left out: it
is four more whole-period backtests, not part of the grid's cost. Prints the wall time with
each number of workers, the speed-up from 1 to 2, and each worker's peak memory: RSS (what
`top` shows, the shared candle pages included) and USS (the worker's own memory).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
from candle_arg import add_candles_argument, candles_dir

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.cli.study import build_plan, read_candles
from core.study.parallel import run_study
from core.study.report import study_report

GRID = """\
sell_rule = ["any", "majority"]
rebalance_interval = [300, 3600, 14400, 86400]
min_trade_value = [10, 50]
"""
START, END, FOLDS = "2021-01-01", "2024-12-31", 4
MB = 1024 * 1024


class PeakMemory:
    """Samples this process's children (the workers) every 0.5 s; keeps each one's peak."""

    def __init__(self) -> None:
        self.rss: dict[int, int] = {}
        self.uss: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.wait(0.5):
            for child in me.children(recursive=True):
                try:
                    info = child.memory_full_info()
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                self.rss[child.pid] = max(self.rss.get(child.pid, 0), info.rss)
                self.uss[child.pid] = max(self.uss.get(child.pid, 0), info.uss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_candles_argument(parser)
    parser.add_argument("--jobs", default="1,2", help="worker counts to time, e.g. 1,2")
    args = parser.parse_args()
    candles_path = candles_dir(parser, args.candles)
    with tempfile.TemporaryDirectory() as folder:
        grid = Path(folder) / "grid.toml"
        grid.write_text(GRID)
        plan = build_plan(candles_path, START, END, "1h", [], grid, FOLDS, ())
    began = time.perf_counter()
    candles = read_candles(candles_path, plan)
    print(f"candles read once in {time.perf_counter() - began:.1f} s: "
          f"{candles.nbytes / MB:.0f} MB for {sum(len(a) for a in candles.arrays.values())} "
          f"assets (shared with workers, not copied)")
    print(f"{len(plan.configs)} configs × {len(plan.folds)} folds = "
          f"{len(plan.configs) * len(plan.folds)} backtests of ~1 year of 1h candles")
    walls: dict[int, float] = {}
    for jobs in (int(j) for j in args.jobs.split(",")):
        began = time.perf_counter()
        with PeakMemory() as memory:
            results = run_study(plan, candles, jobs=jobs)
        report = study_report(plan, results)
        walls[jobs] = time.perf_counter() - began
        own = max(memory.uss.values(), default=0) / MB
        seen = max(memory.rss.values(), default=0) / MB
        # The children include loky's resource tracker beside the workers; the peak is a worker's.
        where = (f"{len(memory.rss)} child processes, the largest's peak RSS {seen:.0f} MB, "
                 f"USS {own:.0f} MB") if memory.rss else "in this process (no workers)"
        print(f"jobs={jobs}: {walls[jobs]:.1f} s wall ({where}); PBO {report['pbo']:.2f}, "
              f"deflated Sharpe {report['deflated_sharpe']:.2f}")
    if 1 in walls and 2 in walls:
        print(f"speed-up 1 → 2 workers: {walls[1] / walls[2]:.2f}×")


if __name__ == "__main__":
    main()
