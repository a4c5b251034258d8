"""Apply the default-choosing criterion of docs/decisions.md §1 to `ballast study --json` reports.

    uv run python bench/choose_defaults.py STUDY.json [STUDY.json ...] [--top 15]

Each report may hold one portfolio or several (`portfolios`). A *cell* is one (portfolio, fold).
The criterion was fixed before any result was seen; this script only does its arithmetic:
configurations breaking the fee (1% of the starting value a year) or trade (200 a year) limit in
any cell are out; the rest rank by cells passing the bar, then the median Sharpe edge over
buy-and-hold in rising folds, then fewer trades.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

YEAR_DAYS = 365.25


@dataclass
class Tally:
    """One configuration's record over every cell of every report."""

    name: str
    cells: int = 0
    passed: int = 0
    over_limits: list[str] = field(default_factory=list)
    sharpe_edges: list[float] = field(default_factory=list)
    trades_a_year: list[float] = field(default_factory=list)
    misses: dict[str, int] = field(default_factory=dict)

    @property
    def median_edge(self) -> float:
        return statistics.median(self.sharpe_edges) if self.sharpe_edges else float("-inf")


def _portfolios(report: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield from report.get("portfolios") or [report]


def _years(fold: Mapping[str, Any]) -> float:
    from datetime import datetime

    start = datetime.fromisoformat(fold["from"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(fold["to"].replace("Z", "+00:00"))
    return (end - start).days / YEAR_DAYS


def judge_cell(fold: Mapping[str, Any]) -> tuple[list[str], list[str], float | None]:
    """(bar misses, limit breaches, Sharpe edge if the fold rose) for one configuration's fold."""
    ours, hold = fold["ballast"], fold["hodl"]
    years = _years(fold)
    start_value = ours["final_value"] / (1 + ours["total_return"])
    misses: list[str] = []
    if ours["max_drawdown"] < 0.75 * hold["max_drawdown"]:
        misses.append("drawdown")
    rising = hold["total_return"] >= 0
    if rising and ours["sharpe"] < hold["sharpe"]:
        misses.append("sharpe")
    if not rising and ours["total_return"] < hold["total_return"]:
        misses.append("return")
    if ours["total_return"] < (1 - ours["avg_cash"]) * hold["total_return"] - 0.02:
        misses.append("passive_mix")
    breaches: list[str] = []
    if ours["fees_paid"] > 0.01 * start_value * years:
        breaches.append("fees")
    if ours["trades"] > 200 * years:
        breaches.append("trades")
    edge = ours["sharpe"] - hold["sharpe"] if rising else None
    return misses, breaches, edge


def tally(reports: list[Mapping[str, Any]]) -> list[Tally]:
    """Every configuration's tally over all cells, best first by the criterion."""
    tallies: dict[str, Tally] = {}
    for report in reports:
        for portfolio in _portfolios(report):
            for config in portfolio["configs"]:
                entry = tallies.setdefault(config["name"], Tally(config["name"]))
                for fold in config["folds"]:
                    misses, breaches, edge = judge_cell(fold)
                    entry.cells += 1
                    entry.passed += not misses and not breaches
                    entry.over_limits += [f"{portfolio['portfolio']} {fold['from'][:4]} {b}"
                                          for b in breaches]
                    for miss in misses:
                        entry.misses[miss] = entry.misses.get(miss, 0) + 1
                    if edge is not None:
                        entry.sharpe_edges.append(edge)
                    entry.trades_a_year.append(fold["ballast"]["trades"] / _years(fold))
    return sorted(tallies.values(), key=lambda t: (bool(t.over_limits), -t.passed,
                                                   -t.median_edge,
                                                   statistics.mean(t.trades_a_year)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+", type=Path, help="`ballast study --json` outputs")
    parser.add_argument("--top", type=int, default=15, help="rows to print")
    args = parser.parse_args(argv)
    reports = [json.loads(path.read_text()) for path in args.reports]
    ranked = tally(reports)
    eligible = [t for t in ranked if not t.over_limits]
    print(f"{len(ranked)} configurations, {ranked[0].cells} cells each; "
          f"{len(eligible)} within the fee and trade limits in every cell")
    print(f"{'rank':>4} {'passed':>7} {'Sharpe edge':>11} {'trades/y':>8}  misses  configuration")
    for rank, entry in enumerate(ranked[: args.top], 1):
        flag = "" if not entry.over_limits else f"  OUT: {', '.join(entry.over_limits[:3])}"
        misses = ",".join(f"{k}:{v}" for k, v in sorted(entry.misses.items())) or "-"
        print(f"{rank:>4} {entry.passed:>3}/{entry.cells:<3} {entry.median_edge:>+11.2f} "
              f"{statistics.mean(entry.trades_a_year):>8.0f}  {misses}  {entry.name}{flag}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
