"""Backups: SQLite's online backup while the engine writes, `ballast backup FILE`, daily copies."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from bot.cli import app
from core.ops.backup import (
    BackupError,
    DailyBackups,
    backup_database,
    backups_to_prune,
    daily_backup_name,
    next_midnight,
)
from core.storage.store import MIGRATIONS, Store

TOTAL = 1_000_000
T = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


async def make_database(path: Path, candles: int = 0) -> None:
    """A Ballast database with two paper balances that always add up to TOTAL."""
    async with await Store.open(path) as store:
        await store.conn.execute("BEGIN")
        await store.conn.execute(
            "INSERT INTO paper_balances VALUES ('USDT', ?, '0'), ('BTC', '0', '0')", (TOTAL,)
        )
        await store.conn.executemany(
            "INSERT INTO candles VALUES ('binance', 'BTC/USDT', '1h', ?, 1, 2, 0.5, 1.5, 10)",
            [(i * 3_600_000,) for i in range(candles)],
        )
        await store.conn.execute("COMMIT")


def read_copy(path: Path) -> tuple[int, int, str]:
    """Sum of the two balances, candle count and journal mode of a backup file."""
    with sqlite3.connect(path) as conn:
        total = sum(int(row[0]) for row in conn.execute("SELECT free FROM paper_balances"))
        count = conn.execute("SELECT COUNT(*) FROM candles").fetchone()[0]
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    return total, count, mode


async def test_a_backup_is_a_whole_self_contained_copy(tmp_path: Path) -> None:
    database = tmp_path / "ballast.db"
    await make_database(database, candles=100)
    result = backup_database(database, tmp_path / "copies" / "b.db")
    assert result.path == tmp_path / "copies" / "b.db"
    assert result.schema_version == len(MIGRATIONS)
    assert result.size == result.path.stat().st_size > 0
    assert read_copy(result.path) == (TOTAL, 100, "delete")
    assert sorted(p.name for p in result.path.parent.iterdir()) == ["b.db"]
    async with await Store.open(result.path) as restored:  # a backup opens as a database
        assert await restored.schema_version() == len(MIGRATIONS)


async def test_backups_taken_while_the_engine_writes_are_consistent(tmp_path: Path) -> None:
    """A writer moves money between two rows in transactions while backups run in threads.

    Every backup must see a state between two transactions (the sum unchanged), and the
    writer must never be blocked into an error by a backup.
    """
    database = tmp_path / "ballast.db"
    await make_database(database, candles=20_000)
    store = await Store.open(database)
    moves = 0
    stop = asyncio.Event()

    async def writer() -> None:
        nonlocal moves
        while not stop.is_set():
            await store.conn.execute("BEGIN IMMEDIATE")
            await store.conn.execute(
                "UPDATE paper_balances SET free = CAST(free AS INTEGER) - 7 WHERE asset = 'USDT'"
            )
            await store.conn.execute(
                "UPDATE paper_balances SET free = CAST(free AS INTEGER) + 7 WHERE asset = 'BTC'"
            )
            await store.conn.execute(
                "INSERT INTO candles VALUES ('binance', 'ETH/USDT', '1h', ?, 1, 1, 1, 1, 1)",
                (moves,),
            )
            await store.conn.execute("COMMIT")
            moves += 1

    task = asyncio.create_task(writer())
    try:
        counts = []
        for number in range(4):
            result = await asyncio.to_thread(backup_database, database,
                                             tmp_path / f"during-{number}.db")
            total, candles, mode = read_copy(result.path)
            assert total == TOTAL and mode == "delete"
            counts.append(candles)
    finally:
        stop.set()
        await task
        await store.close()
    assert moves > 0, "the writer must have written while backups ran"
    assert counts == sorted(counts) and counts[0] >= 20_000


def test_a_missing_database_is_an_error_and_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nope.db"
    with pytest.raises(BackupError, match=r"nope\.db does not exist"):
        backup_database(missing, tmp_path / "b.db")
    assert list(tmp_path.iterdir()) == []


async def test_a_backup_never_overwrites_its_own_database(tmp_path: Path) -> None:
    database = tmp_path / "ballast.db"
    await make_database(database)
    with pytest.raises(BackupError, match="would overwrite the database itself"):
        backup_database(database, tmp_path / "." / "ballast.db")
    assert read_copy(database)[0] == TOTAL


def test_a_file_that_is_no_database_is_refused_cleanly(tmp_path: Path) -> None:
    bogus = tmp_path / "ballast.db"
    bogus.write_text("not sqlite at all, just some text " * 100)
    with pytest.raises(BackupError, match="could not back up"):
        backup_database(bogus, tmp_path / "b.db")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ballast.db"]


async def test_ballast_backup_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    database = tmp_path / "ballast.db"
    await make_database(database, candles=3)
    monkeypatch.chdir(tmp_path)  # no stray .env from the repository
    monkeypatch.setenv("BALLAST_DB", str(database))
    runner = CliRunner()
    made = runner.invoke(app, ["backup", "copy.db"])
    assert made.exit_code == 0, made.output
    assert "backed up" in made.output and "schema version" in made.output
    assert read_copy(tmp_path / "copy.db") == (TOTAL, 3, "delete")

    again = runner.invoke(app, ["backup", "copy.db"])
    assert again.exit_code != 0 and "--force" in again.output
    forced = runner.invoke(app, ["backup", "copy.db", "--force"])
    assert forced.exit_code == 0, forced.output

    explicit = runner.invoke(app, ["backup", str(tmp_path / "x.db"), "--db",
                                   str(tmp_path / "other.db")])
    assert explicit.exit_code != 0
    assert "other.db does not exist" in " ".join(explicit.output.split())
    assert not (tmp_path / "other.db").exists()


def test_which_daily_backups_are_pruned() -> None:
    today = date(2026, 11, 24)
    names = [daily_backup_name(today - timedelta(days=n)) for n in range(10)]
    names += ["ballast.db", "my-own-copy.db", "ballast-2026-11-1.db"]
    assert backups_to_prune(names, today, 7) == sorted(names[7:10])
    assert backups_to_prune(names, today, 1) == sorted(names[1:10])
    assert backups_to_prune(names, today, 30) == []


def test_next_midnight_is_local() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    assert next_midnight(T, UTC) == datetime(2026, 11, 25, tzinfo=UTC)
    # 23:30 UTC is already 00:30 on the 25th in Berlin: the next midnight is the 26th's.
    late = datetime(2026, 11, 24, 23, 30, tzinfo=UTC)
    assert next_midnight(late, berlin) == datetime(2026, 11, 26, tzinfo=berlin)


async def test_daily_backups_one_per_day_kept_n_days(tmp_path: Path) -> None:
    database = tmp_path / "ballast.db"
    await make_database(database)
    directory = tmp_path / "backups"
    daily = DailyBackups(database, directory, keep_days=3, zone=UTC)
    first = await daily.run_due(T)
    assert first is not None and first.path == directory / "ballast-2026-11-24.db"
    assert await daily.run_due(T + timedelta(hours=6)) is None  # one a day, restarts included
    for day in range(1, 6):
        await daily.run_due(T + timedelta(days=day))
    assert sorted(p.name for p in directory.iterdir()) == [
        "ballast-2026-11-27.db", "ballast-2026-11-28.db", "ballast-2026-11-29.db"
    ]


async def test_the_daily_task_backs_up_at_once_then_waits(tmp_path: Path) -> None:
    database = tmp_path / "ballast.db"
    await make_database(database)
    stop = asyncio.Event()

    def clock() -> datetime:
        stop.set()  # one round: back up, then the wait ends because we are stopping
        return T

    await DailyBackups(database, tmp_path / "b", 7, UTC).run(clock, stop)
    assert [p.name for p in (tmp_path / "b").iterdir()] == ["ballast-2026-11-24.db"]


async def test_a_failed_daily_backup_is_logged_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stop = asyncio.Event()

    def clock() -> datetime:
        stop.set()
        return T

    await DailyBackups(tmp_path / "gone.db", tmp_path / "b", 7, UTC).run(clock, stop)
    assert "daily backup failed" in caplog.text
    assert not (tmp_path / "gone.db").exists()


def test_keeping_zero_days_is_not_a_schedule(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="backup_keep_days = 0"):
        DailyBackups(tmp_path / "db", tmp_path, 0, UTC)
