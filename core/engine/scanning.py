"""One scan: the account and its signals, read through the ports and passed through the sanity
gate, and what a scan tells the owner — exchange trouble and recovery, suspect account data,
changed signals on holdings, cash below the minimum — plus the value snapshots.

`ScanStep` keeps what scans learn between them (the latest scan, the outage, the gate); the
engine (`core.engine.loop`) decides when to scan and plans from the result.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from core.config.settings import Settings
from core.domain.models import AssetSignal, Portfolio, SignalKind
from core.domain.reference import OwnFill, Reference, with_fill
from core.domain.sanity import Gate, Limits, confirmed, judge
from core.engine.events import (
    CashBelowMinimum,
    EventBus,
    ExchangeRecovered,
    ExchangeTrouble,
    SignalChanged,
    SuspectData,
    SuspectDataCleared,
)
from core.engine.ports import Ports, Scan
from core.engine.state import CASH_ALERT, LAST_SCAN, LAST_SIGNALS, EngineState
from core.engine.summary import (
    reference_from_json,
    reference_to_json,
    signals_from_json,
    signals_to_json,
    snapshot_from_json,
)
from core.exchange.errors import ExchangeError
from core.policy.bands import CashLevel, bands, cash_level
from core.runtime.logs import log_event
from core.signals.words import contradicts_score, explain, vote_text

log = logging.getLogger(__name__)

# A new price or value level that then holds still this long is taken as real and planned from
# again (`core.domain.sanity.judge`); balance changes wait for the owner instead.
SETTLE_AFTER = timedelta(hours=1)
GATE_REFERENCE = "sanity:reference"
SANE_SNAPSHOT = "sanity:last_sane_scan"  # what Ballast kept before the reference: read on upgrade
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


def gate_limits(settings: Settings) -> Limits:
    """The sanity gate's limits under `settings` (docs/rules.md §6)."""
    return Limits(
        max_value_jump=settings.max_value_jump,
        max_price_jump=settings.max_price_jump,
        peg_band=settings.peg_band,
        max_balance_change=settings.max_balance_change,
        immaterial_share=settings.immaterial_share,
        min_order_value=settings.min_trade_value,
        settle_after=SETTLE_AFTER,
        delisted_after=timedelta(seconds=settings.delisted_after),
    )


class ScanStep:
    """Scans the account and remembers, between scans, what the next one compares against."""

    def __init__(self, state: EngineState, bus: EventBus) -> None:
        self.state = state
        self.bus = bus
        self.latest: Scan | None = None
        self.trouble_since: datetime | None = None
        self.failed_scans = 0
        self.last_error: str | None = None
        self.gate: Gate | None = None  # loaded from the database at the first scan
        self._previous_signals: dict[str, SignalKind] | None = None
        self._suspect_since: datetime | None = None
        self._running: asyncio.Future[Scan | None] | None = None

    @property
    def busy(self) -> bool:
        """Whether a scan is under way (a slow exchange, a large account)."""
        return self._running is not None

    async def scan(self, settings: Settings, ports: Ports, now: datetime, *,
                   orders_in_flight: bool = False) -> Scan | None:
        """Refresh portfolio and signals; None (and one trouble event per outage) on failure.

        Scans never overlap: one asked for while another runs gets that one's result when it
        is complete, so nothing is ever planned from a half-finished scan. With Ballast's own
        orders in flight the gate does not judge the scan: their fills may show in the balances
        before they are recorded (and fed to the gate's reference), and no plan is made
        meanwhile anyway.
        """
        running = self._running
        if running is None:
            running = self._running = asyncio.ensure_future(
                self._scan(settings, ports, now, orders_in_flight))
            running.add_done_callback(self._finished)
        return await asyncio.shield(running)

    def _finished(self, done: asyncio.Future[Scan | None]) -> None:
        if self._running is done:
            self._running = None

    async def _scan(self, settings: Settings, ports: Ports, now: datetime,
                    orders_in_flight: bool) -> Scan | None:
        try:
            portfolio = await ports.read_portfolio(now)
            signals = await ports.read_signals(portfolio, now)
        except ExchangeError as error:
            self.trouble(now, error)
            return None
        if self.trouble_since is not None:
            self.bus.publish(ExchangeRecovered(now, self.trouble_since, self.failed_scans))
            log.info("exchange answers again after %d failed scans", self.failed_scans)
        self.trouble_since = None
        self.failed_scans = 0
        self.last_error = None
        if not orders_in_flight:
            await self._judge(settings, portfolio, now)
        await self._signal_events(settings, portfolio, signals, now)
        await self._cash_event(settings, portfolio, now)
        latest = await self.state.latest_snapshot_at()
        if latest is None or now - latest >= timedelta(seconds=settings.rebalance_interval):
            await self.state.add_snapshot(portfolio, now)
        await self.state.set_time(LAST_SCAN, now)
        self.latest = Scan(now, portfolio, signals)
        log_event(log, "scan", "scan", total_value=f"{portfolio.total_value:.2f}",
                  cash=f"{portfolio.cash_allocation:.4f}", assets=len(signals))
        return self.latest

    @property
    def planning_on_hold(self) -> tuple[datetime, tuple[str, ...]] | None:
        """Since when and why the sanity gate holds planning back (None: it does not)."""
        if self._suspect_since is None or self.gate is None:
            return None
        return self._suspect_since, self.gate.problems

    def trouble(self, now: datetime, error: ExchangeError) -> None:
        """Count a failed exchange call; the first of an outage is told to the owner."""
        self.failed_scans += 1
        self.last_error = str(error)
        if self.trouble_since is None:
            self.trouble_since = now
            log.warning("exchange trouble: %s", error)
            self.bus.publish(ExchangeTrouble(now, str(error)))

    async def _judge(self, settings: Settings, portfolio: Portfolio, now: datetime) -> None:
        """Pass the scan through the sanity gate; tell the owner once when it closes or opens."""
        gate = await self._loaded_gate()
        before = gate
        gate = judge(gate, portfolio, now, gate_limits(settings))
        await self._adopt(gate, before, now)

    async def confirm(self, settings: Settings, now: datetime) -> Gate | None:
        """The owner confirms the latest scan's account as right: its balances and prices become
        the gate's reference, and the gate judges it again (None: no scan to confirm yet)."""
        if self.latest is None:
            return None
        gate = await self._loaded_gate()
        confirmed_gate = confirmed(gate, self.latest.portfolio, now, gate_limits(settings))
        log_event(log, "alert", "the owner confirmed the account as it is",
                  problems_left="; ".join(confirmed_gate.problems))
        await self._adopt(confirmed_gate, gate, now)
        return confirmed_gate

    async def own_fill(self, fill: OwnFill, quote: str) -> None:
        """Move the balance reference by one of Ballast's own fills (once per order)."""
        gate = await self._loaded_gate()
        if gate.reference is None:
            return
        reference = with_fill(gate.reference, fill, quote)
        if reference is not gate.reference:
            self.gate = replace(gate, reference=reference)
            await self.state.set(GATE_REFERENCE, reference_to_json(reference))

    @property
    def left_out(self) -> tuple[str, ...]:
        """Unpriced holdings the gate leaves out of planning without holding it, in words."""
        return self.gate.notes if self.gate is not None else ()

    async def _loaded_gate(self) -> Gate:
        if self.gate is None:
            self.gate = Gate(reference=await self._stored_reference())
        return self.gate

    async def _stored_reference(self) -> Reference | None:
        reference = reference_from_json(await self.state.get(GATE_REFERENCE))
        if reference is not None:
            return reference
        snapshot = snapshot_from_json(await self.state.get(SANE_SNAPSHOT))
        if snapshot is None:
            return None
        # Kept by an earlier Ballast: its prices start the history; the next sane scan sets the
        # balances.
        return Reference(accepted=snapshot,
                         price_history={a: (p,) for a, p in snapshot.prices.items()},
                         sampled_at=LONG_AGO, balances=None)

    async def _adopt(self, gate: Gate, before: Gate, now: datetime) -> None:
        self.gate = gate
        if gate.reference is not None and gate.reference is not before.reference:
            await self.state.set(GATE_REFERENCE, reference_to_json(gate.reference))
        if gate.notes != before.notes and gate.notes:
            log_event(log, "alert", "left out of planning", logging.WARNING,
                      assets="; ".join(gate.notes))
        if not gate.open and self._suspect_since is None:
            self._suspect_since = now
            log_event(log, "alert", "account data looks wrong; not planning from it",
                      logging.WARNING, problems="; ".join(gate.problems))
            self.bus.publish(SuspectData(now, gate.problems))
        elif gate.open and self._suspect_since is not None:
            self.bus.publish(SuspectDataCleared(now, self._suspect_since))
            log.info("account data plausible again; planning resumes")
            self._suspect_since = None

    async def _signal_events(
        self, settings: Settings, portfolio: Portfolio, signals: Mapping[str, AssetSignal],
        now: datetime,
    ) -> None:
        if self._previous_signals is None:
            self._previous_signals = signals_from_json(await self.state.get(LAST_SIGNALS))
        previous = self._previous_signals
        for asset, holding in sorted(portfolio.holdings.items()):
            current = signals.get(asset)
            before = previous.get(asset)
            if holding.dust or current is None or before is None or before == current.signal:
                continue
            self.bus.publish(
                SignalChanged(
                    now,
                    asset,
                    before,
                    current.signal,
                    current.score,
                    tuple(vote_text(vote) for vote in current.votes if vote.vote != 0),
                    explain(current, settings.signal) if contradicts_score(current) else "",
                )
            )
        self._previous_signals = {asset: s.signal for asset, s in signals.items()}
        await self.state.set(LAST_SIGNALS, signals_to_json(self._previous_signals))

    async def _cash_event(self, settings: Settings, portfolio: Portfolio, now: datetime) -> None:
        # Said only where the policy acts (below min_cash − cash_band), so the alert's promise
        # that the next plan raises cash holds.
        levels = bands(settings)
        below = portfolio.total_value > 0 and (
            cash_level(portfolio.cash_allocation, levels) is CashLevel.RAISED_NEXT)
        if below and not await self.state.get_flag(CASH_ALERT):
            self.bus.publish(CashBelowMinimum(now, portfolio.cash_allocation, settings.min_cash,
                                              levels.raise_cash_below, levels.raises_cash))
        await self.state.set_flag(CASH_ALERT, below)
