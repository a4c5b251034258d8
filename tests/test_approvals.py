"""The approval state machine on real SQLite files: one winner per approval, clear refusals."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from core.domain.models import Side, TradeReason
from core.engine.approvals import ApprovalRepo, ApprovalState
from core.engine.codec import plan_from_json, plan_to_json
from core.storage.store import Store
from tests.engine_support import T0, plan_of, trade

TTL = timedelta(minutes=10)
PLAN = plan_of(
    trade(Side.SELL, "ETH", "0.5", "3000", TradeReason.TRIM_TO_MAX),
    trade(Side.BUY, "BTC", "0.01", "50000", TradeReason.BUY_SIGNAL),
)


async def test_a_plan_survives_the_trip_through_sqlite_unchanged() -> None:
    assert plan_from_json(plan_to_json(PLAN)) == PLAN


async def test_a_newer_plan_supersedes_the_pending_one(store: Store) -> None:
    repo = ApprovalRepo(store)
    first, _ = await repo.propose(PLAN, T0, TTL)
    second, superseded = await repo.propose(PLAN, T0 + timedelta(minutes=5), TTL)

    assert superseded == [first.id]
    old = await repo.get(first.id)
    assert old is not None and old.state is ApprovalState.SUPERSEDED
    assert old.replaced_by == second.id
    decision = await repo.claim(first.id, "owner", T0 + timedelta(minutes=6))
    assert not decision.ok
    assert decision.message == f"plan {first.id} was superseded by plan {second.id}"


async def test_two_taps_at_the_same_moment_approve_once(store: Store) -> None:
    repo = ApprovalRepo(store)
    approval, _ = await repo.propose(PLAN, T0, TTL)

    decisions = await asyncio.gather(
        *(repo.claim(approval.id, f"tap{n}", T0 + timedelta(seconds=1)) for n in range(5))
    )

    assert sum(d.ok for d in decisions) == 1
    refused = [d for d in decisions if not d.ok]
    assert all("already approved" in d.message for d in refused)


async def test_two_processes_on_one_file_approve_once(store: Store, tmp_path: Path) -> None:
    approval, _ = await ApprovalRepo(store).propose(PLAN, T0, TTL)
    others = [await Store.open(tmp_path / "ballast.db") for _ in range(3)]
    try:
        decisions = await asyncio.gather(
            *(ApprovalRepo(s).claim(approval.id, "owner", T0) for s in [store, *others])
        )
    finally:
        for other in others:
            await other.close()

    assert sum(d.ok for d in decisions) == 1
    stored = await ApprovalRepo(store).get(approval.id)
    assert stored is not None and stored.state is ApprovalState.APPROVED


async def test_approval_after_expiry_does_nothing_and_says_so(store: Store) -> None:
    repo = ApprovalRepo(store)
    approval, _ = await repo.propose(PLAN, T0, TTL)

    decision = await repo.claim(approval.id, "owner", T0 + TTL)

    assert not decision.ok
    assert decision.state is ApprovalState.EXPIRED
    assert decision.message == f"plan {approval.id} expired at 12:10:00 UTC"


async def test_unknown_or_forged_ids_do_nothing(store: Store) -> None:
    repo = ApprovalRepo(store)
    await repo.propose(PLAN, T0, TTL)

    for forged in ("nope", "' OR 1=1 --", ""):
        decision = await repo.claim(forged, "owner", T0)
        assert not decision.ok
        assert decision.state is None
        assert decision.message == f"there is no plan {forged!r}"
    assert [a.state for a in await repo.recent()] == [ApprovalState.PENDING]


async def test_reject_is_final(store: Store) -> None:
    repo = ApprovalRepo(store)
    approval, _ = await repo.propose(PLAN, T0, TTL)

    rejected = await repo.reject(approval.id, "owner", T0)
    again = await repo.claim(approval.id, "owner", T0)

    assert rejected.ok and rejected.state is ApprovalState.REJECTED
    assert not again.ok and again.message == f"plan {approval.id} was rejected"


async def test_expire_due_expires_only_what_is_due(store: Store) -> None:
    repo = ApprovalRepo(store)
    old, _ = await repo.propose(PLAN, T0, timedelta(minutes=1))
    await repo.claim(old.id, "owner", T0)  # decided: must not expire
    due, _ = await repo.propose(PLAN, T0, timedelta(minutes=1))

    expired = await repo.expire_due(T0 + timedelta(minutes=1))

    assert expired == [due.id]
    approved = await repo.get(old.id)
    assert approved is not None and approved.state is ApprovalState.APPROVED
