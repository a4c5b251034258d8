"""How fast `ballast` commands start, as ratios to a bare interpreter importing their libraries.

Run: `uv run python bench/startup_bench.py [--runs N] [--max-ratio R]`. Times, as whole
processes with bytecode compiled:

- `ballast --help` against `python -c "import typer, rich"` (the least any typer CLI pays);
- `ballast plan --input examples/seed-portfolio.json` against `python -c "import typer, rich,
  pydantic"` (the least a command that validates a file with pydantic pays).

The four commands run interleaved, round after round, so a machine whose speed drifts slows
them alike; each prints its min and median, and each ratio is taken from the mins (the least
noisy figure on a shared machine) and from the medians. Target: both ratios ≤ 3. With
`--max-ratio R` it exits 1 when a median ratio is above R.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def ballast() -> list[str]:
    """The installed `ballast` script beside this interpreter, else the same entry point."""
    script = Path(sys.executable).parent / "ballast"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from bot.cli import app; sys.exit(app())"]


COMMANDS: dict[str, list[str]] = {
    "floor: import typer, rich": [sys.executable, "-c", "import typer, rich"],
    "ballast --help": [*ballast(), "--help"],
    "floor: import typer, rich, pydantic": [sys.executable, "-c",
                                            "import typer, rich, pydantic"],
    "ballast plan --input examples/seed-portfolio.json": [
        *ballast(), "plan", "--input", "examples/seed-portfolio.json"],
}
RATIOS = (("ballast --help", "floor: import typer, rich"),
          ("ballast plan --input examples/seed-portfolio.json",
           "floor: import typer, rich, pydantic"))


def environment() -> dict[str, str]:
    """The caller's environment with bytecode written and read, and no BALLAST_* settings."""
    env = {k: v for k, v in os.environ.items()
           if k != "PYTHONDONTWRITEBYTECODE" and not k.startswith("BALLAST_")}
    env["BALLAST_DB"] = os.devnull  # never opened by these commands; keeps a real one out
    return env


def time_once(command: list[str], env: dict[str, str]) -> float:
    """Seconds from start to exit of one run (it must succeed)."""
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="rounds (default 15)")
    parser.add_argument("--max-ratio", type=float, default=None,
                        help="exit 1 when a median ratio is above this")
    args = parser.parse_args()
    env = environment()
    for command in COMMANDS.values():  # warm-up: compiles bytecode, fills the page cache
        time_once(command, env)
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.runs):
        for name, command in COMMANDS.items():
            times[name].append(time_once(command, env))
    for name, runs in times.items():
        print(f"{name:52} min {min(runs):.3f} s  median {statistics.median(runs):.3f} s")
    worst = 0.0
    for name, floor in RATIOS:
        by_min = min(times[name]) / min(times[floor])
        by_median = statistics.median(times[name]) / statistics.median(times[floor])
        worst = max(worst, by_median)
        print(f"{name}: {by_min:.1f}× its floor (mins), {by_median:.1f}× (medians)")
    return 1 if args.max_ratio is not None and worst > args.max_ratio else 0


if __name__ == "__main__":
    sys.exit(main())
