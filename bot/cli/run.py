"""`ballast run`: the engine and its front-ends, in one process, until SIGTERM or SIGINT.

Beside the engine run Telegram fed through the outbox, and upkeep (`bot.cli.operations`); the
engine's events printed one line each and written to the structured log; and, when stdin is a
terminal or a pipe, typed commands (`approve`, `reject`, `plan`, `status` …; `help` lists them).
With a bot token but no owner id only the owner setup runs: nothing that could trade. A stop
lets the current step finish and closes connections. The database path is watched: if it no
longer names the file that was locked and opened, Ballast stops with exit code 2. `serve`
runs any front-ends beside the engine.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import stat
import sys
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, TextIO

import typer

from bot.cli.application import app
from bot.cli.common import EXIT_PROBLEM, fail

# The engine (pandas, the exchange) loads when the bot runs, not when `ballast` starts.
if TYPE_CHECKING:  # only types: importing operations would load python-telegram-bot
    import asyncio

    from bot.cli.operations import FrontEnd
    from core.config.settings import Settings
    from core.engine.events import Event
    from core.engine.service import EngineService
    from core.engine.wiring import RunningEngine
    from core.runtime.instance_lock import DatabaseFile

log = logging.getLogger(__name__)


HELP = (
    "commands: approve [ID] · reject [ID] · plan · status · portfolio · pause · resume · "
    "history · quit"
)


STOP_SIGNALS = {
    signal.SIGINT: "Ctrl+C (SIGINT)",
    signal.SIGTERM: "SIGTERM (systemctl stop, docker stop or kill)",
}


def mode_words(settings: Settings) -> str:
    """`paper mode (binance prices)` or `live mode on binance`: what the orders reach."""
    if settings.mode == "paper":
        return f"paper mode ({settings.exchange} prices, simulated fills)"
    return f"live mode on {settings.exchange}"


def describe(event: Event, quote: str) -> str:
    """One plain line for a terminal or a log."""
    from core.engine.events import (
        ApprovalClosed,
        CashBelowMinimum,
        ExchangeRecovered,
        ExchangeTrouble,
        ExecutionFailed,
        PlanExecuted,
        PlanProposed,
        SignalChanged,
        SuspectData,
        SuspectDataCleared,
        TradingPaused,
    )

    at = f"{event.at:%H:%M:%S}"
    match event:
        case PlanProposed():
            trades = ", ".join(
                f"{t.side.value} {t.amount} {t.asset} (~{t.value:.2f} {quote})"
                for t in event.plan.trades
            )
            how = "auto-approving" if event.auto else f"type: approve {event.approval_id}"
            note = f" [{event.reason}]" if event.reason else ""
            return f"{at} plan {event.approval_id}: {trades}; {how}{note}"
        case PlanExecuted():
            done = "; ".join(
                f"{r.side} {r.filled} {r.asset} @ {r.average_price}" for r in event.results
            )
            return f"{at} plan {event.approval_id} executed: {done}"
        case ExecutionFailed():
            return f"{at} plan {event.approval_id} FAILED: {event.reason}"
        case ApprovalClosed():
            return f"{at} plan {event.approval_id} {event.state}: {event.reason}"
        case SignalChanged():
            return (f"{at} {event.asset} signal {event.previous.value} → {event.current.value} "
                    f"(score {event.score:+.2f})")
        case CashBelowMinimum():
            return (f"{at} cash {event.cash_allocation:.1%} is below the minimum "
                    f"{event.min_cash:.0%}")
        case ExchangeTrouble():
            return f"{at} exchange trouble: {event.message} (retrying)"
        case ExchangeRecovered():
            return f"{at} exchange answers again ({event.failed_scans} scan(s) missed)"
        case SuspectData():
            return f"{at} not planning, the account data looks wrong: {'; '.join(event.problems)}"
        case SuspectDataCleared():
            return f"{at} account data plausible again; planning resumes"
        case TradingPaused():
            return f"{at} TRADING PAUSED: {event.reason} (until the owner resumes)"


async def serve(running: RunningEngine, stop: asyncio.Event, *front_ends: FrontEnd) -> None:
    """Run the engine's clock and the front-ends until `stop` is set; returns once every
    front-end has ended (closing the engine is the caller's)."""
    import asyncio

    tasks = [asyncio.create_task(fe(running.service, stop)) for fe in front_ends]
    await asyncio.sleep(0)  # the front-ends subscribe before recovery publishes anything
    try:
        await running.run(stop)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


def configure_run_logging(settings: Settings, *, verbose: bool = False,
                          stream: TextIO | None = None) -> list[logging.Handler]:
    """Logs for `ballast run`: the engine's events print once on the console, as `describe`
    words them (`print_events`); their `key=value` lines go to the log file only."""
    from core.ops.event_log import EVENTS_LOGGER
    from core.runtime.logs import configure_from_settings

    return configure_from_settings(settings, verbose=verbose, stream=stream,
                                   console_skip=(EVENTS_LOGGER,))


async def print_events(service: EngineService, stop: asyncio.Event) -> None:
    """Print every engine event as a line on stdout."""
    quote = service.settings.quote
    async for event in service.subscribe():
        typer.echo(describe(event, quote))


async def log_engine_events(service: EngineService, stop: asyncio.Event) -> None:
    """Write every engine event to the structured log."""
    from core.ops.event_log import log_events

    await log_events(service.subscribe())


async def terminal_commands(service: EngineService, stop: asyncio.Event) -> None:
    """Read operator commands from stdin until it closes (the engine keeps running then)."""
    import asyncio

    if not _readable_stream(sys.stdin):
        return  # stdin is /dev/null, a file or absent: run without terminal commands
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while not stop.is_set():
        line = await reader.readline()
        if not line:
            return
        typer.echo(await answer(service, line.decode(errors="replace").strip(), stop))


def _readable_stream(stream: TextIO | None) -> bool:
    """Whether the event loop can wait on `stream`: a terminal, a pipe or a socket."""
    if stream is None:
        return False
    try:
        fd = stream.fileno()
        mode = os.fstat(fd).st_mode
    except (OSError, ValueError):
        return False
    return os.isatty(fd) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


async def answer(service: EngineService, line: str, stop: asyncio.Event) -> str:
    """Carry out one typed command and say what happened."""
    from core.engine.service import ServiceError
    from core.exchange.errors import ExchangeError

    word, _, rest = line.partition(" ")
    word, rest = word.lower(), rest.strip()
    try:
        if word in ("approve", "a", "reject", "r"):
            target = rest or await _only_pending(service)
            if target is None:
                return "no plan is waiting for a decision"
            if word.startswith("a"):
                return (await service.approve(target, "terminal")).message
            return (await service.reject(target, "terminal")).message
        if word == "plan":
            return (await service.plan_now()).message
        if word == "status":
            status = await service.status()
            health = "ok" if status.exchange_ok else f"TROUBLE: {status.last_error}"
            return (f"{mode_words(service.settings)}, approval {status.approval}"
                    f"{' (paused)' if status.paused else ''}; last scan {status.last_scan}; "
                    f"exchange {health}; pending {[a.id for a in status.pending]}")
        if word == "portfolio":
            p = (await service.current_scan()).portfolio
            parts = [f"{a} {h.amount} = {h.value:.2f} ({h.allocation:.1%})"
                     for a, h in sorted(p.holdings.items())]
            return (f"total {p.total_value:.2f} {p.quote}, cash {p.cash_allocation:.1%}; "
                    + "; ".join(parts))
        if word in ("pause", "resume"):
            await (service.pause() if word == "pause" else service.resume())
            return "proposals paused" if word == "pause" else "proposals resumed"
        if word == "history":
            history = await service.history(10)
            return "\n".join(f"{a.created_at:%m-%d %H:%M} plan {a.id} {a.state}: {a.reason or ''}"
                             for a in history.approvals) or "no plans yet"
        if word in ("quit", "exit"):
            stop.set()
            return "stopping"
    except (ServiceError, ExchangeError) as error:
        return f"cannot do that now: {error}"
    return HELP


async def _only_pending(service: EngineService) -> str | None:
    pending = await service.pending()
    return pending[-1].id if pending else None


async def run_engine(settings: Settings, resend_grace: timedelta) -> None:
    """Start the engine with the terminal front-end and serve until SIGTERM/SIGINT."""
    # python-telegram-bot (with tornado, httpx, cryptography) loads when the bot runs, not for
    # every `ballast` command: `ballast backtest` and the others never use it.
    import asyncio

    from telegram.error import TelegramError

    from bot.cli.operations import needs_owner_setup, operations, run_owner_setup
    from bot.telegram.token import TokenRefused, ask_telegram
    from core.config.settings import SettingsError
    from core.engine.wiring import start_engine
    from core.exchange.prices import utc_now
    from core.ops.absence import StopReason, measure_absence
    from core.runtime.instance_lock import one_bot_per_account
    from core.storage.health import DatabaseProblem

    if settings.telegram_token is not None:
        try:
            await ask_telegram(settings)
        except TokenRefused as error:
            raise SettingsError(str(error)) from None  # nothing runs: no plan could reach you
        except TelegramError as error:
            log.warning("Telegram did not answer at start (%s); alerts wait in the outbox",
                        type(error).__name__)
    if needs_owner_setup(settings):
        typer.echo("BALLAST_TELEGRAM_OWNER_ID is not set: send /start to your bot to learn "
                   "your user id, set it, and restart Ballast (nothing else runs until then)")
        await run_owner_setup(settings)
        return
    stop = asyncio.Event()
    why = StopReason()

    def stop_on(signum: signal.Signals) -> None:
        why.text = STOP_SIGNALS[signum]
        stop.set()

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop_on, signum)
    # One bot per database and per exchange account: held until this returns, dropped by the
    # kernel if the process dies. The database is opened (migrated, integrity-checked) only
    # under the lock, by start_engine, so a second process never migrates it beside the first.
    with one_bot_per_account(settings) as held:
        # Recovery runs as the engine loop's first step, once the outbox listens.
        running = await start_engine(settings, clock=utc_now, resend_grace=resend_grace,
                                     recover=False)
        # Before the first step expires what waited and scans anew: what the time away missed.
        absence = await measure_absence(running.service, utc_now())
        problems: list[str] = []
        try:
            # Every connection to the database is open before Ballast says it runs: one opened
            # later could find another file at the path (database_watch).
            async with operations(settings, running, absence, why) as telegram_and_upkeep:
                typer.echo(f"ballast running: {mode_words(settings)}, approval "
                           f"{settings.approval}, database {settings.db}")
                await serve(running, stop, print_events, terminal_commands, log_engine_events,
                            telegram_and_upkeep, database_watch(held.database, problems))
        finally:
            await running.close()
    if problems:
        raise DatabaseProblem(settings.db, problems[0])
    typer.echo("ballast stopped")


def database_watch(database: DatabaseFile | None, problems: list[str]) -> FrontEnd:
    """Stops Ballast, the problem added to `problems`, once the database path names another
    file than the one it locked and opened (deleted, moved away, replaced under it)."""

    async def watch(service: EngineService, stop: asyncio.Event) -> None:
        from core.runtime.instance_lock import watch_database
        from core.runtime.logs import log_event

        if database is None:
            return
        problem = await watch_database(database, stop)
        if problem is not None:
            log_event(log, "error", f"database {database.path} {problem}", logging.ERROR)
            problems.append(problem)

    return watch


@app.command()
def run(
    resend_grace: Annotated[
        float,
        typer.Option(hidden=True, help="seconds before an unanswered order may be looked up "
                     "and, if the exchange has none, sent again"),
    ] = 30.0,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log debug lines too")] = False,
) -> None:
    """Run Ballast: scan, plan, propose each plan in Telegram, and execute the approved ones.

    With a terminal attached, `approve`, `reject`, `status` … can also be typed (`help`).
    """
    import asyncio

    from core.config.settings import SettingsError, load_settings
    from core.exchange.errors import ExchangeError
    from core.exchange.paper_markets import MarketsFileError
    from core.runtime.instance_lock import AlreadyRunning, LockUnavailable
    from core.storage.health import DatabaseProblem

    try:
        settings = load_settings()
        configure_run_logging(settings, verbose=verbose)
        asyncio.run(run_engine(settings, timedelta(seconds=resend_grace)))
    except (SettingsError, MarketsFileError, DatabaseProblem) as error:
        fail(str(error))
    except ExchangeError as error:
        fail(f"exchange: {error}", EXIT_PROBLEM)
    except (AlreadyRunning, LockUnavailable) as error:
        fail(str(error))
