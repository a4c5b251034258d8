"""A database Ballast cannot use stops `ballast run` at once, with a message naming the file and
what to do, and a non-zero exit (so systemd's Restart=on-failure fires) — never a traceback
followed by a process that stays alive.

Each case runs the real CLI as a process; the timeout on its exit is the assertion that it
does not hang.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from core.storage.store import MIGRATIONS, Store

BALLAST = Path(sys.executable).parent / "ballast"
# A cold interpreter imports pandas-ta and friends before it reaches the database.
EXIT_TIMEOUT = 60.0


async def ballast(tmp_path: Path, db: Path, *args: str, prefix: tuple[str, ...] = ()) -> (
    tuple[int, str]
):
    """Run `ballast ARGS` on `db` in paper mode; its exit code and its stderr and stdout."""
    env = {**os.environ, "BALLAST_DB": str(db), "BALLAST_LOG_FILE": str(tmp_path / "b.log"),
           "BALLAST_BACKUP_DIR": str(tmp_path / "backups"), "BALLAST_MODE": "paper",
           "COLUMNS": "400"}  # no wrapping inside long paths
    for name in ("BALLAST_TELEGRAM_TOKEN", "BALLAST_SETTINGS", "BALLAST_EXCHANGE_API_URL"):
        env.pop(name, None)
    process = await asyncio.create_subprocess_exec(
        *prefix, str(BALLAST), *args, cwd=tmp_path, env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=EXIT_TIMEOUT)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    # Rich wraps long lines at the terminal width: compare words, not line breaks.
    text = " ".join((stderr.decode() + stdout.decode()).split())
    return process.returncode, text


async def healthy_database(path: Path, rows: int = 0) -> None:
    """A database as Ballast leaves it, with `rows` outbox letters to give it some pages."""
    store = await Store.open(path)
    await store.close()
    if rows:
        conn = sqlite3.connect(path)
        try:
            with conn:
                conn.executemany(
                    "INSERT INTO outbox (created_at, kind, payload, state) VALUES (?, ?, ?, ?)",
                    [("2026-01-01T00:00:00Z", "note", "x" * 200, "done")] * rows)
            # Everything into the main file, so that damaging the file damages the data.
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()


def garbage(path: Path) -> None:
    path.write_bytes(os.urandom(8192))


def truncated(path: Path) -> None:
    asyncio.run(healthy_database(path, rows=2000))
    os.truncate(path, 4096)


def newer(path: Path) -> None:
    asyncio.run(healthy_database(path))
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version=99")


def damaged_inside(path: Path) -> None:
    """Whole and openable, but one page overwritten: only an integrity check sees it."""
    asyncio.run(healthy_database(path, rows=2000))
    conn = sqlite3.connect(path)
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    middle = conn.execute("PRAGMA page_count").fetchone()[0] // 2  # among the letters
    conn.close()
    with path.open("r+b") as file:
        # A leaf page's cell pointers (after its 8-byte b-tree header), now off the page.
        file.seek(page * middle + 8)
        file.write(b"\xff" * 64)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        with pytest.raises(sqlite3.DatabaseError):  # the test's damage is real
            rows = conn.execute("PRAGMA quick_check").fetchall()
            if rows != [("ok",)]:
                raise sqlite3.DatabaseError(rows)
    finally:
        conn.close()


CASES: dict[str, tuple[Callable[[Path], None], list[str]]] = {
    "garbage": (garbage, ["is not a SQLite database", "restore the newest backup"]),
    "truncated": (truncated, ["is damaged", "restore the newest backup"]),
    "newer": (newer, [f"schema version 99, newer than this Ballast knows ({len(MIGRATIONS)})",
                      "upgrade Ballast"]),
    "damaged inside": (damaged_inside, ["is damaged", "restore the newest backup"]),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_ballast_run_on_a_bad_database_exits_non_zero_and_says_what_to_do(
    tmp_path: Path, case: str,
) -> None:
    make, words = CASES[case]
    db = tmp_path / "ballast.db"
    await asyncio.to_thread(make, db)
    code, text = await ballast(tmp_path, db, "run")
    assert code != 0
    assert f"database {db}:" in text
    for word in words:
        assert word in text
    assert "Traceback" not in text
    if case == "newer":
        version = sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0]
        assert version == 99, "a newer database is never migrated down"


async def test_other_commands_that_open_the_database_say_so_too(tmp_path: Path) -> None:
    db = tmp_path / "ballast.db"
    await asyncio.to_thread(garbage, db)
    code, text = await ballast(tmp_path, db, "portfolio")
    assert code != 0
    assert f"database {db}: is not a SQLite database" in text
    assert "Traceback" not in text


async def test_a_database_path_that_cannot_exist_is_named_without_a_traceback(
    tmp_path: Path,
) -> None:
    """Its folder is a file: no one can create the database there."""
    (tmp_path / "a-file").write_text("not a folder", encoding="utf-8")
    db = tmp_path / "a-file" / "ballast.db"
    code, text = await ballast(tmp_path, db, "run")
    assert code != 0
    assert str(db) in text and "cannot" in text
    assert "Traceback" not in text


def _without_root_override() -> tuple[str, ...] | None:
    """A command prefix under which file modes bind (root's DAC override dropped), or None."""
    if os.geteuid() != 0:
        return ()
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    return (setpriv, "--bounding-set=-dac_override,-dac_read_search")


async def test_ballast_run_on_a_read_only_database_exits_and_says_so(tmp_path: Path) -> None:
    prefix = _without_root_override()
    if prefix is None:
        pytest.skip("running as root without setpriv: a file mode cannot stop root writing")
    db = tmp_path / "ballast.db"
    await healthy_database(db)
    db.chmod(0o444)
    try:
        code, text = await ballast(tmp_path, db, "run", prefix=prefix)
    finally:
        db.chmod(0o644)
    assert code != 0
    assert f"database {db}: is read-only for this user" in text
    assert "Traceback" not in text
