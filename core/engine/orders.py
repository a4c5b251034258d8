"""Ballast's own record of every order it sends, in the `orders` table.

An order row exists (state `planned`) before anything is sent, and is claimed (`sending`, with
the attempt counted) by a conditional UPDATE before the exchange is called. So every order that
can exist at the exchange has a row naming its client order id, and two runners can never both
claim the same send.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from core.domain.models import Plan, Side
from core.engine.codec import maybe_decimal, maybe_time, time_text
from core.exchange.base import Order, OrderStatus
from core.storage.store import Store


class OrderState(StrEnum):
    """Where one of Ballast's orders stands, as far as Ballast knows."""

    PLANNED = "planned"  # written, never sent
    SENDING = "sending"  # a create call was (or may have been) made; outcome not yet known
    OPEN = "open"  # the exchange has it and it is not finished
    FILLED = "filled"
    CANCELED = "canceled"  # finished by the exchange; `filled` says how much was done
    EXPIRED = "expired"
    REJECTED = "rejected"  # the exchange refused it
    SKIPPED = "skipped"  # Ballast decided not to send it (cash floor, below minimum …)
    NOT_SENT = "not_sent"  # left unsent after a crash: too late or prices moved

    @property
    def is_final(self) -> bool:
        return self not in (OrderState.PLANNED, OrderState.SENDING, OrderState.OPEN)


_FROM_EXCHANGE = {
    OrderStatus.OPEN: OrderState.OPEN,
    OrderStatus.FILLED: OrderState.FILLED,
    OrderStatus.CANCELED: OrderState.CANCELED,
    OrderStatus.EXPIRED: OrderState.EXPIRED,
    OrderStatus.REJECTED: OrderState.REJECTED,
}


def client_order_id(approval_id: str, trade_index: int) -> str:
    """The deterministic client order id of one trade of one approved plan.

    `bl-<approval>-<n>`: short (Binance allows 36 characters of `[.A-Z:/a-z0-9_-]`) and the
    same every time it is computed, so a lookup after a crash asks about exactly this order.
    """
    return f"bl-{approval_id}-{trade_index}"


_BALLAST_ID = re.compile(r"^bl-[0-9a-f]+-[0-9]+$")


def is_ballast_order(client_order_id: str) -> bool:
    """Whether a client order id has the shape of `client_order_id`: some Ballast sent it."""
    return bool(_BALLAST_ID.match(client_order_id))


@dataclass(frozen=True, slots=True)
class OrderRow:
    """One row of the `orders` table."""

    client_order_id: str
    approval_id: str
    trade_index: int
    symbol: str
    asset: str
    side: Side
    amount: Decimal
    planned_price: Decimal
    state: OrderState
    attempts: int
    sent_at: datetime | None
    exchange_order_id: str | None
    filled: Decimal
    average_price: Decimal | None
    cost: Decimal
    fee: Decimal
    fee_currency: str | None
    detail: str | None
    updated_at: datetime


class OrderRepo:
    """Orders in the `orders` table."""

    def __init__(self, store: Store) -> None:
        self._conn = store.conn

    async def add_planned(
        self, approval_id: str, plan: Plan, quote: str, now: datetime
    ) -> list[OrderRow]:
        """Write one `planned` row per trade (idempotent: existing rows are kept)."""
        rows = [
            (
                client_order_id(approval_id, index),
                approval_id,
                index,
                f"{trade.asset}/{quote}",
                trade.asset,
                trade.side.value,
                str(trade.amount),
                str(trade.price),
                time_text(now),
            )
            for index, trade in enumerate(plan.trades)
        ]
        await self._conn.executemany(
            "INSERT OR IGNORE INTO orders (client_order_id, approval_id, trade_index, symbol,"
            " asset, side, amount, planned_price, state, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'planned', ?)",
            rows,
        )
        return await self.for_approval(approval_id)

    async def for_approval(self, approval_id: str) -> list[OrderRow]:
        """The approval's orders in execution order: sells first, then buys, each by index."""
        async with self._conn.execute(
            "SELECT * FROM orders WHERE approval_id = ?"
            " ORDER BY CASE side WHEN 'sell' THEN 0 ELSE 1 END, trade_index",
            (approval_id,),
        ) as cursor:
            rows = await cursor.fetchall()
        return [_from_row(row) for row in rows]

    async def get(self, coid: str) -> OrderRow | None:
        """The order with this client order id, or None."""
        async with self._conn.execute(
            "SELECT * FROM orders WHERE client_order_id = ?", (coid,)
        ) as cursor:
            row = await cursor.fetchone()
        return None if row is None else _from_row(row)

    async def claim_send(self, row: OrderRow, amount: Decimal, now: datetime) -> bool:
        """Take the right to send `row` once more: only one caller wins for a given attempt."""
        cursor = await self._conn.execute(
            "UPDATE orders SET state = 'sending', attempts = attempts + 1, sent_at = ?,"
            " amount = ?, updated_at = ?"
            " WHERE client_order_id = ? AND state = ? AND attempts = ?",
            (
                time_text(now),
                str(amount),
                time_text(now),
                row.client_order_id,
                row.state.value,
                row.attempts,
            ),
        )
        won = cursor.rowcount == 1
        await cursor.close()
        return won

    async def record(
        self, coid: str, order: Order, now: datetime, detail: str | None = None
    ) -> OrderState:
        """Write what the exchange reports about the order; return the resulting state.

        `detail` (why it ended as it did, e.g. cancelled after `order_timeout`) replaces the
        stored one when given.
        """
        state = _FROM_EXCHANGE[order.status]
        await self._conn.execute(
            "UPDATE orders SET state = ?, exchange_order_id = ?, filled = ?, average_price = ?,"
            " cost = ?, fee = ?, fee_currency = ?, updated_at = ?, detail = COALESCE(?, detail)"
            " WHERE client_order_id = ? AND state IN ('planned', 'sending', 'open')",
            (
                state.value,
                order.exchange_order_id,
                str(order.filled),
                None if order.average_price is None else str(order.average_price),
                str(order.cost),
                str(order.fee),
                order.fee_currency,
                time_text(now),
                detail,
                coid,
            ),
        )
        return state

    async def close(self, coid: str, state: OrderState, detail: str, now: datetime) -> bool:
        """End an unfinished order without an exchange report (skipped, rejected, not sent)."""
        cursor = await self._conn.execute(
            "UPDATE orders SET state = ?, detail = ?, updated_at = ?"
            " WHERE client_order_id = ? AND state IN ('planned', 'sending', 'open')",
            (state.value, detail, time_text(now), coid),
        )
        changed = cursor.rowcount == 1
        await cursor.close()
        return changed

    async def note(self, coid: str, detail: str, now: datetime) -> None:
        """Say why an unfinished order stands as it does (e.g. its cancel failed)."""
        await self._conn.execute(
            "UPDATE orders SET detail = ?, updated_at = ? WHERE client_order_id = ?",
            (detail, time_text(now), coid),
        )

    async def left_open(self) -> list[OrderRow]:
        """Orders still open at the exchange though their approval has ended."""
        async with self._conn.execute(
            "SELECT orders.* FROM orders JOIN approvals ON approvals.id = orders.approval_id"
            " WHERE orders.state = 'open' AND approvals.state IN ('done', 'failed')"
            " ORDER BY orders.updated_at",
        ) as cursor:
            rows = await cursor.fetchall()
        return [_from_row(row) for row in rows]

    async def filled_since(self, since: datetime) -> list[OrderRow]:
        """Orders that traded something and were last updated after `since` (turnover)."""
        async with self._conn.execute(
            "SELECT * FROM orders WHERE CAST(filled AS REAL) > 0 AND updated_at > ?"
            " ORDER BY updated_at",
            (time_text(since),),
        ) as cursor:
            rows = await cursor.fetchall()
        return [_from_row(row) for row in rows]

    async def recent_filled(self, limit: int = 20) -> list[OrderRow]:
        """Orders that traded something, newest first (for history)."""
        async with self._conn.execute(
            "SELECT * FROM orders WHERE CAST(filled AS REAL) > 0"
            " ORDER BY updated_at DESC LIMIT ?",
            (limit,),
        ) as cursor:
            rows = await cursor.fetchall()
        return [_from_row(row) for row in rows]


def _from_row(row: sqlite3.Row) -> OrderRow:
    sent_at = maybe_time(row["sent_at"])
    updated_at = maybe_time(row["updated_at"])
    if updated_at is None:
        raise ValueError(f"order {row['client_order_id']} has no updated_at")
    return OrderRow(
        client_order_id=row["client_order_id"],
        approval_id=row["approval_id"],
        trade_index=int(row["trade_index"]),
        symbol=row["symbol"],
        asset=row["asset"],
        side=Side(row["side"]),
        amount=Decimal(row["amount"]),
        planned_price=Decimal(row["planned_price"]),
        state=OrderState(row["state"]),
        attempts=int(row["attempts"]),
        sent_at=sent_at,
        exchange_order_id=row["exchange_order_id"],
        filled=Decimal(row["filled"]),
        average_price=maybe_decimal(row["average_price"]),
        cost=Decimal(row["cost"]),
        fee=Decimal(row["fee"]),
        fee_currency=row["fee_currency"],
        detail=row["detail"],
        updated_at=updated_at,
    )
