"""The service API front-ends call (Telegram, the terminal): one method per thing the owner asks.

Each method returns plain data; formatting belongs to the front-end. The clock is the service's,
so a front-end never passes times around.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from core.config.settings import Settings
from core.domain.models import AssetSignal, Portfolio, PositionFacts
from core.engine.approvals import Approval, ApprovalState, Decision
from core.engine.events import EventBus, Subscription
from core.engine.loop import Engine
from core.engine.orders import OrderRow
from core.engine.ports import Proposal, Scan, auto_approval_allowed
from core.engine.state import LAST_PLAN, LAST_SCAN, PLAN_MESSAGE, Snapshot
from core.exchange.errors import ExchangeError
from core.policy.pacing import next_decision_at


@dataclass(frozen=True, slots=True)
class PortfolioView:
    """The portfolio with each asset's signal and, where known, cost basis."""

    at: datetime
    portfolio: Portfolio
    signals: dict[str, AssetSignal]
    facts: dict[str, PositionFacts]


@dataclass(frozen=True, slots=True)
class History:
    """Recent plans, the orders that traded, and value snapshots (oldest first)."""

    approvals: list[Approval]
    trades: list[OrderRow]
    snapshots: list[Snapshot]


@dataclass(frozen=True, slots=True)
class Status:
    """How the engine is doing, for /status."""

    mode: str
    exchange: str
    approval: str
    auto_approval: bool
    paused: bool
    last_scan: datetime | None
    next_plan: datetime | None
    exchange_ok: bool
    trouble_since: datetime | None
    last_error: str | None
    pending: list[Approval]
    executing: list[Approval]
    # Since when and why implausible account data holds planning back (docs/rules.md).
    on_hold_since: datetime | None = None
    on_hold_because: tuple[str, ...] = ()


class ServiceError(Exception):
    """The service cannot answer right now (e.g. the exchange is not reachable)."""


class EngineService:
    """What a front-end may ask of the engine."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime]) -> None:
        self.engine = engine
        self.clock = clock

    @property
    def settings(self) -> Settings:
        """The settings in force: the chat's changes over the file and the environment."""
        return self.engine.settings

    @property
    def latest_scan(self) -> Scan | None:
        """The latest successful scan since the last execution (None: none yet)."""
        return self.engine.latest

    @property
    def last_error(self) -> str | None:
        """Why the exchange failed the latest scan (None: it answered)."""
        return self.engine.last_error

    async def recall(self, key: str) -> str | None:
        """A fact an operation beside the engine keeps across restarts (None: never kept)."""
        return await self.engine.state.get(key)

    async def remember(self, key: str, value: str) -> None:
        """Keep a fact for `recall`, e.g. the day the daily summary was last posted."""
        await self.engine.state.set(key, value)

    @property
    def bus(self) -> EventBus:
        """The engine's event stream."""
        return self.engine.bus

    def subscribe(self) -> Subscription:
        """Receive every event from now on."""
        return self.engine.bus.subscribe()

    async def plan_message(self, approval_id: str) -> tuple[int, int] | None:
        """Where a front-end showed an approval (chat id, message id), kept across restarts."""
        text = await self.engine.state.get(f"{PLAN_MESSAGE}{approval_id}")
        if not text:
            return None
        chat, _, message = text.partition(":")
        return int(chat), int(message)

    async def set_plan_message(self, approval_id: str, where: tuple[int, int] | None) -> None:
        """Remember (or, with None, forget) where an approval is shown."""
        key = f"{PLAN_MESSAGE}{approval_id}"
        if where is None:
            await self.engine.state.delete(key)
        else:
            await self.engine.state.set(key, f"{where[0]}:{where[1]}")

    async def portfolio(self) -> PortfolioView:
        """The latest scan's portfolio (scanning now if there is none), with cost bases."""
        now = self.clock()
        scan = self.engine.latest or await self.engine.scan(now)
        if scan is None:
            raise ServiceError(f"the exchange is not answering: {self.engine.last_error}")
        try:
            facts = await self.engine.ports.position_facts(scan.portfolio, now)
        except ExchangeError:
            facts = {}
        return PortfolioView(scan.at, scan.portfolio, dict(scan.signals), facts)

    async def signals(self) -> dict[str, AssetSignal]:
        """Each asset's latest signal with its votes and reasons."""
        scan = self.engine.latest or await self.engine.scan(self.clock())
        if scan is None:
            raise ServiceError(f"the exchange is not answering: {self.engine.last_error}")
        return dict(scan.signals)

    async def listed_assets(self) -> set[str]:
        """The assets the exchange lists against the quote (for checking typed symbols)."""
        quote = self.engine.settings.quote
        markets = await self.engine.exchange.load_markets()
        return {m.base for m in markets.values() if m.quote == quote and m.active}

    async def plan_now(self) -> Proposal:
        """Make a plan now and propose it (works while paused: it was asked for)."""
        return await self.engine.plan(self.clock(), on_demand=True)

    async def approve(self, approval_id: str, by: str) -> Decision:
        """Approve a pending plan: executed once, or re-planned if prices drifted."""
        return await self.engine.approve(approval_id, by, self.clock())

    async def reject(self, approval_id: str, by: str) -> Decision:
        """Reject a pending plan."""
        return await self.engine.reject(approval_id, by, self.clock())

    async def pending(self) -> list[Approval]:
        """Plans waiting for a decision, oldest first."""
        now = self.clock()
        waiting = await self.engine.approvals.in_states(ApprovalState.PENDING)
        return [a for a in waiting if a.expires_at > now]

    async def pause(self) -> None:
        """Stop proposing plans (scans and alerts go on)."""
        await self.engine.set_paused(True)

    async def resume(self) -> None:
        """Start proposing plans again (and trading, after a pause Ballast made itself)."""
        await self.engine.set_paused(False, self.clock())

    async def history(self, limit: int = 20) -> History:
        """Recent approvals and trades, and the value history."""
        return History(
            approvals=await self.engine.approvals.recent(limit),
            trades=await self.engine.orders.recent_filled(limit),
            snapshots=await self.engine.state.snapshots(),
        )

    async def next_plan_at(self) -> datetime | None:
        """When the next automatic plan is due (None: at the next scan)."""
        last = await self.engine.state.get_time(LAST_PLAN)
        if last is None:
            return None
        settings = self.engine.settings
        return next_decision_at(last, plan_on=settings.plan_on,
                                rebalance_interval=settings.rebalance_interval,
                                timeframe=settings.timeframe)

    async def status(self) -> Status:
        """Mode, exchange, last scan, next plan, trouble and open approvals."""
        engine = self.engine
        settings = engine.settings
        hold = engine.planning_on_hold
        return Status(
            mode=settings.mode,
            exchange=engine.exchange.name,
            approval=settings.approval,
            auto_approval=auto_approval_allowed(settings),
            paused=await engine.is_paused(),
            last_scan=await engine.state.get_time(LAST_SCAN),
            next_plan=await self.next_plan_at(),
            exchange_ok=engine.trouble_since is None,
            trouble_since=engine.trouble_since,
            last_error=engine.last_error,
            pending=await self.pending(),
            executing=await engine.approvals.in_states(
                ApprovalState.APPROVED, ApprovalState.EXECUTING
            ),
            on_hold_since=hold[0] if hold else None,
            on_hold_because=hold[1] if hold else (),
        )
