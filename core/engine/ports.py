"""What the engine is plugged into, and the plain results of its steps.

`Ports` are the engine's ways into the rest of core (the account, signals, cost basis, policy
and fill records); `core.engine.wiring` connects the real ones, tests may connect their own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from core.config.rules import PolicySettings
from core.config.settings import Settings
from core.domain.models import (
    AssetSignal,
    MarketRules,
    Plan,
    PlannedTrade,
    Portfolio,
    PositionFacts,
)
from core.engine.approvals import Approval, Decision
from core.engine.execution import FillRecorder
from core.engine.order_prices import PortfolioReader
from core.engine.outcomes import drift
from core.policy import PlanInput, make_plan

SignalReader = Callable[[Portfolio, datetime], Awaitable[dict[str, AssetSignal]]]
FactsReader = Callable[[Portfolio, datetime], Awaitable[dict[str, PositionFacts]]]
Planner = Callable[
    [
        Portfolio,
        Mapping[str, AssetSignal],
        Mapping[str, PositionFacts],
        Mapping[str, MarketRules],
        datetime,
        Decimal,  # value traded within turnover_period (`PlanInput.traded_recently`)
    ],
    Plan,
]


def policy_planner(policy: PolicySettings, watchlist: Sequence[str]) -> Planner:
    """The plan port: `core.policy.make_plan` under `policy`, with `watchlist` carried along.

    The live wiring and the backtest's engine run both plug this in, so they plan alike.
    """

    def plan(
        portfolio: Portfolio,
        signals: Mapping[str, AssetSignal],
        positions: Mapping[str, PositionFacts],
        markets: Mapping[str, MarketRules],
        now: datetime,
        traded_recently: Decimal,
    ) -> Plan:
        return make_plan(
            PlanInput(
                portfolio=portfolio,
                signals=dict(signals),
                positions=dict(positions),
                markets=dict(markets),
                watchlist=watchlist,
                now=now,
                traded_recently=traded_recently,
            ),
            policy,
        )

    return plan


@dataclass(frozen=True, slots=True)
class Ports:
    """The engine's ways into the rest of core."""

    read_portfolio: PortfolioReader
    read_signals: SignalReader
    position_facts: FactsReader
    make_plan: Planner
    record_fill: FillRecorder


@dataclass(frozen=True, slots=True)
class Scan:
    """What one successful scan saw."""

    at: datetime
    portfolio: Portfolio
    signals: dict[str, AssetSignal]


@dataclass(frozen=True, slots=True)
class SnoozedNow:
    """A trade the plan would make but the owner rejected: quiet until `until`."""

    trade: PlannedTrade
    rejected_plan: str
    until: datetime


@dataclass(frozen=True, slots=True)
class Proposal:
    """The outcome of asking for a plan: the approval proposed (or kept), or why there is none.

    `snoozed`: the trades left out because the owner rejected them (`core.engine.snooze`).
    """

    approval: Approval | None
    plan: Plan | None
    message: str
    kept_pending: bool = False
    decision: Decision | None = None
    snoozed: tuple[SnoozedNow, ...] = ()


def auto_approval_allowed(settings: Settings) -> bool:
    """Auto approval runs in paper mode, and in live mode only with `allow_live_auto` too."""
    return settings.approval == "auto" and (settings.mode == "paper" or settings.allow_live_auto)


def same_trades(a: Plan, b: Plan, tolerance: Decimal) -> bool:
    """Whether two plans trade the same assets the same way in amounts within `tolerance`."""
    if [(t.side, t.asset) for t in a.trades] != [(t.side, t.asset) for t in b.trades]:
        return False
    pairs = zip(a.trades, b.trades, strict=True)
    return all(drift(x.amount, y.amount) <= tolerance for x, y in pairs)


def price_moves(plan: Plan, prices: Mapping[str, object], quote: str, limit: Decimal
                ) -> list[str]:
    """The plan's trades whose price moved more than `limit` since the plan (or has none)."""
    moves = []
    for trade in plan.trades:
        price = prices.get(f"{trade.asset}/{quote}")
        last = getattr(price, "last", None)
        if not isinstance(last, Decimal) or last <= 0:
            moves.append(f"{trade.asset} has no current price")
            continue
        if drift(trade.price, last) > limit:
            moves.append(f"{trade.asset} {last / trade.price - 1:+.1%} (limit {limit:.1%})")
    return moves
