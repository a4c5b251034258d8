"""`ballast run`'s terminal front-end: typed commands reach the engine, events read as lines."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.cli.run import HELP, answer, describe
from core.domain.models import Side, TradeReason
from core.engine.events import PlanProposed
from core.engine.service import EngineService
from core.exchange.prices import ManualClock
from core.storage.store import Store
from tests.engine_support import (
    PRICES,
    T0,
    FaultyExchange,
    make_rig,
    order_count,
    paper_account,
    plan_of,
    trade,
)
from tests.fixed_prices import FixedPrices


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "ballast.db")
    yield opened
    await opened.close()


async def test_typed_commands_approve_and_report(store: Store) -> None:
    clock = ManualClock(T0)
    prices = FixedPrices(dict(PRICES))
    paper = await paper_account(store, {"USDT": "1000", "ETH": "2"}, clock, prices)
    rig = await make_rig(store, clock, prices, FaultyExchange(paper, prices))
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
