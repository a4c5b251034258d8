"""The service API front-ends call (Telegram, the terminal): one method per thing the owner asks.

Each method returns plain data; formatting belongs to the front-end. The clock is the service's,
so a front-end never passes times around.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from core.account.pnl import Profit, holding_curve, realised_sells
from core.account.profit import account_fills, read_profit
from core.config.settings import Settings
from core.domain.models import AssetSignal, Portfolio, PositionFacts, Side
from core.engine.approvals import Approval, ApprovalState, Decision
from core.engine.codec import time_text
from core.engine.events import EventBus, Subscription
from core.engine.loop import Engine
from core.engine.orders import OrderRow
from core.engine.ports import Proposal, Scan, auto_approval_allowed
from core.engine.state import LAST_PLAN, LAST_SCAN, PLAN_MESSAGE, Snapshot
from core.exchange.errors import ExchangeError
from core.policy.pacing import next_decision_at
from core.policy.reserve import portfolio_cash_reason

# /profit's "since start" and the value chart read every snapshot (one per rebalance_interval:
# 9k a year hourly) and every filled order.
ALL_SNAPSHOTS = 1_000_000


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
    realised: dict[str, Decimal | None] = field(default_factory=dict)
    """Each sell's realised P&L at average cost by client order id (None: cost unknown)."""


@dataclass(frozen=True, slots=True)
class ValueHistory:
    """The value over time: snapshots (oldest first), what holding the first snapshot's
    holdings would have been worth at each (None: not known there), Ballast's trades' times."""

    snapshots: list[Snapshot]
    holding: list[Decimal | None]
    buys: list[datetime]
    sells: list[datetime]


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
    # Unpriced holdings left out of planning without holding it (docs/rules.md §6).
    left_out: tuple[str, ...] = ()
    # Why cash is where it is, in words (`core.policy.reserve.cash_reason`; None: no scan yet).
    cash_reason: str | None = None


@dataclass(frozen=True, slots=True)
class AccountConfirmed:
    """What confirming the account did: planning resumes unless `still_wrong` says otherwise."""

    answered: bool  # False: the exchange did not answer, nothing was confirmed
    still_wrong: tuple[str, ...] = ()


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

    async def current_scan(self) -> Scan:
        """The latest scan, or a scan now if there is none: the portfolio and the signals of
        one moment, without the trade history that cost bases need."""
        scan = self.engine.latest or await self.engine.scan(self.clock())
        if scan is None:
            raise ServiceError(f"the exchange is not answering: {self.engine.last_error}")
        return scan

    async def portfolio(self) -> PortfolioView:
        """The latest scan's portfolio (scanning now if there is none), with cost bases."""
        now = self.clock()
        scan = await self.current_scan()
        try:
            facts = await self.engine.ports.position_facts(scan.portfolio, now)
        except ExchangeError:
            facts = {}
        return PortfolioView(scan.at, scan.portfolio, dict(scan.signals), facts)

    async def signals(self) -> dict[str, AssetSignal]:
        """Each asset's latest signal with its votes and reasons."""
        return dict((await self.current_scan()).signals)

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
        """Reject a pending plan; its trades are snoozed for `reject_snooze`."""
        return await self.engine.reject(approval_id, by, self.clock())

    async def snooze_for(self, approval_id: str, length: timedelta) -> Decision:
        """Keep a rejected plan's trades quiet for `length` from now instead."""
        snooze = await self.engine.snoozes.extend(approval_id, self.clock() + length)
        if snooze is None:
            return Decision(False, approval_id, None,
                            f"plan {approval_id} has no snooze (not rejected, or it ended)")
        return Decision(True, approval_id, ApprovalState.REJECTED,
                        f"plan {approval_id} snoozed until {time_text(snooze.until)}",
                        snoozed_until=snooze.until)

    def hold_planning(self, reason: str) -> None:
        """Make no automatic plan until Ballast restarts (`reason`: why, for /status)."""
        self.engine.hold_planning(reason)

    async def approval(self, approval_id: str) -> Approval | None:
        """The approval with this id (any state), or None."""
        return await self.engine.approvals.get(approval_id)

    async def pending(self) -> list[Approval]:
        """Plans waiting for a decision, oldest first."""
        now = self.clock()
        waiting = await self.engine.approvals.in_states(ApprovalState.PENDING)
        return [a for a in waiting if a.expires_at > now]

    async def confirm_account(self) -> AccountConfirmed:
        """The owner confirms the account as it is now (after a safety alert about balances):
        its balances and prices become the sanity gate's reference."""
        gate = await self.engine.confirm_account(self.clock())
        if gate is None:
            return AccountConfirmed(False, (f"the exchange is not answering: "
                                            f"{self.engine.last_error}",))
        return AccountConfirmed(True, gate.problems)

    async def profit(self, since: datetime | None = None) -> Profit:
        """/profit: value change, realised P&L and fees for today (since midnight in the
        owner's `timezone`, or `since`), 7 days, 30 days and since the start, beside holding
        (core.account.pnl)."""
        now = self.clock()
        scan = await self.current_scan()
        snapshots = await self.engine.state.snapshots(limit=ALL_SNAPSHOTS)
        local = now.astimezone(ZoneInfo(self.engine.settings.timezone))
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)
        try:
            return await read_profit(
                self.engine.store, self.engine.exchange, scan.portfolio,
                [(s.at, s.total_value) for s in snapshots], now=now,
                day_start=midnight if since is None else since)
        except ExchangeError as error:
            raise ServiceError(f"the exchange is not answering: {error}") from None

    async def value_history(self) -> ValueHistory:
        """The value snapshots with, beside them, what holding would have left and Ballast's
        own trades (for the value chart)."""
        snapshots = await self.engine.state.snapshots()
        scan = self.engine.latest
        own = await self.engine.orders.recent_filled(ALL_SNAPSHOTS)
        holding: list[Decimal | None] = [None] * len(snapshots)
        if scan is not None and snapshots:
            quote = self.engine.settings.quote
            fills = await account_fills(self.engine.store, self.engine.exchange,
                                        set(scan.portfolio.holdings), quote)
            amounts = {a: h.amount for a, h in scan.portfolio.holdings.items()}
            holding = holding_curve([(s.at, s.total_value, s.allocations) for s in snapshots],
                                    fills, amounts)
        return ValueHistory(
            snapshots=snapshots,
            holding=holding,
            buys=[row.updated_at for row in own if row.side is Side.BUY],
            sells=[row.updated_at for row in own if row.side is Side.SELL],
        )

    async def pause(self) -> None:
        """Stop proposing plans (scans and alerts go on)."""
        await self.engine.set_paused(True)

    async def resume(self) -> None:
        """Start proposing plans again (and trading, after a pause Ballast made itself)."""
        await self.engine.set_paused(False, self.clock())

    async def history(self, limit: int = 20) -> History:
        """Recent approvals and trades, and the value history."""
        trades = await self.engine.orders.recent_filled(limit)
        return History(
            approvals=await self.engine.approvals.recent(limit),
            trades=trades,
            snapshots=await self.engine.state.snapshots(),
            realised=await self._realised(trades),
        )

    async def _realised(self, trades: list[OrderRow]) -> dict[str, Decimal | None]:
        """The realised P&L of the sells among `trades`, from the account's trade history."""
        sold = {row.asset for row in trades if row.side is Side.SELL}
        if not sold:
            return {}
        quote = self.engine.settings.quote
        # Only the sold assets' histories: each asset's realised P&L depends on its own alone.
        fills = await account_fills(self.engine.store, self.engine.exchange, sold, quote,
                                    every_traded=False)
        by_order: dict[str, list[Decimal | None]] = {}
        for sell in realised_sells(fills, quote):
            if sell.fill.order_id is not None:
                by_order.setdefault(sell.fill.order_id, []).append(sell.realised)
        result: dict[str, Decimal | None] = {}
        for row in trades:
            if row.side is not Side.SELL:
                continue
            found = by_order.get(row.exchange_order_id or "") or by_order.get(row.client_order_id)
            if found:
                known = [r for r in found if r is not None]
                result[row.client_order_id] = sum(known, Decimal(0)) if len(known) == len(
                    found) else None
        return result

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
        scan = self.latest_scan
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
            left_out=engine.scans.left_out,
            cash_reason=(portfolio_cash_reason(scan.portfolio, scan.signals, settings.policy)
                         if scan is not None else None),
        )
