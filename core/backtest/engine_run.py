"""Ballast's real engine on a historical clock: `Engine.tick` at every candle, auto approval.

The engine runs unchanged — approvals, exactly-once execution, drift checks, SQLite state and
events — against a `PaperExchange` whose price is the open of the current candle. Its ports are
connected to the replay instead of the live account: the portfolio valued at the last closes,
signals from the signal histories (with reasons, as the owner would read them), position facts
from the backtest's own fills. Subscribers of `bus` receive every event, as the Telegram bot
would (the demo prints them).

SQLite bookkeeping makes this slower than `run_fast`; both make the same trades (tested).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from core.backtest.benchmarks import EquityCurve
from core.backtest.simulation import Progress, Simulation
from core.config.settings import Settings
from core.domain.models import AssetSignal, Portfolio, PositionFacts
from core.engine.approvals import ApprovalState
from core.engine.events import ApprovalClosed, Event, EventBus, PlanProposed
from core.engine.loop import Engine
from core.engine.orders import OrderRow
from core.engine.ports import Ports, policy_planner
from core.exchange.base import Order
from core.exchange.paper import PaperExchange
from core.storage.store import Store


async def run_engine(
    sim: Simulation,
    settings: Settings,
    *,
    bus: EventBus | None = None,
    progress: Progress | None = None,
) -> EquityCurve:
    """Tick the engine at every candle of the period; returns Ballast's equity curve.

    `settings` must allow auto approval in paper mode (`approval="auto"`, `mode="paper"`).
    """
    bus = bus or EventBus()
    watch = bus.subscribe()
    data_store = await Store.open(":memory:")
    engine_store = await Store.open(":memory:")
    broker = sim.broker
    exchange = PaperExchange(
        data_store,
        broker.prices,
        sim.markets,
        fee_rate=sim.policy.fee_rate,
        slippage=settings.paper_slippage,
        clock=lambda: broker.prices.now,
        name="backtest",
    )
    try:
        await exchange.seed(broker.balances)
        row = sim.replay.first_row

        async def read_portfolio(now: datetime) -> Portfolio:
            return sim.portfolio(row)

        async def read_signals(portfolio: Portfolio, now: datetime) -> dict[str, AssetSignal]:
            return sim.signals(row, portfolio, explained=True)

        async def position_facts(portfolio: Portfolio, now: datetime) -> dict[str, PositionFacts]:
            return dict(sim.book.facts())

        async def record_fill(order_row: OrderRow, order: Order) -> None:
            broker.replace_balances(await exchange.fetch_balances())
            broker.note_fill(order)
            sim.record_order_fill(order_row.asset, order)

        plan = policy_planner(sim.policy, sim.watchlist)
        ports = Ports(read_portfolio, read_signals, position_facts, plan, record_fill)
        engine = Engine(settings, exchange, engine_store, ports, bus=bus)
        rows = sim.replay.rows
        sim.mark_start()
        for done, row in enumerate(rows, start=1):
            broker.move_to(row)
            await engine.tick(sim.replay.time(row))
            _count(sim, watch.pending())
            sim.mark(row)
            if progress is not None:
                progress(done, len(rows))
        return sim.curve()
    finally:
        bus.unsubscribe(watch)
        await exchange.close()
        await engine_store.close()
        await data_store.close()


def _count(sim: Simulation, events: Sequence[Event]) -> None:
    for event in events:
        if isinstance(event, PlanProposed) and event.auto:
            sim.tally.plans += 1
            sim.tally.executed += 1
        elif isinstance(event, ApprovalClosed) and event.state is ApprovalState.SUPERSEDED:
            sim.tally.drifted += 1
            sim.tally.executed -= 1
