"""Builds a running engine from settings: database, exchange, candles, signals, policy, fills.

One place connects the engine's ports to the real modules, so `ballast run`, the Telegram bot
and the benchmark start the same engine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.account.cost_basis import read_position_facts, record_order_fill
from core.account.snapshot import read_portfolio
from core.config.settings import Settings
from core.domain.models import Portfolio, PositionFacts
from core.engine.execution import DEFAULT_RESEND_GRACE
from core.engine.loop import Engine
from core.engine.orders import OrderRow
from core.engine.ports import Ports, policy_planner
from core.engine.service import EngineService
from core.engine.signals import SignalScanner
from core.exchange.base import Exchange, Order
from core.exchange.factory import build_exchange
from core.exchange.prices import Clock, utc_now
from core.market.candle_cache import CandleCache
from core.storage.chat_settings import SettingsLedger, load_ledger
from core.storage.store import Store


@dataclass
class RunningEngine:
    """An engine with everything it holds open; `await close()` releases it all."""

    engine: Engine
    service: EngineService
    exchange: Exchange
    data_store: Store
    engine_store: Store
    # The settings as loaded, what the chat changed over them, and where each value is from.
    ledger: SettingsLedger | None = None

    async def change_settings(self, changed: Settings, by: str | None = "telegram") -> None:
        """Put settings changed in the chat in force (plans waiting for approval are made again
        under them), and keep them in the database so that they hold after a restart."""
        now = self.service.clock()
        if self.ledger is not None:
            await self.ledger.record(self.service.settings, changed, now, by)
        await self.engine.apply_settings(
            changed, real_ports(changed, self.exchange, self.data_store, self.engine_store), now)

    async def run(self, stop: asyncio.Event) -> None:
        """Tick the engine on the service's clock until `stop` is set."""
        await self.engine.run(self.service.clock, stop)

    async def close(self) -> None:
        """Close the exchange and both database connections."""
        try:
            await self.exchange.close()
        finally:
            await self.engine_store.close()
            await self.data_store.close()


def real_ports(
    settings: Settings, exchange: Exchange, data_store: Store, engine_store: Store
) -> Ports:
    """The engine's ports connected to account, signals, cost basis and policy."""
    scanner = SignalScanner(exchange, CandleCache(data_store, exchange), settings)
    policy = settings.policy

    async def portfolio(now: datetime) -> Portfolio:
        return await read_portfolio(exchange, settings, now)

    async def facts(portfolio: Portfolio, now: datetime) -> dict[str, PositionFacts]:
        held = {asset: h.amount for asset, h in portfolio.holdings.items()}
        return await read_position_facts(engine_store, exchange, held, settings.quote)

    async def record_fill(row: OrderRow, order: Order) -> None:
        await record_order_fill(engine_store, order)

    return Ports(portfolio, scanner, facts, policy_planner(policy, settings.watchlist),
                 record_fill)


async def start_engine(
    settings: Settings,
    *,
    clock: Clock = utc_now,
    exchange: Exchange | None = None,
    resend_grace: timedelta = DEFAULT_RESEND_GRACE,
    env: Mapping[str, str | None] | None = None,
    recover: bool = True,
) -> RunningEngine:
    """Open the database (two connections), build the exchange and the engine, and recover.

    Raises `DatabaseProblem` (core.storage.health) when the database is not one Ballast can
    use: not a database, damaged (`PRAGMA quick_check`), newer or read-only.

    Settings the owner changed in the chat (stored in the database) are applied over
    `settings`; the engine and `RunningEngine.ledger` hold the result. `env` is what the
    settings were loaded from (None: the process environment), to tell where each came from.

    `recover=False` leaves start-up recovery to the first step of `Engine.run`, so that what it
    settles reaches the subscribers attached in between (the outbox, Telegram): `ballast run`
    starts that way, or an order settled during recovery would never be reported.

    The engine's approvals and orders use a connection of their own: the paper exchange and the
    candle cache hold multi-statement transactions on theirs, and a statement of the engine must
    never land inside (or be rolled back with) one of those.
    """
    data_store = await Store.open(settings.db)
    try:
        # Once per start, SQLite's integrity check: a damaged file stops Ballast here, with
        # `DatabaseProblem` naming it, not at some later read in the loop.
        await data_store.quick_check()
        engine_store = await Store.open(settings.db)
    except BaseException:
        await data_store.close()
        raise
    built: Exchange | None = None
    try:
        settings, ledger = await load_ledger(engine_store, settings, env)
        if exchange is None:
            exchange = built = await build_exchange(settings, data_store, clock=clock)
        ports = real_ports(settings, exchange, data_store, engine_store)
        engine = Engine(settings, exchange, engine_store, ports, resend_grace=resend_grace)
        if recover:
            await engine.housekeeping(clock())
    except BaseException:
        if built is not None:
            await built.close()
        await engine_store.close()
        await data_store.close()
        raise
    return RunningEngine(engine, EngineService(engine, clock), exchange, data_store,
                         engine_store, ledger)
