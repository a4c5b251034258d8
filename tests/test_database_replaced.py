"""The database file replaced, moved or deleted under a running bot (issue 21 finding 7).

SQLite keeps writing into the file it opened, whatever now lies at its path: approvals and the
order ledger would go into a file no one sees, and the next start would know nothing of them.
`ballast run` notices within a second that its path names another file (device and inode), stops
cleanly and exits non-zero with a message naming the file. Real processes, real files.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from bot.cli.operations import operations
from bot.cli.run import database_watch, serve
from core.config.settings import load_settings
from core.engine.wiring import start_engine
from core.exchange.paper import PaperExchange
from core.exchange.paper_markets import bundled_markets
from core.exchange.prices import ManualClock
from core.runtime.instance_lock import DatabaseFile
from core.storage.store import Store
from tests.engine_support import T0
from tests.fixed_prices import FixedPrices
from tests.standins.binance import BinanceStandIn
from tests.standins.telegram import TelegramStandIn

BALLAST = Path(sys.executable).parent / "ballast"
# Only a hung process waits this long: one that dies ends the wait at once (EOF). A cold start
# (ccxt, pandas-ta, matplotlib) took about 7 s with four of these tests side by side on two
# loaded cores; the bound leaves room for a machine far busier than that.
TIMEOUT = 180.0


def replaced(database: Path) -> None:
    """A restored copy moved over it while the bot runs (the wrong way to restore)."""
    shutil.copyfile(database, database.with_name("copy.db"))
    os.replace(database.with_name("copy.db"), database)


def moved_away(database: Path) -> None:
    os.rename(database, database.with_name("moved.db"))


def deleted(database: Path) -> None:
    database.unlink()


@pytest.mark.parametrize(("change", "words"), [(replaced, "was replaced by another file"),
                                               (moved_away, "was deleted or moved away"),
                                               (deleted, "was deleted or moved away")])
async def test_ballast_run_stops_with_a_clear_message_when_its_database_file_changes(
    tmp_path: Path, change: Callable[[Path], None], words: str
) -> None:
    database = tmp_path / "ballast.db"
    async with BinanceStandIn(balances={"USDT": "1000"}, prices={"ETH/USDT": "2650"}) as binance:
        env = {**os.environ, "BALLAST_MODE": "paper", "BALLAST_EXCHANGE_API_URL": binance.url,
               "BALLAST_DB": str(database), "BALLAST_WATCHLIST": "ETH", "BALLAST_LOG_FILE": "",
               "BALLAST_BACKUP_DIR": "", "COLUMNS": "400"}
        env.pop("BALLAST_TELEGRAM_TOKEN", None)
        bot = await asyncio.create_subprocess_exec(
            str(BALLAST), "run", cwd=tmp_path, env=env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            assert bot.stdout is not None and bot.stderr is not None
            line = await asyncio.wait_for(bot.stdout.readline(), TIMEOUT)
            if b"ballast running" not in line:  # it stopped before running: say why
                out, err = await asyncio.wait_for(bot.communicate(), TIMEOUT)
                pytest.fail(f"ballast did not start: {(line + out + err).decode()}")
            change(database)
            out, err = await asyncio.wait_for(bot.communicate(), TIMEOUT)
        finally:
            if bot.returncode is None:
                bot.send_signal(signal.SIGKILL)
                await bot.wait()
    said = " ".join((out + err).decode().split())
    assert bot.returncode not in (0, None), said
    assert f"database {database} {words}" in said, said
    assert "Traceback" not in said, said
    # Every connection was open before `ballast running`: none made SQLite create a new file.
    assert database.exists() == (change is replaced)


@pytest.mark.parametrize("change", [moved_away, deleted])
async def test_nothing_opens_the_database_path_again_once_ballast_says_it_runs(
    tmp_path: Path, change: Callable[[Path], None]
) -> None:
    """The outbox's connection is opened with the others, before `ballast running`: opened by
    its front-end after a move, it made SQLite create a new file at the path (sharing the old
    file's WAL), and a stop while it opened left aiosqlite's thread behind."""
    database = tmp_path / "ballast.db"
    clock = ManualClock(T0)
    async with TelegramStandIn() as tg:
        settings = load_settings(env={}, db=database, watchlist="ETH", log_file="",
                                 backup_dir="", telegram_token=tg.token, telegram_owner_id=4242,
                                 telegram_api_url=tg.base_url)
        paper_store = await Store.open(database)
        paper = PaperExchange(paper_store, FixedPrices({"ETH/USDT": Decimal("2650")}),
                              bundled_markets("binance"), fee_rate=Decimal("0.001"), clock=clock)
        running = await start_engine(settings, clock=clock, exchange=paper, recover=False)
        problems: list[str] = []
        try:
            async with operations(settings, running) as telegram_and_upkeep:
                # What `ballast run` has open when it says it runs; then the file goes.
                held = DatabaseFile.at(database)
                change(database)
                await serve(running, asyncio.Event(), telegram_and_upkeep,
                            database_watch(held, problems))
        finally:
            await running.close()
            await paper_store.close()
    assert len(problems) == 1 and "was deleted or moved away" in problems[0], problems
    assert not database.exists()


def test_the_database_file_is_known_by_device_and_inode(tmp_path: Path) -> None:
    database = tmp_path / "ballast.db"
    database.write_bytes(b"")
    held = DatabaseFile.at(database)
    assert held.problem() is None
    os.link(database, tmp_path / "link.db")
    assert DatabaseFile.at(tmp_path / "link.db") == DatabaseFile(
        tmp_path / "link.db", held.device, held.inode)
    replaced(database)
    assert "replaced" in (held.problem() or "")
