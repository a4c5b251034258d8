"""`ballast run`'s terminal front-end: typed commands reach the engine, events read as lines."""

from __future__ import annotations

import asyncio

from bot.cli.run import HELP, answer, describe
from core.domain.models import Side, TradeReason
from core.engine.events import PlanProposed
from core.engine.service import EngineService
from core.storage.store import Store
from tests.engine_support import (
    order_count,
    paper_rig,
    plan_of,
    trade,
)


async def test_typed_commands_approve_and_report(store: Store) -> None:
    rig = await paper_rig(store, {"USDT": "1000", "ETH": "2"})
    clock = rig.clock
    service = EngineService(rig.engine, clock)
    stop = asyncio.Event()

    assert await answer(service, "approve", stop) == "no plan is waiting for a decision"
    rig.next_plan = plan_of(trade(Side.SELL, "ETH", "0.5", "3000", TradeReason.RAISE_CASH))
    proposed = await answer(service, "plan", stop)
    [event] = [e for e in rig.events.pending() if isinstance(e, PlanProposed)]
    line = describe(event, "USDT")
    done = await answer(service, "approve", stop)

    assert proposed == f"plan {event.approval_id} proposed"
    assert line == (f"12:00:00 plan {event.approval_id}: sell 0.5 ETH (~1500.00 USDT); "
                         f"type: approve {event.approval_id}")
    assert done == f"plan {event.approval_id} done: sell 0.5 ETH @ 3000"
    assert await order_count(store) == 1
    assert await answer(service, "approve " + event.approval_id, stop) == (
        f"plan {event.approval_id} was already executed"
    )
    assert await answer(service, "pause", stop) == "proposals paused"
    assert (await service.status()).paused
    assert await answer(service, "dance", stop) == HELP
    assert await answer(service, "quit", stop) == "stopping" and stop.is_set()
