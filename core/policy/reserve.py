"""Why cash is where it is, in the owner's words (docs/rules.md, "The reserve"). Pure.

`/status`, the daily summary and the demo call `cash_reason` so the three say the same thing,
at the levels the policy acts on (`core.policy.bands`): cash above `max_cash` is no fault when
nothing is worth buying, and the owner is told so.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from decimal import Decimal

from core.config.rules import PolicySettings
from core.domain.models import AssetSignal, Portfolio, SignalKind
from core.policy.bands import CashLevel, bands, cash_level

BUYING = (SignalKind.STRONG_BUY, SignalKind.BUY)


def cash_reason(
    cash: Decimal,
    signals: Mapping[str, AssetSignal],
    held: Collection[str],
    settings: PolicySettings,
) -> str:
    """One sentence on the cash share `cash` (a fraction of the value) and why it is there.

    `signals` are the latest signals of the holdings and the watchlist, `held` the assets
    held now. E.g. "Cash 48%: no holding in an uptrend; waiting for a buy signal".
    """
    head = f"Cash {_pct(cash)}"
    levels = bands(settings)
    level = cash_level(cash, levels)
    if level <= CashLevel.WITHIN_BAND:
        # One decimal here: 24.6% must not read as "25%: below the 25% minimum".
        head, least = f"Cash {cash * 100:.1f}%", _pct(levels.min_cash)
        if not levels.raises_cash:
            return f"{head}: below the {least} minimum; raising it is off (maintain_reserve)"
        if level is CashLevel.WITHIN_BAND:
            return (f"{head}: just under the {least} minimum, within cash_band "
                    f"({_pct(settings.cash_band)}): too little to sell for")
        return f"{head}: below the {least} minimum; Ballast sells from the weakest holdings"
    if level is CashLevel.FINE:
        return (f"{head}: within the reserve ({_pct(levels.min_cash)}–"
                f"{_pct(levels.max_cash)})")
    buyers = sorted(name for name, s in signals.items() if s.signal in BUYING)
    if not settings.buy_in_downtrend:
        rising = [name for name in buyers if not signals[name].downtrend]
        if buyers and not rising:
            return (f"{head}: {_names(buyers)} signal{'s' if len(buyers) == 1 else ''} BUY but "
                    f"{'is' if len(buyers) == 1 else 'are'} in a downtrend; waiting for a buy "
                    "signal in an uptrend")
        buyers = rising
    if buyers:
        return (f"{head}: above the {_pct(levels.max_cash)} maximum; buying the strongest "
                f"BUY ({_names(buyers)})")
    holdings = [name for name in held if name in signals]
    if holdings and all(signals[name].downtrend for name in holdings):
        return f"{head}: no holding in an uptrend; waiting for a buy signal"
    return f"{head}: nothing has a buy signal; waiting for one"


def portfolio_cash_reason(
    portfolio: Portfolio, signals: Mapping[str, AssetSignal], settings: PolicySettings
) -> str | None:
    """`cash_reason` for a valued portfolio (None when it has no value to share out)."""
    if portfolio.total_value <= 0:
        return None
    held = [name for name, holding in portfolio.holdings.items() if not holding.dust]
    return cash_reason(portfolio.cash_allocation, signals, held, settings)


def _pct(fraction: Decimal) -> str:
    return f"{fraction * 100:.0f}%"


def _names(names: list[str]) -> str:
    return ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
