"""`ballast study --baskets N --basket-seed S` and `--yearly`: seeded random baskets beside the
given portfolios, and folds that are the calendar years where a portfolio's assets have candles.

See docs/study.md ("Broad studies"). The drawing and the folds are `core.study.baskets`; this
reads the candle directory and the grid's `[baskets]` table, and builds the portfolios.
"""

from __future__ import annotations

import tomllib
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.study.baskets import Basket
    from core.study.report import StudyPlan

BASKET_KEYS = {"count", "seed"}


def grid_baskets(path: Path | None) -> dict[str, int]:
    """The grid file's `[baskets]` table (`count`, `seed`), checked; {} without one."""
    from core.config.settings import SettingsError

    if path is None or not path.is_file():
        return {}
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get("baskets", {})
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return {}  # read_grid says what is wrong with the file
    if not isinstance(table, dict):
        raise SettingsError(f"--grid {path}: baskets must be a table ([baskets] count = 9, "
                            "seed = 7)")
    unknown = sorted(set(table) - BASKET_KEYS)
    if unknown:
        raise SettingsError(f"--grid {path}: [baskets] {unknown[0]} is not a basket key "
                            "(count, seed)")
    for key, value in table.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise SettingsError(f"--grid {path}: [baskets] {key} = {value!r}: expected a whole "
                                "number ≥ 0")
    return dict(table)


def with_baskets(plan: StudyPlan, directory: Path, grid_file: Path | None,
                 timeframe: str | None, count: int | None, seed: int | None, *,
                 yearly: bool) -> tuple[StudyPlan, dict[str, Any] | None]:
    """`plan` broadened as the options (else the grid's `[baskets]` table) ask, and the JSON
    record of the baskets drawn (None without baskets)."""
    table = grid_baskets(grid_file)
    count = table.get("count", 0) if count is None else count
    seed = table.get("seed", 0) if seed is None else seed
    if not count and not yearly:
        return plan, None
    plan, drawn = broaden(plan, directory, timeframe, count, seed, yearly)
    return plan, basket_record(drawn, seed) if drawn else None


def broaden(plan: StudyPlan, directory: Path, timeframe: str | None, count: int, seed: int,
            yearly: bool) -> tuple[StudyPlan, list[Basket]]:
    """`plan` with yearly folds for its portfolios (`yearly`) and `count` baskets drawn with
    `seed` from the candle directory's pairs, each on its own yearly folds."""
    from bot.cli.study import study_portfolio
    from core.market.candles import read_candle_dir, timeframe_ms
    from core.study.baskets import basket_portfolio, draw_baskets, portfolio_folds

    first = plan.portfolios[0].inputs[0]
    tf, quote = first.settings.timeframe, first.start.quote
    frames = read_candle_dir(directory, tf, quote=quote)
    step = timeframe_ms(tf)
    lead = warm_up_ms(plan)
    portfolios = list(plan.portfolios)
    if yearly:
        portfolios = [
            replace(p, folds=portfolio_folds(frames, _held(p.inputs[0].start.amounts),
                                             plan.period, step, p.name, lead))
            for p in portfolios
        ]
    baskets = draw_baskets(frames, count, seed, plan.period, step, lead) if count else []
    for basket in baskets:
        drawn = study_portfolio(basket.name, basket_portfolio(basket, frames, quote),
                                plan.configs, timeframe)
        portfolios.append(replace(drawn, folds=basket.folds))
    names = [p.name for p in portfolios]
    if len(set(names)) != len(names):
        raise ValueError("an --input file is named like a basket: rename it")
    return replace(plan, portfolios=tuple(portfolios)), baskets


def warm_up_ms(plan: StudyPlan) -> int:
    """The longest history any configuration's signals need before they can all vote (each
    strategy on its own timeframe), so that yearly folds start where every one of them can."""
    from core.market.candles import timeframe_ms
    from core.signals import candles_needed, timeframes

    needs = [
        candles_needed(inp.settings.signal, tf) * timeframe_ms(tf)
        for portfolio in plan.portfolios for inp in portfolio.inputs
        for tf in timeframes(inp.settings.signal)
    ]
    return max(needs, default=0)


def basket_record(baskets: list[Basket], seed: int) -> dict[str, Any]:
    """What the study's JSON says of its baskets: the seed and each basket drawn."""
    return {"seed": seed, "count": len(baskets), "drawn": [b.as_dict() for b in baskets]}


def _held(amounts: Any) -> list[str]:
    return [asset for asset, amount in amounts.items() if amount]
