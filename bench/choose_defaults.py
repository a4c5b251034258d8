"""Apply the default-choosing criterion of docs/decisions.md to `ballast study --json` reports.

    uv run python bench/choose_defaults.py STUDY.json [STUDY.json ...] [--top 15]
        [--criterion round3|round2] [--today NAME]

Each report may hold one portfolio or several (`portfolios`: the example portfolios and the
seeded baskets alike). A *cell* is one (portfolio, fold). The criterion was fixed before any
result was seen; this script only does its arithmetic.

Round 3 (§5 of docs/decisions.md, the default): a configuration breaking the fee (1% of the
fold's starting value a year) or trade (200 a year) limit in any cell is out. In every cell each
limb of the bar has a *margin*, positive when the limb passes:

- drawdown: 0.75 − (max drawdown ÷ buy-and-hold's max drawdown);
- falling folds (buy-and-hold lost money): return − buy-and-hold's return;
- rising folds: Sharpe − buy-and-hold's Sharpe;
- same cash: return − ((1 − average cash) × buy-and-hold's return − 0.02).

A configuration's limb score is the median of that limb's margins over the cells. The rest rank
by how many of the four limb medians are ≥ 0, then by the sum over limbs of their rank on each
median (1 = best; unit-free, so no limb's units weigh more), then by fewer trades a year.

Round 2 (§1, kept to reproduce the earlier rounds): cells passing the whole bar, then the median
Sharpe edge over buy-and-hold in rising folds, then fewer trades.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

YEAR_DAYS = 365.25
LIMBS = ("drawdown", "falling_return", "rising_sharpe", "same_cash")
DRAWDOWN_RATIO = 0.75
SAME_CASH_SLACK = 0.02
FEES_A_YEAR = 0.01
TRADES_A_YEAR = 200


@dataclass
class Tally:
    """One configuration's record over every cell of every report."""

    name: str
    cells: int = 0
    passed: int = 0
    over_limits: list[str] = field(default_factory=list)
    margins: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in LIMBS})
    trades_a_year: list[float] = field(default_factory=list)
    misses: dict[str, int] = field(default_factory=dict)

    def median(self, limb: str) -> float:
        """The median margin of `limb` over the cells where it applies (−inf: none)."""
        values = self.margins[limb]
        return statistics.median(values) if values else float("-inf")

    @property
    def limbs_held(self) -> int:
        """How many limbs pass at their median margin."""
        return sum(self.median(limb) >= 0 for limb in LIMBS)

    @property
    def mean_trades(self) -> float:
        return statistics.mean(self.trades_a_year) if self.trades_a_year else 0.0


def portfolios(report: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Every portfolio block of a study report."""
    yield from report.get("portfolios") or [report]


def years(fold: Mapping[str, Any]) -> float:
    """The fold's length in years."""
    start = datetime.fromisoformat(fold["from"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(fold["to"].replace("Z", "+00:00"))
    return (end - start).days / YEAR_DAYS


def margins(fold: Mapping[str, Any]) -> dict[str, float]:
    """Each limb's margin in one cell (positive: the limb passes); limbs that do not apply
    (Sharpe in a falling fold, return in a rising one, a buy-and-hold without drawdown) are
    left out."""
    ours, hold = fold["ballast"], fold["hodl"]
    found: dict[str, float] = {}
    if hold["max_drawdown"] < 0:
        found["drawdown"] = DRAWDOWN_RATIO - ours["max_drawdown"] / hold["max_drawdown"]
    if hold["total_return"] < 0:
        found["falling_return"] = ours["total_return"] - hold["total_return"]
    else:
        found["rising_sharpe"] = ours["sharpe"] - hold["sharpe"]
    passive = (1 - ours["avg_cash"]) * hold["total_return"] - SAME_CASH_SLACK
    found["same_cash"] = ours["total_return"] - passive
    return found


def breaches(fold: Mapping[str, Any]) -> list[str]:
    """The hard limits a cell breaks: fees over 1% of its starting value a year, trades over
    200 a year."""
    ours = fold["ballast"]
    length = years(fold)
    start_value = ours["final_value"] / (1 + ours["total_return"])
    found = []
    if ours["fees_paid"] > FEES_A_YEAR * start_value * length:
        found.append("fees")
    if ours["trades"] > TRADES_A_YEAR * length:
        found.append("trades")
    return found


def tally(reports: Sequence[Mapping[str, Any]]) -> list[Tally]:
    """Every configuration's margins, misses and limits over all cells (unranked)."""
    tallies: dict[str, Tally] = {}
    for report in reports:
        for block in portfolios(report):
            for config in block["configs"]:
                entry = tallies.setdefault(config["name"], Tally(config["name"]))
                for fold in config["folds"]:
                    found, broken = margins(fold), breaches(fold)
                    missed = [limb for limb, margin in found.items() if margin < 0]
                    entry.cells += 1
                    entry.passed += not missed and not broken
                    entry.over_limits += [f"{block['portfolio']} {fold['from'][:4]} {b}"
                                          for b in broken]
                    for limb, margin in found.items():
                        entry.margins[limb].append(margin)
                    for limb in missed:
                        entry.misses[limb] = entry.misses.get(limb, 0) + 1
                    entry.trades_a_year.append(fold["ballast"]["trades"] / years(fold))
    return list(tallies.values())


def rank_round3(tallies: Sequence[Tally]) -> list[Tally]:
    """Round 3's order (module docs): within limits first, then limbs held at the median,
    then the sum of per-limb ranks, then fewer trades."""
    places: dict[str, int] = {t.name: 0 for t in tallies}
    for limb in LIMBS:
        order = sorted(tallies, key=lambda t: -t.median(limb))
        for place, entry in enumerate(order, 1):
            places[entry.name] += place
    return sorted(tallies, key=lambda t: (bool(t.over_limits), -t.limbs_held, places[t.name],
                                          t.mean_trades, t.name))


def rank_round2(tallies: Sequence[Tally]) -> list[Tally]:
    """Rounds 1–2's order (§1): cells passing, then the median rising-fold Sharpe edge."""
    return sorted(tallies, key=lambda t: (bool(t.over_limits), -t.passed,
                                          -t.median("rising_sharpe"), t.mean_trades, t.name))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("reports", nargs="+", type=Path, help="`ballast study --json` outputs")
    parser.add_argument("--top", type=int, default=15, help="rows to print")
    parser.add_argument("--criterion", choices=("round3", "round2"), default="round3")
    parser.add_argument("--today", help="a configuration name to compare the choice with "
                        "(today's defaults): its cells passing the whole bar")
    args = parser.parse_args(argv)
    reports = [json.loads(path.read_text()) for path in args.reports]
    found = tally(reports)
    ranked = rank_round3(found) if args.criterion == "round3" else rank_round2(found)
    eligible = [t for t in ranked if not t.over_limits]
    blocks = [block for report in reports for block in portfolios(report)]
    print(f"{len(ranked)} configurations, {len(blocks)} portfolios, {ranked[0].cells} cells "
          f"each; {len(eligible)} within the fee and trade limits in every cell")
    print(f"{'rank':>4} {'limbs':>5} {'passed':>7} {'DD':>6} {'fall R':>7} {'rise S':>7} "
          f"{'cash':>6} {'tr/y':>5}  misses  configuration")
    for rank, entry in enumerate(ranked[: args.top], 1):
        flag = "" if not entry.over_limits else f"  OUT: {', '.join(entry.over_limits[:3])}"
        misses = ",".join(f"{k}:{v}" for k, v in sorted(entry.misses.items())) or "-"
        print(f"{rank:>4} {entry.limbs_held:>3}/4 {entry.passed:>3}/{entry.cells:<3} "
              f"{entry.median('drawdown'):>+6.3f} {entry.median('falling_return'):>+7.3f} "
              f"{entry.median('rising_sharpe'):>+7.2f} {entry.median('same_cash'):>+6.3f} "
              f"{entry.mean_trades:>5.0f}  {misses}  {entry.name}{flag}")
    if args.today:
        today = next((t for t in found if t.name == args.today), None)
        if today is None:
            print(f"--today {args.today}: no configuration of that name")
            return 2
        print(f"cells passing the whole bar: chosen {ranked[0].passed}/{ranked[0].cells}, "
              f"today's defaults {today.passed}/{today.cells}")
    for block in blocks:
        spa = block.get("spa") or {}
        print(f"{block['portfolio']}: PBO {block.get('pbo')}, deflated Sharpe "
              f"{block.get('deflated_sharpe')}, SPA p vs holding {spa.get('vs_hodl')}, "
              f"vs same cash {spa.get('vs_same_cash')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
