"""Backtest cost as the owner pays it: `ballast backtest` as a whole process, against a floor.

    uv run python bench/backtest_bench.py --candles DIR [--runs 3]

Two runs of the real CLI, each a fresh process (start-up, imports, reading, signals, replay,
benchmarks, output), over 2021-01-01 … 2024-12-31 of 1h candles:

- 20 pairs: the seed's four coins held, all 20 assets on the watchlist (`--input`);
- the seed: the default portfolio over the seed's 4 pairs (a candle directory of just those).

Both run with Ballast's default strategies (the four hourly ones and the daily trend family,
`trend_ma` and `trend_score`, whose days are built from the 1h files as `ballast backtest` does
when a directory has no 1d files), or with `--strategies`.

Each is printed beside its *floor*, measured in the same round: a process that only imports
what it needs, reads the same candle files and computes the same indicators once per pair
(warm-up included, days built from the hours). The machine is shared, so the ratio (run /
floor, median over `--runs` rounds, the two interleaved) is the figure to quote; the seconds
are for orientation. Peak memory is each child's own peak RSS. Targets: 20 pairs ≤ 1.5× the
floor and ≤ 280 MB; the seed ≤ 2.5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from candle_arg import add_candles_argument, candles_dir

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ASSETS = ("BTC", "ETH", "SOL", "AVAX", "BNB", "XRP", "ADA", "DOGE", "DOT", "LINK", "LTC", "TRX",
          "ATOM", "NEAR", "BCH", "XLM", "UNI", "ETC", "XTZ", "AAVE")
SEED_PAIRS = ("BTC", "ETH", "SOL", "AVAX")
# The seed portfolio's coins in amounts worth about its $12.6k at the start of 2021.
HOLDINGS = {"BTC": "0.1", "ETH": "2.5", "SOL": "1500", "AVAX": "700", "USDT": "628"}
START, END = "2021-01-01", "2024-12-31"
TARGET_RATIO = 1.5
TARGET_MB = 280.0
TARGET_SEED_SECONDS = 2.5


def run(command: Sequence[str], strategies: str | None) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MB and standard output of one child process."""
    began = time.perf_counter()
    env = {**os.environ, **({"BALLAST_STRATEGIES": strategies} if strategies else {})}
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
                             env=env)
    out, err = child.communicate()
    wall = time.perf_counter() - began
    if child.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{err.decode()}")
    peak = _peak_mb(err.decode())
    return wall, peak, out.decode()


def _peak_mb(stderr: str) -> float:
    for line in stderr.splitlines():
        if line.startswith("peak-rss-kb "):
            return int(line.split()[1]) / 1024
    return float("nan")


def measured(command: Sequence[str]) -> list[str]:
    """`command` run through this script's `--measure` wrapper, which reports its peak RSS."""
    return [sys.executable, __file__, "--measure", "--", *command]


def measure(command: Sequence[str]) -> None:
    """Run `command`, pass its output on, and print its own peak RSS on stderr."""
    child = subprocess.Popen(command, cwd=ROOT)
    _, status, usage = os.wait4(child.pid, 0)
    print(f"peak-rss-kb {usage.ru_maxrss}", file=sys.stderr)
    raise SystemExit(os.waitstatus_to_exitcode(status))


def floor(folder: Path, pairs: Sequence[str]) -> None:
    """Read the pairs' candle files and compute their indicators once, as the backtest does."""
    from core.backtest.replay import warm_up_candles
    from core.config.settings import load_settings
    from core.market.candles import read_candle_dir, timeframe_ms
    from core.market.resample import aggregate_candles
    from core.signals import signal_history, timeframes

    chosen = os.environ.get("BALLAST_STRATEGIES")
    settings = load_settings(env={"BALLAST_STRATEGIES": chosen} if chosen else {})
    start, end = _ms(START), _ms(END) + 86_400_000
    warm_from = start - warm_up_candles(settings.signal) * timeframe_ms("1h")
    frames = read_candle_dir(folder, "1h", quote="USDT")
    for asset in pairs:
        frame = frames[asset]
        longer = {}
        for tf in timeframes(settings.signal)[1:]:
            days = aggregate_candles(frame, "1h", tf)
            since = start - warm_up_candles(settings.signal, tf) * timeframe_ms(tf)
            longer[tf] = days[(days.index >= since) & (days.index < end)]
        frame = frame[(frame.index >= warm_from) & (frame.index < end)]
        signal_history(asset, frame, settings.signal, "1h", longer)


def _ms(day: str) -> int:
    from datetime import UTC, datetime

    from core.domain.models import epoch_ms

    return epoch_ms(datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC))


def candle_folder(candles: Path, pairs: Sequence[str], folder: Path) -> Path:
    """A directory holding only `pairs`' 1h files, as `--candles` would be given."""
    folder.mkdir()
    for asset in pairs:
        source = candles / f"binance_{asset}_USDT_1h.csv.gz"
        if not source.exists():
            raise SystemExit(f"{source} is missing: --candles needs the 1h files of "
                             f"{', '.join(pairs)}")
        (folder / source.name).symlink_to(source.resolve())
    return folder


def cli(folder: Path, portfolio: Path | None) -> list[str]:
    ballast = Path(sys.executable).parent / "ballast"
    command = [str(ballast), "backtest", "--candles", str(folder), "--timeframe", "1h",
               "--from", START, "--to", END, "--json"]
    return command + (["--input", str(portfolio)] if portfolio else [])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_candles_argument(parser)
    parser.add_argument("--runs", type=int, default=3, help="rounds to take the median of")
    parser.add_argument("--strategies",
                        help="the strategies that vote, in both runs, comma-separated "
                             "(default: Ballast's default strategies)")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--floor", nargs=2, metavar=("FOLDER", "PAIRS"), help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.measure:
        measure(rest[1:] if rest[:1] == ["--"] else rest)
    if args.floor:
        floor(Path(args.floor[0]), args.floor[1].split(","))
        return
    candles = candles_dir(parser, args.candles)
    with tempfile.TemporaryDirectory() as temp:
        base = Path(temp)
        portfolio = base / "twenty.json"
        balances = {asset: {"free": amount} for asset, amount in HOLDINGS.items()}
        portfolio.write_text(json.dumps({"quote": "USDT", "balances": balances,
                                         "watchlist": list(ASSETS)}))
        cases = {
            "20 pairs": (candle_folder(candles, ASSETS, base / "twenty"), ASSETS, portfolio),
            "seed 4 pairs": (candle_folder(candles, SEED_PAIRS, base / "seed"), SEED_PAIRS,
                             None),
        }
        figures: dict[str, dict[str, list[float]]] = {name: {} for name in cases}
        summaries: dict[str, str] = {}
        for _ in range(args.runs):
            for name, (folder, pairs, inp) in cases.items():
                floor_cmd = [sys.executable, __file__, "--floor", str(folder), ",".join(pairs)]
                for label, command in (("floor", floor_cmd), ("run", cli(folder, inp))):
                    wall, peak, out = run(measured(command), args.strategies)
                    figures[name].setdefault(f"{label} s", []).append(wall)
                    figures[name].setdefault(f"{label} MB", []).append(peak)
                    if label == "run":
                        summaries[name] = out
                figures[name].setdefault("ratio", []).append(
                    figures[name]["run s"][-1] / figures[name]["floor s"][-1])
        report(figures, summaries)


def report(figures: dict[str, dict[str, list[float]]], summaries: dict[str, str]) -> None:
    """Medians per case, the targets, and what Ballast did."""
    for name, values in figures.items():
        median = {key: statistics.median(series) for key, series in values.items()}
        ballast = json.loads(summaries[name])["ballast"]
        print(f"{name:13} run {median['run s']:6.2f} s  {median['run MB']:5.0f} MB   "
              f"floor {median['floor s']:5.2f} s  {median['floor MB']:5.0f} MB   "
              f"ratio {median['ratio']:4.2f}×  ({ballast['trades']:,} trades; "
              f"ratios {', '.join(f'{r:.2f}' for r in values['ratio'])})")
        if name == "20 pairs":
            verdict = ("met" if median["ratio"] <= TARGET_RATIO
                       and median["run MB"] <= TARGET_MB else "MISSED")
            print(f"{'':13} target ≤ {TARGET_RATIO}× the floor and ≤ {TARGET_MB:.0f} MB: "
                  f"{verdict}")
        else:
            verdict = "met" if median["run s"] <= TARGET_SEED_SECONDS else "MISSED"
            print(f"{'':13} target ≤ {TARGET_SEED_SECONDS} s: {verdict}")


if __name__ == "__main__":
    main()
