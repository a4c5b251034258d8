"""A rejected trade stays quiet: Reject snoozes the plan's trades until something material changes.

Before, a rejected sell came back at the next plan (16 s later, or every hourly candle) under a
new id. Now each trade of a rejected plan is remembered with what it rested on — its price, the
asset's position level and the cash level (`core.policy.bands`), the asset's signal — and the
same trade (asset and side) is left out of later plans until one of these happens:

- the snooze ends (`reject_snooze`, 1 day by default; the owner can pick another length);
- the price moved more than `snooze_price_move` from the rejected plan's;
- the asset's share or the cash share crossed into another of the policy's bands;
- the asset's signal is of another kind (HOLD → SELL …).

A trade that comes back for such a reason is proposed again and forgotten by the snooze. The
snoozes are kept in `engine_state` (`snooze:<approval id>`), so a restart keeps them. The rules
(`still_quiet`, `set_aside`) are pure; `Snoozes` stores them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from core.domain.models import (
    Plan,
    PlannedTrade,
    Portfolio,
    Side,
    SignalKind,
    SkippedTrade,
    SkipReason,
)
from core.engine.outcomes import drift
from core.engine.ports import Scan, SnoozedNow
from core.engine.state import EngineState
from core.policy.bands import Bands, CashLevel, PositionLevel, cash_level, position_level
from core.runtime.logs import log_event
from core.storage.stored_json import StoredJson

log = logging.getLogger(__name__)

SNOOZE = "snooze:"  # + approval id


@dataclass(frozen=True, slots=True)
class Circumstances:
    """What a trade rested on when it was rejected (or what it rests on now)."""

    price: Decimal
    position: PositionLevel
    cash: CashLevel
    signal: SignalKind | None


@dataclass(frozen=True, slots=True)
class SnoozedTrade:
    """One rejected trade and what it rested on."""

    asset: str
    side: Side
    then: Circumstances


@dataclass(frozen=True, slots=True)
class Snooze:
    """The trades of one rejected plan, quiet until `until` unless something material changes."""

    approval_id: str
    until: datetime
    trades: tuple[SnoozedTrade, ...]


_SNOOZE_JSON = StoredJson(Snooze, "snooze")


def circumstances(
    trade: PlannedTrade, portfolio: Portfolio | None, signal: SignalKind | None, levels: Bands
) -> Circumstances:
    """What `trade` rests on in `portfolio` (None: the plan's own figures only)."""
    if portfolio is None or portfolio.total_value <= 0:
        return Circumstances(trade.price, PositionLevel.FINE, CashLevel.FINE, signal)
    holding = portfolio.holdings.get(trade.asset)
    share = holding.allocation if holding is not None else Decimal(0)
    return Circumstances(trade.price, position_level(share, levels),
                         cash_level(portfolio.cash_allocation, levels), signal)


def what_changed(then: Circumstances, now: Circumstances, price_move: Decimal) -> str | None:
    """The material change between rejecting a trade and now, in words (None: nothing)."""
    if drift(then.price, now.price) > price_move:
        return f"the price moved {now.price / then.price - 1:+.1%} since it was rejected"
    if now.position is not then.position:
        return "its share crossed into another band since it was rejected"
    if now.cash is not then.cash:
        return "the cash share crossed into another band since it was rejected"
    if then.signal is not None and now.signal is not None and now.signal is not then.signal:
        return f"its signal turned {now.signal.value} since it was rejected"
    return None


def set_aside(plan: Plan, quiet: set[tuple[str, Side]]) -> Plan:
    """`plan` without the trades that are snoozed (asset, side), each listed as skipped.

    The cash and allocations after the plan are corrected by each trade left out (at its own
    price and fee); buys left in are cut to the cash at execution as always.
    """
    kept: list[PlannedTrade] = []
    skipped: list[SkippedTrade] = []
    cash_after = plan.cash_after
    after = dict(plan.after)
    total = plan.total_value
    for trade in plan.trades:
        if (trade.asset, trade.side) not in quiet:
            kept.append(trade)
            continue
        skipped.append(SkippedTrade(trade.asset, trade.side, SkipReason.SNOOZED,
                                    "rejected by the owner; snoozed"))
        # Undo the trade: a sell no longer brings in value − fee, a buy no longer spends
        # value + fee.
        if trade.side is Side.SELL:
            cash_change = trade.value - trade.fee
        else:
            cash_change = -(trade.value + trade.fee)
        share_change = trade.value if trade.side is Side.SELL else -trade.value
        cash_after -= cash_change
        if total > 0:
            after["cash"] = after.get("cash", Decimal(0)) - cash_change / total
            after[trade.asset] = after.get(trade.asset, Decimal(0)) + share_change / total
    if not skipped:
        return plan
    return replace(plan, trades=tuple(kept), skipped=(*plan.skipped, *skipped),
                   cash_after=cash_after, after=after)


class Snoozes:
    """The snoozes of rejected plans, in `engine_state`."""

    def __init__(self, state: EngineState) -> None:
        self._state = state

    async def add(self, snooze: Snooze) -> None:
        """Keep `snooze` (replacing one of the same plan)."""
        await self._state.set(SNOOZE + snooze.approval_id, _SNOOZE_JSON.dump(snooze))

    async def get(self, approval_id: str) -> Snooze | None:
        """The snooze of a rejected plan, or None."""
        text = await self._state.get(SNOOZE + approval_id)
        return None if text is None else _SNOOZE_JSON.load(text)

    async def active(self, now: datetime) -> list[Snooze]:
        """The snoozes still running at `now`; ended ones are forgotten."""
        running = []
        for key, text in await self._state.with_prefix(SNOOZE):
            snooze = _SNOOZE_JSON.load(text)
            if snooze.until <= now or not snooze.trades:
                await self._state.delete(key)
            else:
                running.append(snooze)
        return running

    async def snooze_plan(
        self, approval_id: str, plan: Plan, scan: Scan | None, levels: Bands, until: datetime
    ) -> None:
        """Snooze every trade of the rejected `plan` until `until`, as `scan` saw them."""
        trades = []
        for trade in plan.trades:
            signal = scan.signals.get(trade.asset) if scan is not None else None
            then = circumstances(trade, scan.portfolio if scan is not None else None,
                                 signal.signal if signal else None, levels)
            trades.append(SnoozedTrade(trade.asset, trade.side, then))
        await self.add(Snooze(approval_id, until, tuple(trades)))

    async def leave_out(
        self, plan: Plan, scan: Scan, levels: Bands, price_move: Decimal, now: datetime
    ) -> tuple[Plan, tuple[SnoozedNow, ...]]:
        """`plan` without the trades the owner rejected, unless something material changed
        since; and the trades left out with when each snooze ends."""
        running = await self.active(now)
        if not running or plan.is_empty:
            return plan, ()
        quiet: set[tuple[str, Side]] = set()
        notes: list[SnoozedNow] = []
        for trade in plan.trades:
            for index, snooze in enumerate(running):
                match = next((t for t in snooze.trades
                              if (t.asset, t.side) == (trade.asset, trade.side)), None)
                if match is None:
                    continue
                signal = scan.signals.get(trade.asset)
                current = circumstances(trade, scan.portfolio,
                                        signal.signal if signal else None, levels)
                change = what_changed(match.then, current, price_move)
                if change is None:
                    quiet.add((trade.asset, trade.side))
                    notes.append(SnoozedNow(trade, snooze.approval_id, snooze.until))
                else:
                    # Kept current: a later trade woken from the same snooze must not
                    # store this one back.
                    running[index] = await self.wake(snooze, trade.asset, trade.side)
                    log_event(log, "snooze", f"{trade.side.value} {trade.asset} is proposed "
                              f"again: {change}", approval=snooze.approval_id)
        return set_aside(plan, quiet), tuple(notes)

    async def extend(self, approval_id: str, until: datetime) -> Snooze | None:
        """Keep a rejected plan's trades quiet until `until` instead (None: no such snooze)."""
        snooze = await self.get(approval_id)
        if snooze is None:
            return None
        snooze = replace(snooze, until=until)
        await self.add(snooze)
        return snooze

    async def wake(self, snooze: Snooze, asset: str, side: Side) -> Snooze:
        """Forget one trade of `snooze`: something material changed, so it may come back.
        Returns the snooze as it is now."""
        woken = replace(snooze, trades=tuple(
            t for t in snooze.trades if (t.asset, t.side) != (asset, side)))
        if woken.trades:
            await self.add(woken)
        else:
            await self._state.delete(SNOOZE + snooze.approval_id)
        return woken
