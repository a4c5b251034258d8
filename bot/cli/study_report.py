"""`ballast study`'s report in words: one table per portfolio, then the walk-forward, the
overfitting statistics and the robustness to the start date."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from rich.table import Table

from bot.cli.common import console, counted, parse_moment


def show_report(report: Mapping[str, Any]) -> None:
    """One table per portfolio, then walk-forward, overfitting and robustness in words."""
    for block in report.get("portfolios", [report]):
        console.print(config_table(block, block.get("period", report["period"])))
        _explain(block)


def config_table(block: Mapping[str, Any], period: Mapping[str, str]) -> Table:
    """Every config over all folds chained, under buy-and-hold and the monthly calendar."""
    picks = block["walk_forward"]["chosen"]
    length = parse_moment(period["to"], "to") - parse_moment(period["from"], "from")
    years = length / timedelta(days=365)
    table = Table(title=f"Study · portfolio {block['portfolio']} · {period['from'][:10]} → "
                        f"{period['to'][:10]} · all folds chained", title_justify="left")
    table.add_column("config", overflow="fold")
    for header in ("return", "Sharpe", "max DD", "trades/y", "fees", "cash", "picked"):
        table.add_column(header, justify="right")
    first = block["configs"][0]["all_folds"]
    for key, label in (("hodl", "buy & hold"), ("calendar", "calendar (monthly)")):
        figures = first[key]
        trades = figures.get("trades", 0) / years if years > 0 else 0
        table.add_row(label, *_figures(figures, trades), "", style="dim")
    for config in block["configs"]:
        figures = config["all_folds"]["ballast"]
        trades = figures["trades"] / years if years > 0 else 0
        table.add_row(config["name"], *_figures(figures, trades),
                      str(picks.count(config["name"])) if picks else "—")
    return table


def _figures(figures: Mapping[str, Any], trades_a_year: float) -> list[str]:
    return [f"{figures['total_return']:.1%}", f"{figures['sharpe']:.2f}",
            f"{figures['max_drawdown']:.1%}", f"{trades_a_year:,.0f}",
            f"{figures.get('fees_paid', 0):,.0f}", f"{figures.get('avg_cash', 0):.0%}"]


def _probability(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _explain(block: Mapping[str, Any]) -> None:
    wf = block["walk_forward"]
    say = console.print
    if wf["chosen"]:
        oos = wf["oos"]
        b, h, c = oos["ballast"], oos["hodl"], oos["calendar"]
        say(f"Walk-forward ({wf['criterion']}): chose {', '.join(wf['chosen'])}. "
            f"Out of sample {oos['period']['from'][:10]} → {oos['period']['to'][:10]}: "
            f"return {b['total_return']:.1%}, Sharpe {b['sharpe']:.2f}, "
            f"max drawdown {b['max_drawdown']:.1%}, {counted(b['trades'], 'trade')}, fees "
            f"{b['fees_paid']:,.0f}; buy-and-hold {h['total_return']:.1%} / "
            f"{h['sharpe']:.2f} / {h['max_drawdown']:.1%}; calendar {c['total_return']:.1%} / "
            f"{c['sharpe']:.2f} / {c['max_drawdown']:.1%}.", highlight=False)
    stats = block["statistics"]
    dsr = stats.get("deflated_sharpe", {})
    if block["deflated_sharpe"] is None:
        say("Overfitting: PBO n/a, deflated Sharpe n/a (one configuration: nothing was chosen "
            "among several).", highlight=False)
    else:
        say(f"Overfitting: PBO {_probability(block['pbo'])} (chance the in-sample best is "
            f"below the median out of sample; 0.5 = luck) · deflated Sharpe "
            f"{block['deflated_sharpe']:.2f} (probability that the best config's true Sharpe, "
            f"{dsr['best']}, is above zero after {counted(dsr['trials'], 'configuration')} "
            f"tried; not a test against holding) · {stats['returns']}.", highlight=False)
    spa = block["spa"]
    say(f"Against holding (Hansen's SPA, {stats['spa']['returns']}): p = "
        f"{_probability(spa['vs_hodl'])} vs buy-and-hold, p = "
        f"{_probability(spa['vs_same_cash'])} vs the same-cash passive mix (a low p, under "
        "0.05: the best config's edge over that benchmark is unlikely to be luck; a high p: "
        "no config shown to beat it).", highlight=False)
    robust = block["start_robustness"]
    if robust:
        spread = robust["spread"]
        weeks = "/".join(str(s["weeks_later"]) for s in robust["starts"])
        say(f"Start dates {weeks} weeks later ({robust['config']}): return spread "
            f"{spread['total_return']:.1%}, Sharpe spread {spread['sharpe']:.2f}, drawdown "
            f"spread {spread['max_drawdown']:.1%}.", highlight=False)
