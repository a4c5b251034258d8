"""Approvals: the state machine of docs/approval.md, stored in SQLite.

    pending → approved → executing → done | failed
    pending → rejected | expired | superseded          (approved → superseded on price drift)

A pending plan is superseded by a newer plan, or by a change of the settings it was made under.

Every transition is one conditional UPDATE (`... WHERE id = ? AND state = ?`), so two taps at
once — two tasks, or two processes on one database file — cannot both win: SQLite runs each
statement atomically and only one of them sees the row still in the old state.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from core.domain.models import Plan
from core.engine.codec import maybe_time, parse_time, plan_from_json, plan_to_json, time_text
from core.storage.store import Store
from core.storage.stored_json import StoredJson


class ApprovalState(StrEnum):
    """Where an approval stands."""

    PENDING = "pending"
    APPROVED = "approved"
    EXECUTING = "executing"
    DONE = "done"
    FAILED = "failed"
    REJECTED = "rejected"
    EXPIRED = "expired"
    SUPERSEDED = "superseded"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATES


FINAL_STATES = frozenset(
    {
        ApprovalState.DONE,
        ApprovalState.FAILED,
        ApprovalState.REJECTED,
        ApprovalState.EXPIRED,
        ApprovalState.SUPERSEDED,
    }
)


@dataclass(frozen=True, slots=True)
class Approval:
    """A proposed plan and what became of it."""

    id: str
    plan: Plan
    state: ApprovalState
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None = None
    decided_by: str | None = None
    finished_at: datetime | None = None
    reason: str | None = None
    replaced_by: str | None = None
    balances: dict[str, Decimal] | None = None
    """The free balances the plan rests on (None: not recorded, e.g. an older database)."""


# `Approval.balances` in the `balances` column: asset → free amount as its exact decimal text.
_BALANCES_JSON = StoredJson(dict[str, Decimal], "approval's balances")


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of an approve or reject request, in words for the person who asked."""

    ok: bool
    approval_id: str
    state: ApprovalState | None
    message: str
    new_approval_id: str | None = None
    snoozed_until: datetime | None = None


def new_approval_id() -> str:
    """A short unguessable id: a forged or stale button cannot name a future approval.

    Random rather than a counter, so a fresh database never reuses the client order ids of an
    older one at the exchange (they are derived from this id).
    """
    return secrets.token_hex(5)


def why_not_pending(approval: Approval | None, approval_id: str, now: datetime) -> str:
    """Explain why an approval cannot be decided any more."""
    if approval is None:
        return f"there is no plan {approval_id!r}"
    state = approval.state
    if state is ApprovalState.EXPIRED or (
        state is ApprovalState.PENDING and approval.expires_at <= now
    ):
        return f"plan {approval_id} expired at {approval.expires_at:%H:%M:%S} UTC"
    messages = {
        ApprovalState.APPROVED: "was already approved and is being executed",
        ApprovalState.EXECUTING: "was already approved and is being executed",
        ApprovalState.DONE: "was already executed",
        ApprovalState.FAILED: "was already executed (with failures)",
        ApprovalState.REJECTED: "was rejected",
        ApprovalState.SUPERSEDED: "was superseded by a newer plan",
    }
    detail = messages.get(state, f"is {state}")
    if state is ApprovalState.SUPERSEDED and approval.replaced_by:
        detail = f"was superseded by plan {approval.replaced_by}"
    return f"plan {approval_id} {detail}"


class ApprovalRepo:
    """Approvals in the `approvals` table."""

    def __init__(self, store: Store) -> None:
        self._conn = store.conn

    async def propose(
        self, plan: Plan, now: datetime, ttl: timedelta, approval_id: str | None = None,
        balances: Mapping[str, Decimal] | None = None,
    ) -> tuple[Approval, list[str]]:
        """Store `plan` as a new pending approval; older pending ones become superseded.

        Returns the new approval and the ids it superseded. The insert comes first: if Ballast
        stops in between, two plans are pending for a moment, which is harmless (the older one
        is superseded on the next proposal or simply expires).
        """
        approval = Approval(
            id=approval_id or new_approval_id(),
            plan=plan,
            state=ApprovalState.PENDING,
            created_at=now,
            expires_at=now + ttl,
            balances=None if balances is None else dict(balances),
        )
        stored = None if approval.balances is None else _BALANCES_JSON.dump(approval.balances)
        await self._conn.execute(
            "INSERT INTO approvals (id, plan, state, created_at, expires_at, balances)"
            " VALUES (?, ?, 'pending', ?, ?, ?)",
            (approval.id, plan_to_json(plan), time_text(now), time_text(approval.expires_at),
             stored),
        )
        async with self._conn.execute(
            "UPDATE approvals SET state = 'superseded', decided_at = ?, replaced_by = ?,"
            " reason = 'a newer plan replaced it'"
            " WHERE state = 'pending' AND id != ? RETURNING id",
            (time_text(now), approval.id, approval.id),
        ) as cursor:
            superseded = [str(row[0]) for row in await cursor.fetchall()]
        return approval, superseded

    async def get(self, approval_id: str) -> Approval | None:
        """The approval with this id, or None."""
        async with self._conn.execute(
            "SELECT * FROM approvals WHERE id = ?", (approval_id,)
        ) as cursor:
            row = await cursor.fetchone()
        return None if row is None else _from_row(row)

    async def in_states(self, *states: ApprovalState) -> list[Approval]:
        """Approvals in any of `states`, oldest first."""
        marks = ",".join("?" for _ in states)
        async with self._conn.execute(
            f"SELECT * FROM approvals WHERE state IN ({marks}) ORDER BY created_at",
            tuple(state.value for state in states),
        ) as cursor:
            rows = await cursor.fetchall()
        return [_from_row(row) for row in rows]

    async def recent(self, limit: int = 20) -> list[Approval]:
        """The newest approvals first."""
        async with self._conn.execute(
            "SELECT * FROM approvals ORDER BY created_at DESC LIMIT ?", (limit,)
        ) as cursor:
            rows = await cursor.fetchall()
        return [_from_row(row) for row in rows]

    async def expire_due(self, now: datetime) -> list[str]:
        """Expire every pending approval whose time is up; return their ids."""
        async with self._conn.execute(
            "UPDATE approvals SET state = 'expired', decided_at = ?,"
            " reason = 'no decision before it expired'"
            " WHERE state = 'pending' AND expires_at <= ? RETURNING id",
            (time_text(now), time_text(now)),
        ) as cursor:
            return [str(row[0]) for row in await cursor.fetchall()]

    async def claim(self, approval_id: str, by: str, now: datetime) -> Decision:
        """Approve: pending → approved, atomically; exactly one caller can ever win this."""
        changed = await self._transition(
            approval_id,
            ApprovalState.PENDING,
            ApprovalState.APPROVED,
            now,
            extra="decided_at = ?, decided_by = ?",
            extra_args=(time_text(now), by),
            condition="expires_at > ?",
            condition_args=(time_text(now),),
        )
        if changed:
            return Decision(True, approval_id, ApprovalState.APPROVED, "approved")
        return await self._refusal(approval_id, now)

    async def reject(self, approval_id: str, by: str, now: datetime) -> Decision:
        """Reject: pending → rejected (final)."""
        changed = await self._transition(
            approval_id,
            ApprovalState.PENDING,
            ApprovalState.REJECTED,
            now,
            extra="decided_at = ?, decided_by = ?, reason = ?",
            extra_args=(time_text(now), by, f"rejected by {by}"),
            condition="expires_at > ?",
            condition_args=(time_text(now),),
        )
        if changed:
            message = f"plan {approval_id} rejected"
            return Decision(True, approval_id, ApprovalState.REJECTED, message)
        return await self._refusal(approval_id, now)

    async def start_executing(self, approval_id: str, now: datetime) -> bool:
        """approved → executing; False if the approval is no longer approved."""
        return await self._transition(
            approval_id, ApprovalState.APPROVED, ApprovalState.EXECUTING, now
        )

    async def supersede_drifted(
        self, approval_id: str, now: datetime, reason: str, replaced_by: str | None
    ) -> bool:
        """approved → superseded because prices moved too much since the plan was made."""
        return await self._transition(
            approval_id,
            ApprovalState.APPROVED,
            ApprovalState.SUPERSEDED,
            now,
            extra="reason = ?, replaced_by = ?",
            extra_args=(reason, replaced_by),
        )

    async def supersede_pending(self, approval_id: str, now: datetime, reason: str) -> bool:
        """pending → superseded, e.g. because the settings it was planned under changed."""
        return await self._transition(
            approval_id,
            ApprovalState.PENDING,
            ApprovalState.SUPERSEDED,
            now,
            extra="decided_at = ?, reason = ?",
            extra_args=(time_text(now), reason),
        )

    async def set_replaced_by(self, approval_id: str, replaced_by: str) -> None:
        """Record which approval re-proposed a drifted one."""
        await self._conn.execute(
            "UPDATE approvals SET replaced_by = ? WHERE id = ?", (replaced_by, approval_id)
        )

    async def finish(
        self, approval_id: str, state: ApprovalState, reason: str, now: datetime,
        from_state: ApprovalState = ApprovalState.EXECUTING,
    ) -> bool:
        """executing (or approved, after a crash) → done | failed, with a reason."""
        return await self._transition(
            approval_id,
            from_state,
            state,
            now,
            extra="finished_at = ?, reason = ?",
            extra_args=(time_text(now), reason),
        )

    async def _transition(
        self,
        approval_id: str,
        old: ApprovalState,
        new: ApprovalState,
        now: datetime,
        extra: str = "",
        extra_args: tuple[str | None, ...] = (),
        condition: str = "",
        condition_args: tuple[str, ...] = (),
    ) -> bool:
        sets = "state = ?" + (f", {extra}" if extra else "")
        where = "id = ? AND state = ?" + (f" AND {condition}" if condition else "")
        cursor = await self._conn.execute(
            f"UPDATE approvals SET {sets} WHERE {where}",
            (new.value, *extra_args, approval_id, old.value, *condition_args),
        )
        changed = cursor.rowcount == 1
        await cursor.close()
        return changed

    async def _refusal(self, approval_id: str, now: datetime) -> Decision:
        approval = await self.get(approval_id)
        if (
            approval is not None
            and approval.state is ApprovalState.PENDING
            and approval.expires_at <= now
        ):
            await self.expire_due(now)
            approval = await self.get(approval_id)
        return Decision(
            False,
            approval_id,
            approval.state if approval else None,
            why_not_pending(approval, approval_id, now),
        )


def _from_row(row: sqlite3.Row) -> Approval:
    get = row.__getitem__
    return Approval(
        id=get("id"),
        plan=plan_from_json(get("plan")),
        state=ApprovalState(get("state")),
        created_at=parse_time(get("created_at")),
        expires_at=parse_time(get("expires_at")),
        decided_at=maybe_time(get("decided_at")),
        decided_by=get("decided_by"),
        finished_at=maybe_time(get("finished_at")),
        reason=get("reason"),
        replaced_by=get("replaced_by"),
        balances=_balances(row),
    )


def _balances(row: sqlite3.Row) -> dict[str, Decimal] | None:
    text = row["balances"] if "balances" in row.keys() else None  # noqa: SIM118
    if not text:
        return None
    return _BALANCES_JSON.load(text)
