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
from pathlib import Path

import pytest

from core.runtime.instance_lock import DatabaseFile
from tests.standins.binance import BinanceStandIn

BALLAST = Path(sys.executable).parent / "ballast"
TIMEOUT = 60.0


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
            assert b"ballast running" in line, line
            change(database)
            out, err = await asyncio.wait_for(bot.communicate(), TIMEOUT)
        finally:
            if bot.returncode is None:
                bot.send_signal(signal.SIGKILL)
                await bot.wait()
    said = " ".join((out + err).decode().split())
    assert bot.returncode not in (0, None), said
    # A connection opened just after a move or deletion makes SQLite create a new, empty file
    # at the path: then it is "replaced", which stops Ballast just the same.
    assert any(f"database {database} {w}" in said for w in (words, "was replaced")), said
    assert "Traceback" not in said, said


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
