"""A plan in the owner's words: why each trade is made or skipped, what share of a holding a
sell takes, and why a buy chose its asset over the others.

The one table of words both front-ends use (Telegram and `ballast plan`'s text); the JSON keeps
the reason codes (docs/formats.md), which are a contract. Pure: plan parts in, text out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal

from core.domain.models import (
    Plan,
    PlannedTrade,
    Side,
    SignalKind,
    SkippedTrade,
    SkipReason,
    TradeReason,
)

# Why a trade is made: each reads after the trade ("SELL 0.49 ETH: it is over its maximum share").
TRADE_WORDS: dict[TradeReason, str] = {
    TradeReason.STOP_LOSS: "its price fell past the stop-loss below what it cost",
    TradeReason.SIGNAL_SELL: "its signal turned to sell",
    TradeReason.TRIM_TO_MAX: "it is over its maximum share of the portfolio",
    TradeReason.EXIT_BELOW_MIN: "it is under the minimum share worth keeping, so it goes whole",
    TradeReason.RAISE_CASH: "cash is below its minimum",
    TradeReason.BUY_SIGNAL: "its signal says buy",
}

# Why a considered trade was not made (docs/rules.md, skip reasons).
SKIP_WORDS: dict[SkipReason, str] = {
    SkipReason.MIN_HOLD: "bought too recently to sell",
    SkipReason.LOSS_GUARD: "it would sell at a loss past the guard, or buy under a stop-loss",
    SkipReason.NEVER_SELL: "you asked never to sell it",
    SkipReason.DUST: "too small for one order",
    SkipReason.UNPRICED: "no usable price",
    SkipReason.BELOW_MIN_TRADE: "the order would be below the exchange's minimum",
    SkipReason.TRADE_CAP: "enough trades in this plan already",
    SkipReason.CASH_FLOOR: "no cash to spare above the minimum",
    SkipReason.MAX_POSITION: "already at its maximum share",
    SkipReason.COOLDOWN: "sold too recently to buy back",
    SkipReason.WITHIN_BAND: "close enough to its limit: not worth a trade yet",
    SkipReason.NOT_WORTH_COST: "too small to be worth the fees",
    SkipReason.TURNOVER_BUDGET: "this period's trading budget is spent",
    SkipReason.CONVICTION: "already as large as its signal's strength asks",
    SkipReason.OWNER_HOLDING: "your own small holding, kept as you asked",
    SkipReason.DOWNTREND: "its price is falling (under its long average): the reserve waits",
    SkipReason.SNOOZED: "you rejected it; quiet until its snooze ends",
}


def trade_reasons(reasons: Iterable[TradeReason]) -> str:
    """Why a trade is made, its reasons joined ("it is over its maximum share …; cash is …")."""
    return "; ".join(TRADE_WORDS[reason] for reason in reasons)


def trade_why(trade: PlannedTrade) -> str:
    """Why `trade` is made: its reasons and, for a buy, why this asset (`trade.why`)."""
    words = trade_reasons(trade.reasons)
    return f"{words}: {trade.why}" if trade.why else words


def skip_reason(skip: SkippedTrade) -> str:
    """Why a considered trade was not made, in words."""
    return SKIP_WORDS[skip.reason]


def skips_worth_saying(plan: Plan) -> list[SkippedTrade]:
    """The skipped trades a person needs to hear of: not one of an asset and side the plan
    trades anyway for another reason (a trim within its band, beside a cash raise that sells the
    same asset). The JSON lists every skip (docs/formats.md)."""
    traded = {(trade.asset, trade.side) for trade in plan.trades}
    return [skip for skip in plan.skipped if (skip.asset, skip.side) not in traded]


def skipped_text(skip: SkippedTrade) -> str:
    """A skipped trade in one phrase: "ETH sell: close enough to its limit: not worth …"."""
    return f"{skip.asset} {skip.side.value}: {skip_reason(skip)}"


def share_sold(plan: Plan, trade: PlannedTrade) -> Decimal | None:
    """The fraction of the holding a sell takes (1 = all of it), from the plan's allocations
    before it; None for a buy or when the holding's value is not in the plan."""
    if trade.side is not Side.SELL:
        return None
    held = plan.before.get(trade.asset, Decimal(0)) * plan.total_value
    if held <= 0:
        return None
    return min(Decimal(1), trade.value / held)


def buy_choice(chosen: str, ranked: Sequence[tuple[str, SignalKind, float]],
               trend: str | None) -> str:
    """Why a buy went to `chosen`: its signal, score and trend, and where it ranked among the
    buy candidates `ranked` (name, kind, score; strongest first, as the policy buys them)."""
    kind, score = next((k, s) for name, k, s in ranked if name == chosen)
    head = f"{kind.value.replace('_', ' ')} at score {score:+.2f}"
    if trend is not None:
        head += f", trend {trend}"
    others = [f"{name} {s:+.2f}" for name, _, s in ranked if name != chosen]
    if not others:
        return f"{head}; the only buy signal"
    place = [name for name, _, _ in ranked].index(chosen) + 1
    rank = "the strongest" if place == 1 else f"number {place}"
    return (f"{head}; {rank} of {len(ranked)} buy signals (others: {', '.join(others)})")
