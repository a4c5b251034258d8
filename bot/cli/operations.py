"""What `ballast run` runs beside the engine: Telegram fed through the outbox, and upkeep.

- Every engine event is written to the outbox the moment it is published, whether or not
  Telegram answers; a courier hands them to the bot in order, each once, and keeps them while
  Telegram is unreachable (across restarts too).
- Upkeep posts the daily summary and scan-watchdog alerts to the same outbox, and makes the
  daily database backup.
- Without a Telegram token, upkeep still runs and its letters go to the log only.
- With a token but no owner id, `run_owner_setup` replaces all of it: the bot only tells each
  person who writes to it their own user id, and nothing runs that could trade.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from telegram.error import BadRequest, TelegramError

from bot.telegram.app import TelegramBot
from bot.telegram.notices import start_notice, stopped_notice
from bot.telegram.setup import serve_owner_setup
from core.config.settings import Settings
from core.domain.moments import owner_zone
from core.engine.service import EngineService
from core.engine.wiring import RunningEngine
from core.ops.absence import Absence, StopReason, record_stop
from core.ops.outbox import Courier, Outbox, post_events
from core.ops.upkeep import Upkeep
from core.runtime.logs import log_event
from core.runtime.periodic import sleep_or_stop
from core.runtime.retry import backoff_delay
from core.storage.store import Store

log = logging.getLogger(__name__)

FrontEnd = Callable[[EngineService, asyncio.Event], Coroutine[Any, Any, None]]

FIRST_RETRY = 5.0
MAX_RETRY = 300.0


def refused_for_good(error: Exception) -> bool:
    """Whether a failed delivery would fail again: Telegram called the message malformed, or
    making it broke. Network trouble, rate limits, a blocked bot may pass: those are retried."""
    return isinstance(error, BadRequest) or not isinstance(error, TelegramError)


def needs_owner_setup(settings: Settings) -> bool:
    """A bot token but nobody allowed to use it yet."""
    return settings.telegram_token is not None and settings.telegram_owner_id is None


async def run_owner_setup(settings: Settings) -> None:
    """Serve the owner-id bot until SIGTERM/SIGINT (`ballast run` without an owner id)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await serve_owner_setup(settings, stop)


@contextlib.asynccontextmanager
async def operations(settings: Settings, running: RunningEngine, absence: Absence | None = None,
                     why: StopReason | None = None) -> AsyncIterator[FrontEnd]:
    """The front-end that runs outbox, Telegram and upkeep for `running`, for the `with` block.

    Subscribes to the engine's events now, before the engine's loop starts, so that nothing
    published from then on can miss the outbox. The outbox's connection is opened now too, before
    Ballast says it runs, and closed when the block ends: opened later, after the database was
    moved away, it would create a new file at the path and share the old one's WAL. The owner
    hears what the time away missed (`absence`) at start, and why Ballast stops (`why`) at the
    end; the stop is recorded for the next start.
    """
    stopping = why or StopReason()
    store = await Store.open(settings.db) if settings.telegram_token else None
    subscription = running.service.subscribe() if store is not None else None

    async def run(service: EngineService, stop: asyncio.Event) -> None:
        tasks: list[asyncio.Task[None]] = []
        try:
            outbox = Outbox(store) if store is not None else None  # no token: letters to the log
            upkeep = Upkeep(settings, service, service.clock, outbox=outbox)
            tasks.append(asyncio.create_task(upkeep.run(stop), name="upkeep"))
            if outbox is not None and subscription is not None:
                tasks.append(asyncio.create_task(
                    post_events(subscription, outbox, service.clock), name="outbox"))
                tasks.append(asyncio.create_task(
                    _telegram(settings, running, outbox, stop, absence, stopping),
                    name="telegram"))
            await asyncio.gather(*tasks)
        finally:
            with contextlib.suppress(Exception):  # a stop is recorded if the database allows
                await record_stop(service, service.clock(), stopping.text)
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    try:
        yield run
    finally:
        if subscription is not None:
            running.service.bus.unsubscribe(subscription)
        if store is not None:
            await store.close()


async def _telegram(settings: Settings, running: RunningEngine, outbox: Outbox,
                    stop: asyncio.Event, absence: Absence | None, why: StopReason) -> None:
    """Start the bot (retrying while Telegram is unreachable), then deliver the outbox."""
    service = running.service
    # The settings in force: the chat's stored changes over file and environment. A change in
    # the chat takes effect from the next plan and is kept in the database.
    settings = service.settings
    bot = TelegramBot(settings, service, running.change_settings, pump_events=False,
                      ledger=running.ledger)
    attempt = 1
    pause = FIRST_RETRY
    while not stop.is_set():
        try:
            await bot.start()
            break
        except TelegramError as error:
            log_event(log, "error", "Telegram is unreachable; alerts wait in the outbox",
                      logging.WARNING, error=f"{type(error).__name__}: {bot.redact(str(error))}",
                      retry_in=pause)
            with contextlib.suppress(TelegramError):
                await bot.stop()
            await sleep_or_stop(stop, pause)
            attempt += 1
            pause = backoff_delay(attempt, FIRST_RETRY, MAX_RETRY)
    try:
        if stop.is_set():
            return
        with contextlib.suppress(TelegramError):
            await bot.announce(start_notice(settings, running.exchange.name, absence))
        courier = Courier(outbox, bot.deliver, service.clock, is_permanent=refused_for_good)
        await courier.run(stop)
    finally:
        farewell = stopped_notice(why.text, service.clock(), owner_zone(settings.timezone))
        with contextlib.suppress(TelegramError):
            await bot.stop(farewell=farewell if stop.is_set() else None)
