"""The engine: scan → plan → approval → execution → events, on a clock that is passed in.

Every `scan_interval` the engine refreshes balances, prices and signals, and tells subscribers
about changed signals on holdings and a breached cash reserve (the scan itself:
`core.engine.scanning`). When a plan is due (every `rebalance_interval`, or once per closed
candle: `core.policy.pacing.decision_due`) or on demand, it makes a plan and proposes it as an
approval. `tick(now)` does one step and says when the next is due, so tests drive the engine
with a hand-held clock and never sleep; `run` is the same ticks on the wall clock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

from core.config.settings import Settings, SettingsError
from core.domain.models import ZERO
from core.domain.reference import OwnFill
from core.domain.sanity import Gate, plan_balances
from core.engine.approvals import ApprovalRepo, ApprovalState, Decision
from core.engine.decisions import approve, reject
from core.engine.events import (
    ApprovalClosed,
    EventBus,
    PlanProposed,
    TradingPaused,
)
from core.engine.execution import DEFAULT_RESEND_GRACE, Executor
from core.engine.orders import OrderRepo, OrderRow
from core.engine.ports import (
    Ports,
    Proposal,
    Scan,
    auto_approval_allowed,
    same_trades,
)
from core.engine.recovery import recover
from core.engine.scanning import ScanStep
from core.engine.snooze import Snoozes
from core.engine.state import LAST_PLAN, PAUSED, RESUMED_AT, EngineState
from core.exchange.base import Exchange, Order
from core.exchange.errors import ExchangeError
from core.policy.bands import bands
from core.policy.pacing import decision_due, traded_in_window
from core.runtime.logs import log_event
from core.runtime.periodic import sleep_or_stop
from core.storage.store import Store

log = logging.getLogger(__name__)

MAX_RETRY_DELAY = 30.0

class Engine:
    """The running bot's core; front-ends use it through `EngineService`."""

    def __init__(
        self,
        settings: Settings,
        exchange: Exchange,
        store: Store,
        ports: Ports,
        *,
        bus: EventBus | None = None,
        resend_grace: timedelta = DEFAULT_RESEND_GRACE,
    ) -> None:
        if settings.approval == "auto" and not auto_approval_allowed(settings):
            raise SettingsError(
                "approval = auto: live mode needs allow_live_auto = true as well "
                "(BALLAST_ALLOW_LIVE_AUTO=true) to trade without asking"
            )
        self.settings = settings
        self.exchange = exchange
        self.store = store
        self.approvals = ApprovalRepo(store)
        self.orders = OrderRepo(store)
        self.state = EngineState(store)
        self.ports = ports
        self.bus = bus or EventBus()
        self.resend_grace = resend_grace
        self.executor = Executor(
            exchange,
            self.approvals,
            self.orders,
            settings,
            self.bus,
            ports.read_portfolio,
            self._record_fill,
            resend_grace,
            halt=self.pause_for,
            known_before=lambda: self.state.get_time(RESUMED_AT),
        )
        self.scans = ScanStep(self.state, self.bus)
        self.snoozes = Snoozes(self.state)
        self.held: str | None = None  # why planning is held (`hold_planning`)
        self._plan_lock = asyncio.Lock()

    async def apply_settings(self, settings: Settings, ports: Ports, now: datetime) -> list[
            Proposal]:
        """Put `settings` changed in the chat, and the ports built from them, in force: every
        later send is checked against them, and each plan awaiting approval is superseded,
        planned again and the owner told. Returns the new proposals, one per superseded plan."""
        before = self.settings
        self.settings = settings
        self.ports = ports
        self.executor.use_settings(settings)
        changed = [name for name in type(settings).model_fields
                   if getattr(settings, name) != getattr(before, name)]
        if not changed:
            return []
        reason = "the settings changed (" + ", ".join(changed) + ")"
        proposals = []
        async with self._plan_lock:
            for waiting in await self.approvals.in_states(ApprovalState.PENDING):
                if waiting.expires_at <= now or not await self.approvals.supersede_pending(
                        waiting.id, now, reason):
                    continue
                proposal = await self._propose(now, on_demand=True, replaces=waiting.id,
                                               reason=reason)
                if proposal.approval is not None:
                    await self.approvals.set_replaced_by(waiting.id, proposal.approval.id)
                self.bus.publish(ApprovalClosed(now, waiting.id, ApprovalState.SUPERSEDED,
                                                f"{reason}; re-planned: {proposal.message}"))
                proposals.append(proposal)
        log_event(log, "approval", "settings changed; waiting plans re-planned",
                  changed=",".join(changed), replanned=len(proposals))
        return proposals

    async def _record_fill(self, row: OrderRow, order: Order) -> None:
        """Record one of Ballast's own fills, and move the sanity gate's balances by it."""
        await self.ports.record_fill(row, order)
        cost = order.cost or order.filled * (order.average_price or row.planned_price)
        await self.scans.own_fill(
            OwnFill(row.client_order_id, row.asset, row.side, order.filled, cost, order.fee,
                    order.fee_currency),
            self.settings.quote,
        )

    # -- the clock ---------------------------------------------------------------------------

    async def tick(self, now: datetime) -> datetime:
        """One step: settle approvals, scan, and plan when due. Returns when the next is due.
        A step due while a scan still runs is skipped: scans never pile up."""
        if self.scans.busy:
            log.warning("the previous scan is still running; skipping the scan due at %s", now)
            return now + timedelta(seconds=self.settings.scan_interval)
        await self.housekeeping(now)
        scan = await self.scan(now)
        if scan is not None and await self.plan_due(now):
            await self.plan(now, on_demand=False)
        if self.scans.trouble_since is not None:
            retry = min(float(self.settings.scan_interval), MAX_RETRY_DELAY,
                        2.0 ** min(self.scans.failed_scans, 5))
            return now + timedelta(seconds=retry)
        return now + timedelta(seconds=self.settings.scan_interval)

    async def run(self, clock: Callable[[], datetime], stop: asyncio.Event) -> None:
        """Tick on `clock` until `stop` is set; an unexpected error is logged, not fatal.

        Starts with housekeeping (start-up recovery when `start_engine(recover=False)`), so its
        outcome reaches whoever subscribed before the loop began.
        """
        try:
            await self.housekeeping(clock())
        except Exception:
            log.exception("start-up recovery failed; trying again at the next step")
        while not stop.is_set():
            try:
                wake = await self.tick(clock())
            except Exception:
                log.exception("scan failed unexpectedly; trying again next interval")
                wake = clock() + timedelta(seconds=self.settings.scan_interval)
            delay = max(0.0, (wake - clock()).total_seconds())
            await sleep_or_stop(stop, delay)

    def hold_planning(self, reason: str) -> None:
        """Make no automatic plan from now on (until a restart): nobody could see it."""
        self.held = reason

    async def plan_due(self, now: datetime) -> bool:
        """Whether a plan is due (`decision_due`), proposing is not paused and not held."""
        if self.held is not None or await self.is_paused():
            return False
        settings = self.settings
        return decision_due(
            await self.state.get_time(LAST_PLAN),
            now,
            plan_on=settings.plan_on,
            rebalance_interval=settings.rebalance_interval,
            timeframe=settings.timeframe,
        )

    async def traded_recently(self, now: datetime) -> Decimal:
        """Value of the stored fills within `turnover_period` (0 without a turnover budget)."""
        if self.settings.turnover_budget is None:
            return ZERO
        period = self.settings.turnover_period
        rows = await self.orders.filled_since(now - timedelta(seconds=period))
        return traded_in_window(((row.updated_at, row.cost) for row in rows), now, period)

    # -- approvals left behind ---------------------------------------------------------------

    async def housekeeping(self, now: datetime) -> None:
        """Expire stale approvals and settle or resume what a stopped Ballast left unfinished."""
        for approval_id in await self.approvals.expire_due(now):
            self.bus.publish(
                ApprovalClosed(now, approval_id, ApprovalState.EXPIRED,
                               "no decision before it expired")
            )
        await recover(
            self.approvals, self.orders, self.executor, self.bus, now, self.resend_grace
        )
        await self.executor.follow_up(now)  # orders left open by plans that ended

    # -- scanning ----------------------------------------------------------------------------

    async def scan(self, now: datetime) -> Scan | None:
        """Refresh portfolio and signals; None (and one trouble event per outage) on failure."""
        busy = await self.approvals.in_states(ApprovalState.APPROVED, ApprovalState.EXECUTING)
        return await self.scans.scan(self.settings, self.ports, now, orders_in_flight=bool(busy))

    @property
    def latest(self) -> Scan | None:
        """The latest successful scan since the last execution (None: none yet)."""
        return self.scans.latest

    @property
    def trouble_since(self) -> datetime | None:
        """When the current exchange outage began (None: the exchange answers)."""
        return self.scans.trouble_since

    @property
    def last_error(self) -> str | None:
        """Why the exchange failed the latest scan (None: it answered)."""
        return self.scans.last_error

    async def confirm_account(self, now: datetime) -> Gate | None:
        """The owner says the account as scanned now is right (a deposit, a withdrawal, a trade
        made elsewhere): its balances and prices become the sanity gate's reference, and
        planning resumes unless something still looks wrong (None: the exchange is not
        answering)."""
        if await self.scan(now) is None:
            return None
        return await self.scans.confirm(self.settings, now)

    @property
    def planning_on_hold(self) -> tuple[datetime, tuple[str, ...]] | None:
        """Since when and why the sanity gate holds planning back (None: it does not)."""
        return self.scans.planning_on_hold

    # -- planning ----------------------------------------------------------------------------

    async def plan(
        self, now: datetime, *, on_demand: bool = True, replaces: str | None = None,
        reason: str = "",
    ) -> Proposal:
        """Make a plan from a fresh scan and propose it; auto-approve it when allowed."""
        async with self._plan_lock:
            proposal = await self._propose(now, on_demand=on_demand, replaces=replaces,
                                           reason=reason)
        approval = proposal.approval
        if (
            approval is not None
            and not proposal.kept_pending
            and replaces is None
            and auto_approval_allowed(self.settings)
            and not await self.is_paused()
        ):
            decision = await self.approve(approval.id, "auto", now)
            return Proposal(approval, proposal.plan, decision.message, decision=decision)
        return proposal

    async def _propose(
        self, now: datetime, *, on_demand: bool, replaces: str | None, reason: str
    ) -> Proposal:
        busy = await self.approvals.in_states(ApprovalState.APPROVED, ApprovalState.EXECUTING)
        if busy:
            return Proposal(None, None, f"plan {busy[0].id} is still being executed")
        scan = self.scans.latest
        if on_demand or scan is None or scan.at != now:
            scan = await self.scan(now)
        if scan is None:
            return Proposal(None, None, f"the exchange is not answering: {self.scans.last_error}")
        gate = self.scans.gate
        if gate is not None and not gate.open:
            return Proposal(None, None, "not planning: the account data looks wrong ("
                            + "; ".join(gate.problems) + ")")
        try:
            facts = await self.ports.position_facts(scan.portfolio, now)
            markets = await self.exchange.load_markets()
        except ExchangeError as error:
            self.scans.trouble(now, error)
            return Proposal(None, None, f"the exchange is not answering: {error}")
        quote = self.settings.quote
        rules = {m.base: m.rules for m in markets.values() if m.quote == quote and m.active}
        traded = await self.traded_recently(now)
        made = self.ports.make_plan(scan.portfolio, scan.signals, facts, rules, now, traded)
        if not on_demand:
            await self.state.set_time(LAST_PLAN, now)
        plan, snoozed = await self.snoozes.leave_out(
            made, scan, bands(self.settings.policy), self.settings.snooze_price_move, now)
        if plan.is_empty and snoozed:
            return Proposal(None, made, "every trade of this plan was rejected and is snoozed",
                            snoozed=snoozed)
        if plan.is_empty:
            return Proposal(None, plan, "nothing to do: the portfolio is within its limits")
        for pending in await self.approvals.in_states(ApprovalState.PENDING):
            if (
                replaces is None
                and pending.expires_at > now
                and same_trades(pending.plan, plan, self.settings.max_price_drift)
            ):
                return Proposal(pending, pending.plan, f"plan {pending.id} still stands",
                                kept_pending=True)
        ttl = timedelta(seconds=self.settings.approval_ttl)
        approval, superseded = await self.approvals.propose(
            plan, now, ttl, balances=plan_balances(plan, scan.portfolio))
        for old in superseded:
            self.bus.publish(ApprovalClosed(now, old, ApprovalState.SUPERSEDED,
                                            f"replaced by plan {approval.id}"))
        auto = auto_approval_allowed(self.settings) and replaces is None
        self.bus.publish(PlanProposed(now, approval.id, plan, approval.expires_at, auto=auto,
                                      replaces=replaces, reason=reason))
        return Proposal(approval, plan, f"plan {approval.id} proposed")

    # -- decisions (core.engine.decisions) --------------------------------------------------

    async def approve(self, approval_id: str, by: str, now: datetime) -> Decision:
        """Approve and execute a pending plan once; re-plan instead if prices drifted.

        Holds the planning lock from the claim to the end of execution: a plan made meanwhile
        would rest on balances from before this execution and could sell the same thing twice.
        """
        async with self._plan_lock:
            return await approve(self, approval_id, by, now)

    async def reject(self, approval_id: str, by: str, now: datetime) -> Decision:
        """Reject a pending plan (final); its trades are snoozed for `reject_snooze`."""
        return await reject(self, approval_id, by, now)

    # -- pause -------------------------------------------------------------------------------

    async def is_paused(self) -> bool:
        """Whether automatic proposals are paused (persisted across restarts)."""
        return await self.state.get_flag(PAUSED)

    async def set_paused(self, paused: bool, at: datetime | None = None) -> None:
        """Pause or resume automatic proposals (`EngineState.set_paused`)."""
        await self.state.set_paused(paused, at)

    async def pause_for(self, now: datetime, reason: str) -> None:
        """Pause trading because of `reason`, and tell the owner once until they resume."""
        if await self.state.pause_unannounced():
            self.bus.publish(TradingPaused(now, reason))
