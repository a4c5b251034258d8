"""The plain sentences a backtest ends with: what the rules left in money against holding, then
at what risk, then at what cost.

Pure: a backtest's summary (docs/formats.md) in, text out. Money comes first because it is what
the owner would have had: a steadier ride that ends with less is said as "less", never as a win.
Then the drawdown (how deep the worst fall was), then the Sharpe ratio when the period is long
enough for it (`annualised_meaningful`), then the fees, also as a share of the starting value.
"""

from __future__ import annotations

from collections.abc import Mapping

from core.backtest.metrics import annualised_meaningful

# Final values this close (a fraction of holding's) count as the same money.
SAME_MONEY = 0.0005


def verdict(
    summary: Mapping[str, Mapping[str, float | int]], quote: str, *, days: float | None = None
) -> str:
    """Money against holding first, then the drawdown, the Sharpe ratio and the fees (module
    docs). Over a period of `days` too short for annualised figures the Sharpe ratio is n/a."""
    ballast, hodl = summary["ballast"], summary["hodl"]
    return " ".join([_money(ballast, hodl, quote), _risk(ballast, hodl, days),
                     _cost(ballast, quote)])


def _money(ballast: Mapping[str, float | int], hodl: Mapping[str, float | int],
           quote: str) -> str:
    mine, theirs = float(ballast["final_value"]), float(hodl["final_value"])
    difference = mine - theirs
    drawdown = _drawdown(ballast, hodl)
    if abs(difference) <= SAME_MONEY * abs(theirs):
        head = f"You'd have ended with about what holding left ({mine:,.0f} {quote})"
    else:
        more = "more" if difference > 0 else "less"
        head = (f"You'd have ended with {abs(difference):,.0f} {quote} {more} than by holding "
                f"({mine:,.0f} against {theirs:,.0f})")
    return f"{head}, {drawdown}."


def _drawdown(ballast: Mapping[str, float | int], hodl: Mapping[str, float | int]) -> str:
    mine, theirs = float(ballast["max_drawdown"]), float(hodl["max_drawdown"])
    points = round((mine - theirs) * 100)
    figures = f"{_pct(mine)} against {_pct(theirs)}"
    if points == 0:
        return f"with a drawdown as deep as holding's ({figures})"
    depth = "shallower" if points > 0 else "deeper"
    unit = "point" if abs(points) == 1 else "points"
    return f"with a drawdown {abs(points)} {unit} {depth} ({figures})"


def _risk(ballast: Mapping[str, float | int], hodl: Mapping[str, float | int],
          days: float | None) -> str:
    if days is not None and not annualised_meaningful(days):
        return f"Risk-adjusted figures are n/a over {days:.0f} days."
    mine, theirs = float(ballast["sharpe"]), float(hodl["sharpe"])
    if round(mine, 2) == round(theirs, 2):
        how = "as well as holding"
    else:
        how = "better than holding" if mine > theirs else "worse than holding"
    return f"Risk-adjusted, Ballast did {how} (Sharpe {mine:.2f} against {theirs:.2f})."


def _pct(fraction: float) -> str:
    return f"{fraction:.1%}".replace("-", "−")


def _cost(ballast: Mapping[str, float | int], quote: str) -> str:
    fees = float(ballast.get("fees_paid", 0.0))
    if fees <= 0:
        return "No fees paid."
    growth = 1.0 + float(ballast["total_return"])
    start = float(ballast["final_value"]) / growth if growth > 0 else 0.0
    # Small shares keep a digit that is not zero: 0.05%, not 0.0%.
    share = (f" ({fees / start:.{1 if fees / start >= 0.001 else 2}%} of the starting value)"
             if start > 0 else "")
    return f"Fees paid: {fees:,.2f} {quote}{share}."
