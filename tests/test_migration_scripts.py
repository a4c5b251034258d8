"""A migration is a SQL script run in one transaction: split where SQLite ends a statement (not
at every `;`), applied whole or not at all."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from core.storage.health import DatabaseProblem
from core.storage.store import MIGRATIONS, Store, statements

# A `;` in a string literal, in a comment and inside a trigger's BEGIN … END.
NOTES = """
    CREATE TABLE notes (text TEXT NOT NULL DEFAULT 'first; second', stamped INTEGER);
    -- a comment; with a semicolon
    CREATE TRIGGER notes_stamp AFTER INSERT ON notes BEGIN
        UPDATE notes SET stamped = 1 WHERE rowid = new.rowid;
        UPDATE notes SET text = text || ';' WHERE rowid = new.rowid;
    END;
    INSERT INTO notes DEFAULT VALUES;
"""


def test_a_script_is_split_where_sqlite_ends_a_statement() -> None:
    found = statements(NOTES)
    assert len(found) == 3
    assert found[0].endswith("DEFAULT 'first; second', stamped INTEGER);")
    assert found[1].startswith("-- a comment; with a semicolon\n")
    assert found[1].endswith("END;")
    assert found[2] == "INSERT INTO notes DEFAULT VALUES;"
    assert statements("SELECT 1; ;\n  SELECT 2") == ["SELECT 1;", "SELECT 2"]


async def test_a_migration_with_semicolons_in_literals_and_triggers_applies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("core.storage.store.MIGRATIONS", (*MIGRATIONS, NOTES))
    store = await Store.open(tmp_path / "ballast.db")
    try:
        assert await store.schema_version() == len(MIGRATIONS) + 1
        async with store.conn.execute("SELECT text, stamped FROM notes") as cursor:
            assert [tuple(row) for row in await cursor.fetchall()] == [("first; second;", 1)]
    finally:
        await store.close()


async def test_a_failing_migration_leaves_the_schema_version_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ballast.db"
    await (await Store.open(path)).close()  # today's database; then one migration more
    monkeypatch.setattr("core.storage.store.MIGRATIONS",
                        (*MIGRATIONS, NOTES + "INSERT INTO notes (nope) VALUES (1);"))
    with pytest.raises(DatabaseProblem, match="nope"):
        await Store.open(path)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        assert not names & {"notes", "notes_stamp"}
    finally:
        conn.close()
