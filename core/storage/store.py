"""SQLite storage (aiosqlite): one file, WAL mode, numbered schema migrations.

Each migration is applied once, in order, inside a transaction; `PRAGMA user_version` records
how far a database has come. Decimals are stored as TEXT so no cent is lost to floats.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Self

import aiosqlite

from core.storage.connection import SharedConnection
from core.storage.health import explain, failed_check, newer_schema

# Append new migrations at the end; never edit one that has shipped.
MIGRATIONS: tuple[str, ...] = (
    # 1: candle cache, paper account, Ballast's own fills.
    """
    CREATE TABLE candles (
        exchange TEXT NOT NULL, symbol TEXT NOT NULL, timeframe TEXT NOT NULL,
        ts INTEGER NOT NULL,
        open REAL NOT NULL, high REAL NOT NULL, low REAL NOT NULL, close REAL NOT NULL,
        volume REAL NOT NULL,
        PRIMARY KEY (exchange, symbol, timeframe, ts)
    ) WITHOUT ROWID;
    CREATE TABLE paper_balances (
        asset TEXT PRIMARY KEY, free TEXT NOT NULL, locked TEXT NOT NULL
    );
    CREATE TABLE paper_orders (
        client_order_id TEXT PRIMARY KEY, exchange_order_id TEXT NOT NULL,
        symbol TEXT NOT NULL, side TEXT NOT NULL, status TEXT NOT NULL,
        amount TEXT NOT NULL, filled TEXT NOT NULL, average_price TEXT, cost TEXT NOT NULL,
        fee TEXT NOT NULL, fee_currency TEXT, created_at TEXT NOT NULL
    );
    CREATE TABLE fills (
        fill_id TEXT PRIMARY KEY, client_order_id TEXT, asset TEXT NOT NULL,
        quote TEXT NOT NULL, side TEXT NOT NULL, amount TEXT NOT NULL, price TEXT NOT NULL,
        fee TEXT NOT NULL, fee_currency TEXT, at TEXT NOT NULL, source TEXT NOT NULL
    );
    CREATE INDEX fills_by_asset ON fills (asset, at);
    """,
    # 2: the engine: approvals, their orders, portfolio snapshots, engine state, events.
    """
    CREATE TABLE approvals (
        id TEXT PRIMARY KEY, plan TEXT NOT NULL, state TEXT NOT NULL,
        created_at TEXT NOT NULL, expires_at TEXT NOT NULL,
        decided_at TEXT, decided_by TEXT, finished_at TEXT,
        reason TEXT, replaced_by TEXT
    );
    CREATE INDEX approvals_by_state ON approvals (state, created_at);
    CREATE TABLE orders (
        client_order_id TEXT PRIMARY KEY,
        approval_id TEXT NOT NULL REFERENCES approvals (id),
        trade_index INTEGER NOT NULL,
        symbol TEXT NOT NULL, asset TEXT NOT NULL, side TEXT NOT NULL,
        amount TEXT NOT NULL, planned_price TEXT NOT NULL,
        state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, sent_at TEXT,
        exchange_order_id TEXT, filled TEXT NOT NULL DEFAULT '0', average_price TEXT,
        cost TEXT NOT NULL DEFAULT '0', fee TEXT NOT NULL DEFAULT '0', fee_currency TEXT,
        detail TEXT, updated_at TEXT NOT NULL,
        UNIQUE (approval_id, trade_index)
    );
    CREATE INDEX orders_by_state ON orders (state);
    CREATE TABLE snapshots (
        at TEXT PRIMARY KEY, total_value TEXT NOT NULL, cash_value TEXT NOT NULL,
        allocations TEXT NOT NULL
    );
    CREATE TABLE engine_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, kind TEXT NOT NULL,
        data TEXT NOT NULL
    );
    """,
    # 3: the outbox: messages for the owner, kept until delivered (in order, once).
    """
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        created_at TEXT NOT NULL, kind TEXT NOT NULL, payload TEXT NOT NULL,
        state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT,
        finished_at TEXT
    );
    CREATE INDEX outbox_by_state ON outbox (state, id);
    """,
    # 4: the free balances a plan rests on, re-checked before it is executed.
    """
    ALTER TABLE approvals ADD COLUMN balances TEXT;
    """,
    # 5: settings the owner changed in the chat, applied over file and environment at start
    # (core.storage.chat_settings). Depends on no other table: it may follow any later migration.
    """
    CREATE TABLE chat_settings (
        name TEXT PRIMARY KEY, value TEXT NOT NULL, changed_at TEXT NOT NULL, changed_by TEXT
    );
    """,
)


class Store:
    """An open Ballast database. Use `async with Store.open(path) as store:`."""

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        # Coroutines share the connection: statements and transactions take turns on it.
        self.conn = SharedConnection(conn)
        self.path = path

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SharedConnection]:
        """`BEGIN IMMEDIATE … COMMIT` on this store's connection, rolled back on any error.

        Other coroutines' statements on this store wait until it ends, so none can land inside
        it; statements of the task that holds it run as usual.
        """
        async with self.conn.lock.hold():
            await self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                await self.conn.execute("ROLLBACK")
                raise
            await self.conn.execute("COMMIT")

    @classmethod
    async def open(cls, path: Path | str) -> Store:
        """Open (creating if needed) and migrate the database at `path`.

        Raises `DatabaseProblem` naming the file and the remedy when it is not a database, is
        damaged, read-only or from a newer Ballast; the connection is closed first, so that a
        process that fails here can exit (aiosqlite's thread would otherwise keep it alive). An
        open cancelled midway closes its connection and thread before the cancellation goes on.
        """
        db_path = Path(path)
        _create_private(db_path)
        conn = aiosqlite.connect(db_path, isolation_level=None)
        try:
            await conn
        except BaseException as error:
            # When the open fails or is cancelled (Ballast stopping), aiosqlite stops its thread
            # without waiting for it; wait here, or the thread reports to an event loop that the
            # stopping process has already closed ("Event loop is closed" from its thread).
            thread = getattr(conn, "_thread", None)
            if isinstance(thread, threading.Thread) and thread.is_alive():
                await asyncio.to_thread(thread.join, 5.0)
            if isinstance(error, sqlite3.Error):
                raise explain(db_path, error) from error
            raise
        try:
            conn.row_factory = aiosqlite.Row
            await conn.execute("PRAGMA journal_mode=WAL")
            await conn.execute("PRAGMA synchronous=NORMAL")
            await conn.execute("PRAGMA foreign_keys=ON")
            await conn.execute("PRAGMA busy_timeout=5000")
            store = cls(conn, db_path)
            await store.migrate()
            # SQLite opens a file it may not write read-only without a word, and a migrated
            # database is not written at open: write its version again and roll it back, so
            # that a read-only file is refused now rather than at the first approval.
            version = await store.schema_version()
            await conn.execute("BEGIN IMMEDIATE")
            try:
                await conn.execute(f"PRAGMA user_version={version}")
            finally:
                await conn.execute("ROLLBACK")
        except BaseException as error:
            await conn.close()
            if isinstance(error, sqlite3.Error):
                raise explain(db_path, error) from error
            raise
        return store

    @classmethod
    @asynccontextmanager
    async def opened(cls, path: Path | str) -> AsyncIterator[Store]:
        """`open` for one command: closed at the end and, when the command fails, a database
        this open created is removed again, so a failed command leaves no file behind."""
        db_path = Path(path)
        existed = db_path.exists()
        store = await cls.open(db_path)
        try:
            yield store
        except BaseException:
            await store.close()
            if not existed:
                for leftover in (db_path, *(db_path.with_name(db_path.name + suffix)
                                            for suffix in SIDE_FILES)):
                    leftover.unlink(missing_ok=True)
            raise
        await store.close()

    async def quick_check(self) -> None:
        """SQLite's integrity check (`PRAGMA quick_check`); raises `DatabaseProblem` on damage.

        Reads every page, so it runs once at start, not on every open.
        """
        try:
            rows = await (await self.conn.execute("PRAGMA quick_check")).fetchall()
        except sqlite3.Error as error:
            raise explain(self.path, error) from error
        lines = [str(row[0]) for row in rows]
        if lines != ["ok"]:
            raise failed_check(self.path, lines)

    async def schema_version(self) -> int:
        """How many migrations this database has had."""
        async with self.conn.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def migrate(self) -> None:
        """Apply every migration this database has not had yet, each atomically."""
        version = await self.schema_version()
        if version > len(MIGRATIONS):
            raise newer_schema(self.path, version, len(MIGRATIONS))
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            # sqlite3's executescript commits any open transaction before it starts, so a
            # migration could half-apply: run its statements one by one in one transaction.
            async with self.transaction() as conn:
                for statement in statements(script):
                    await conn.execute(statement)
                await conn.execute(f"PRAGMA user_version={number}")

    async def close(self) -> None:
        """Close the connection."""
        await self.conn.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


# The files SQLite keeps beside a database in WAL mode.
SIDE_FILES = ("-wal", "-shm", "-journal")


def _create_private(path: Path) -> None:
    """Create a missing database file readable by its owner only (0600): it holds the account's
    orders and history. SQLite gives its side files the database's permissions. An in-memory
    database (`:memory:`) has no file."""
    if str(path) == ":memory:":
        return
    try:
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except (FileExistsError, FileNotFoundError, NotADirectoryError, PermissionError):
        return  # there already, or not creatable: SQLite's own error names the problem
    os.close(descriptor)


def statements(script: str) -> list[str]:
    """The SQL statements of `script`, each ended where SQLite would end it.

    A `;` inside a string literal, a quoted name, a comment or a trigger's `BEGIN … END` does
    not end a statement (`sqlite3.complete_statement` decides). The last statement may go
    without its `;`; one left unfinished is returned as it is and fails when run.
    """
    found: list[str] = []
    current = ""
    *ended, tail = script.split(";")
    for piece in ended:
        current += piece + ";"
        if sqlite3.complete_statement(current):
            if current.strip(" \t\r\n;"):
                found.append(current.strip())
            current = ""
    rest = (current + tail).strip()
    if rest:
        found.append(rest)
    return found
