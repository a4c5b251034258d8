"""The one plain sentence a backtest ends with: did the rules beat holding, and at what cost.

Pure: a backtest's summary (docs/formats.md) in, a sentence out. "Beat holding, risk-adjusted" means
both a Sharpe ratio at least buy-and-hold's and a max drawdown no deeper than its; one of the
two is "partly"; neither is "did not". The cost is the fees paid, also as a share of the
starting value.
"""

from __future__ import annotations

from collections.abc import Mapping

from core.backtest.metrics import annualised_meaningful


def verdict(
    summary: Mapping[str, Mapping[str, float | int]], quote: str, *, days: float | None = None
) -> str:
    """One sentence comparing Ballast with buy-and-hold in a backtest summary (module docs).

    Over a period of `days` too short for annualised figures, the total return stands in for
    the Sharpe ratio."""
    ballast, hodl = summary["ballast"], summary["hodl"]
    drawdown, hodl_drawdown = float(ballast["max_drawdown"]), float(hodl["max_drawdown"])
    if days is not None and not annualised_meaningful(days):
        mine, theirs = float(ballast["total_return"]), float(hodl["total_return"])
        sharpe_text = f"return {mine:+.1%} vs {theirs:+.1%} over {days:.0f} days"
    else:
        mine, theirs = float(ballast["sharpe"]), float(hodl["sharpe"])
        sharpe_text = f"Sharpe {mine:.2f} vs {theirs:.2f}"
    steadier = mine >= theirs
    shallower = drawdown >= hodl_drawdown
    drawdown_text = f"max drawdown {drawdown:.1%} vs {hodl_drawdown:.1%}"
    if steadier and shallower:
        head = f"Ballast beat holding, risk-adjusted ({sharpe_text}, {drawdown_text})"
    elif steadier or shallower:
        better, worse = ((sharpe_text, drawdown_text) if steadier
                         else (drawdown_text, sharpe_text))
        head = f"Ballast only partly beat holding (better {better}, but worse {worse})"
    else:
        head = f"Ballast did not beat holding ({sharpe_text}, {drawdown_text})"
    return f"{head}, {_cost(ballast, quote)}."


def _cost(ballast: Mapping[str, float | int], quote: str) -> str:
    fees = float(ballast.get("fees_paid", 0.0))
    if fees <= 0:
        return "and paid no fees"
    growth = 1.0 + float(ballast["total_return"])
    start = float(ballast["final_value"]) / growth if growth > 0 else 0.0
    share = f" ({fees / start:.1%} of the starting value)" if start > 0 else ""
    return f"and paid {fees:,.2f} {quote} in fees{share}"
