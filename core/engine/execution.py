"""Execution: an approved plan's orders sent once, sells before buys, results in SQLite.

The one rule that keeps orders from happening twice: an order whose outcome is unknown is
*looked up* at the exchange by its client order id, never simply sent again. It may be sent a
second time (same client order id) only when

* the exchange answers that it has no order with that id, and
* at least `resend_grace` has passed since the last send attempt.

The grace period covers a request still travelling when the lookup is made: Binance refuses a
signed request older than its `recvWindow` (ccxt sends 10 s), so after the grace (default 30 s)
a lost request can no longer turn into an order behind our back. The exchange itself is no
safety net here: Binance accepts a client order id again once the earlier order is no longer
open, and a market order is closed at once. Attempts are capped, and an order is never sent
after its approval went stale (`approval_ttl` after the owner approved it) or once its price
drifted more than `max_price_drift` from the plan; it is then `not_sent` and the next plan
starts from the real balances.

Orders end: each is a limit order `max_slippage` from the price seen just before it
is sent (`core.domain.rounding.protection_limit`), immediate-or-cancel where the exchange
supports it, so a market that moves against the plan does not fill at any price. An order
still open `order_timeout` after it was sent (an exchange without IOC, a stuck order) is
cancelled; what it filled is recorded and the plan ends with it.

Before every send the settings in force are asked again (`never_sell` is absolute) and the
account is checked for a second Ballast (`core.engine.guards`): a foreign Ballast order or a
free balance that moved stops the plan unsent and pauses trading.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from decimal import Decimal

from core.config.settings import Settings
from core.domain.models import Side
from core.domain.moments import moment, owner_zone
from core.engine.approvals import Approval, ApprovalRepo, ApprovalState
from core.engine.events import EventBus, ExecutionFailed, PlanExecuted
from core.engine.guards import AccountWatch, KnownBefore, settings_refusal
from core.engine.order_prices import PortfolioReader, affordable, current_price, price_limit
from core.engine.orders import OrderRepo, OrderRow, OrderState
from core.engine.outcomes import ExecutionReport, ending, order_result
from core.exchange.base import Exchange, Order, OrderRequest, OrderStatus
from core.exchange.errors import (
    AuthenticationFailed,
    BelowMinimum,
    ExchangeError,
    InsufficientFunds,
    InvalidOrder,
)
from core.runtime.logs import log_event

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
DEFAULT_RESEND_GRACE = timedelta(seconds=30)

# Refusals the exchange gives before creating anything: the order certainly does not exist.
_DEFINITE_REFUSALS = (InsufficientFunds, BelowMinimum, InvalidOrder, AuthenticationFailed)

FillRecorder = Callable[[OrderRow, Order], Awaitable[None]]
# Pauses trading and tells the owner, once, why (a second Ballast seems to trade the account).
Halt = Callable[[datetime, str], Awaitable[None]]


class Executor:
    """Sends an approval's orders and resumes unfinished ones; safe to call again at any time."""

    def __init__(
        self,
        exchange: Exchange,
        approvals: ApprovalRepo,
        orders: OrderRepo,
        settings: Settings,
        bus: EventBus,
        read_portfolio: PortfolioReader,
        record_fill: FillRecorder,
        resend_grace: timedelta = DEFAULT_RESEND_GRACE,
        halt: Halt | None = None,
        known_before: KnownBefore | None = None,
    ) -> None:
        self._exchange = exchange
        self._approvals = approvals
        self._orders = orders
        self._settings = settings
        self._bus = bus
        self._read_portfolio = read_portfolio
        self._record_fill = record_fill
        self._resend_grace = resend_grace
        self._halt = halt
        self._watch = AccountWatch(exchange, orders, settings.quote, known_before)
        self._running: set[str] = set()
        self._halted: dict[str, str] = {}  # approval id → why its remaining orders stay unsent
        self._stuck: set[str] = set()  # orders past order_timeout whose cancel failed

    def use_settings(self, settings: Settings) -> None:
        """Check every later send against `settings` (the chat changed them).

        The settings that shape an order (`max_slippage`, `order_timeout`, `approval_ttl`) are
        not offered in the chat, so only the policy's limits really change here.
        """
        self._settings = settings

    def is_running(self, approval_id: str) -> bool:
        """Whether this process is executing the approval right now."""
        return approval_id in self._running

    async def run(self, approval: Approval, now: datetime, resumed: bool) -> ExecutionReport:
        """Advance every order of an executing approval as far as it safely goes.

        Orders go in order (sells first); an order whose outcome is not yet known stops the pass,
        so no buy is sent before the sells' proceeds are known. Finishes the approval (done or
        failed, with an event) once every order is final. `resumed` marks a pass after a crash or
        an interruption (prices are checked again before every send in any case).
        """
        if approval.id in self._running:
            rows = await self._orders.for_approval(approval.id)
            return self._report(approval, rows, finished=False)
        self._running.add(approval.id)
        try:
            return await self._run(approval, now, resumed)
        finally:
            self._running.discard(approval.id)

    async def _run(self, approval: Approval, now: datetime, resumed: bool) -> ExecutionReport:
        del resumed  # every send re-checks its price (see `_send`)
        deadline = (approval.decided_at or approval.created_at) + timedelta(
            seconds=self._settings.approval_ttl
        )
        stuck: str | None = None
        for row in await self._orders.for_approval(approval.id):
            if row.state.is_final:
                continue
            if stuck is not None:  # its proceeds (or its funds) are not known: nothing after it
                await self._close(row, OrderState.NOT_SENT, stuck, now)
                continue
            state = await self._advance(row, approval, now, deadline)
            if not state.is_final and row.client_order_id in self._stuck:
                # The plan ends with what filled; the order is looked at again each scan.
                stuck = (f"not sent: {row.side.value} {row.asset} is still open at the "
                         "exchange (its cancel failed)")
            elif not state.is_final:
                rows = await self._orders.for_approval(approval.id)
                return self._report(approval, rows, finished=False)
        return await self._finish(approval, now)

    async def follow_up(self, now: datetime) -> list[OrderRow]:
        """Look again at orders left open at the exchange by plans that ended (their cancel
        failed): cancel them now and record how they ended. Returns the rows that ended."""
        ended = []
        for row in await self._orders.left_open():
            try:
                found = await self._exchange.cancel_order(row.symbol, row.client_order_id)
            except ExchangeError as error:
                log.warning("order %s is still open; cannot cancel it yet: %s",
                            row.client_order_id, error)
                continue
            if found is None:
                await self._close(row, OrderState.CANCELED, "the exchange no longer knows it",
                                  now)
            elif found.status is not OrderStatus.OPEN:
                await self._record(row, found, now, f"cancelled after its plan ended, with "
                                   f"{found.filled} of {found.amount} filled")
            else:
                continue
            self._stuck.discard(row.client_order_id)
            log_event(log, "order", f"order {row.client_order_id} left open is settled",
                      client_order_id=row.client_order_id)
            ended.append(row)
        return ended

    async def _advance(
        self, row: OrderRow, approval: Approval, now: datetime, deadline: datetime
    ) -> OrderState:
        if row.state in (OrderState.SENDING, OrderState.OPEN):
            try:
                found = await self._exchange.fetch_order_by_client_id(
                    row.symbol, row.client_order_id
                )
            except ExchangeError as error:
                log.warning("cannot look up order %s yet: %s", row.client_order_id, error)
                return row.state
            if found is not None:
                state = await self._record(row, found, now)
                if state is OrderState.OPEN:
                    return await self._cancel_if_late(row, now)
                return state
            if row.state is OrderState.OPEN:
                # Once open at the exchange, never sent again: past its deadline it is
                # cancelled (or closed, if the exchange no longer knows it).
                return await self._cancel_if_late(row, now)
            if row.sent_at is not None and now - row.sent_at < self._resend_grace:
                return row.state
        return await self._send(row, approval, now, deadline)

    async def _send(
        self, row: OrderRow, approval: Approval, now: datetime, deadline: datetime
    ) -> OrderState:
        if row.attempts >= MAX_ATTEMPTS:
            return await self._close(row, OrderState.NOT_SENT, f"gave up after {row.attempts}"
                                     " attempts with no answer from the exchange", now)
        if now > deadline:
            stale = moment(deadline, owner_zone(self._settings.timezone))
            return await self._close(row, OrderState.NOT_SENT, "too late to send: the approval"
                                     f" went stale at {stale}", now)
        refusal = self._halted.get(approval.id) or settings_refusal(row, self._settings)
        if refusal is not None:
            return await self._close(row, OrderState.NOT_SENT, refusal, now)
        amount = row.amount
        try:
            # Checked before every send, not only after a crash: time passes
            # between the approval's check and a buy that waits for the sells before it.
            last, moved = await current_price(self._exchange, row,
                                               self._settings.max_price_drift)
            if moved is not None or last is None:
                return await self._close(row, OrderState.NOT_SENT,
                                         moved or f"no current price for {row.symbol}", now)
            if row.side is Side.BUY:
                amount, why = await affordable(self._exchange, self._read_portfolio, row, now,
                                              self._settings)
                if amount <= 0:
                    return await self._close(row, OrderState.SKIPPED, why, now)
            limit = await price_limit(self._exchange, row, last, self._settings.max_slippage)
            # Last, right before the send: the nearer to it, the less a second bot can slip in.
            problem = await self._watch.before_send(row, approval, now)
        except ExchangeError as error:
            log.warning("cannot check %s before sending: %s", row.client_order_id, error)
            return row.state
        if problem is not None:
            await self._stop(approval.id, problem, now)
            return await self._close(row, OrderState.NOT_SENT, problem, now)
        if not await self._orders.claim_send(row, amount, now):
            current = await self._orders.get(row.client_order_id)
            return current.state if current else row.state
        request = OrderRequest(row.symbol, row.side, amount, row.client_order_id,
                               limit_price=limit)
        try:
            order = await self._exchange.create_order(request)
        except _DEFINITE_REFUSALS as error:
            return await self._close(row, OrderState.REJECTED, str(error), now)
        except ExchangeError as error:
            log.warning("order %s outcome unknown: %s", row.client_order_id, error)
            try:
                found = await self._exchange.fetch_order_by_client_id(
                    row.symbol, row.client_order_id
                )
            except ExchangeError:
                return OrderState.SENDING
            if found is None:
                return OrderState.SENDING
            order = found
        detail = None
        if order.filled < order.amount and order.status in (OrderStatus.EXPIRED,
                                                           OrderStatus.CANCELED):
            detail = (f"{order.filled} of {order.amount} filled within the price limit "
                      f"{limit} (max_slippage {self._settings.max_slippage:.1%}); the rest "
                      "expired")
        state = await self._record(row, order, now, detail)
        await self._look_after_send(row, approval.id, now)
        return state

    async def _look_after_send(self, row: OrderRow, approval_id: str, now: datetime) -> None:
        """Look for foreign orders again: one sent in the same instant shows only now."""
        try:
            problem = await self._watch.after_send(row, now)
        except ExchangeError as error:
            log.warning("cannot look for foreign orders after %s: %s", row.client_order_id,
                        error)
            return
        if problem is not None:
            await self._stop(approval_id, problem, now)

    async def _stop(self, approval_id: str, problem: str, now: datetime) -> None:
        """Leave the approval's remaining orders unsent and pause trading."""
        self._halted[approval_id] = f"not sent: {problem}"
        log_event(log, "alert", "a second Ballast seems to trade this account; trading paused",
                  logging.ERROR, approval=approval_id, problem=problem)
        if self._halt is not None:
            await self._halt(now, problem)

    async def _record(self, row: OrderRow, order: Order, now: datetime,
                      detail: str | None = None) -> OrderState:
        if OrderState(order.status.value).is_final and order.filled > 0:
            # Before the order row: if Ballast stops in between, the lookup after restart
            # records the fill again, and the recorder ignores the duplicate.
            await self._record_fill(row, order)
        return await self._orders.record(row.client_order_id, order, now, detail)

    async def _cancel_if_late(self, row: OrderRow, now: datetime) -> OrderState:
        """Cancel an order open past `order_timeout`; record how it ended (what it filled)."""
        sent = row.sent_at or row.updated_at
        timeout = self._settings.order_timeout
        if now - sent < timedelta(seconds=timeout):
            return OrderState.OPEN
        try:
            ended = await self._exchange.cancel_order(row.symbol, row.client_order_id)
        except ExchangeError as error:
            log_event(log, "order", f"order {row.client_order_id} open past order_timeout and "
                      f"its cancel failed: {error}", logging.WARNING,
                      client_order_id=row.client_order_id, filled=row.filled)
            self._stuck.add(row.client_order_id)
            await self._orders.note(row.client_order_id, f"open longer than order_timeout "
                                    f"({timeout} s) and the cancel failed ({error}); Ballast "
                                    "cancels it at the next scan", now)
            return OrderState.OPEN
        if ended is None:
            return await self._close(row, OrderState.CANCELED, "cancelled: the exchange no "
                                     "longer knows the order", now)
        if ended.status is OrderStatus.OPEN:
            return OrderState.OPEN  # the cancel is on its way; the next pass looks again
        log_event(log, "order", f"order {row.client_order_id} cancelled after {timeout} s",
                  logging.WARNING, client_order_id=row.client_order_id, filled=ended.filled,
                  amount=ended.amount)
        return await self._record(row, ended, now, f"open longer than order_timeout "
                                  f"({timeout} s): cancelled with {ended.filled} of "
                                  f"{ended.amount} filled")

    async def _close(self, row: OrderRow, state: OrderState, detail: str, now: datetime) -> (
        OrderState
    ):
        await self._orders.close(row.client_order_id, state, detail, now)
        current = await self._orders.get(row.client_order_id)
        return current.state if current else state

    async def _finish(self, approval: Approval, now: datetime) -> ExecutionReport:
        self._halted.pop(approval.id, None)
        rows = await self._orders.for_approval(approval.id)
        state, reason = ending(rows)
        results = tuple(order_result(row) for row in rows)
        if await self._approvals.finish(approval.id, state, reason, now):
            cash, share = await self._cash_now(now)
            if state is ApprovalState.DONE:
                self._bus.publish(PlanExecuted(now, approval.id, results, cash, share))
            else:
                self._bus.publish(ExecutionFailed(now, approval.id, reason, results, cash, share))
        current = await self._approvals.get(approval.id)
        final_state = current.state if current else state
        return ExecutionReport(approval.id, final_state, results, finished=True)

    async def _cash_now(self, now: datetime) -> tuple[Decimal | None, Decimal | None]:
        """The cash and its share of the value after the orders (the owner's first question
        after a trade); unknown when the exchange cannot say now."""
        try:
            portfolio = await self._read_portfolio(now)
        except ExchangeError as error:
            log.info("cash after the plan unknown: %s", error)
            return None, None
        return portfolio.cash_value, portfolio.cash_allocation

    def _report(
        self, approval: Approval, rows: list[OrderRow], finished: bool
    ) -> ExecutionReport:
        return ExecutionReport(
            approval.id,
            approval.state,
            tuple(order_result(row) for row in rows),
            finished,
        )
