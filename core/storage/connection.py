"""One SQLite connection shared by many coroutines, safely.

aiosqlite runs a connection's calls one at a time, but coroutines still interleave between
them, which breaks SQLite in two ways:

- a write that lands while another coroutine's `BEGIN … COMMIT` is open joins that
  transaction and is rolled back with it;
- a statement whose rows are still being read keeps a read snapshot open; a write on the same
  connection must then upgrade it, and if another connection (another `Store` on the same
  file) wrote meanwhile, SQLite answers "database is locked" at once instead of waiting.

`SharedConnection` therefore runs each statement and reads all its rows under one lock, so no
snapshot outlives its statement, and a transaction holds the same lock from BEGIN to COMMIT.
The lock is re-entrant for the task that holds it, so a transaction's own statements run.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Generator, Iterable, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any

import aiosqlite

Params = Sequence[Any] | dict[str, Any]


class TaskLock:
    """An asyncio lock that the task holding it may take again (re-entrant per task)."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        """Hold the lock, or go on at once if this task already holds it."""
        task = asyncio.current_task()
        if task is not None and self._owner is task:
            yield
            return
        async with self._lock:
            self._owner = task
            try:
                yield
            finally:
                self._owner = None


class FetchedRows:
    """A statement's result, read in full: its rows, rowcount and lastrowid."""

    def __init__(self, rows: list[sqlite3.Row], rowcount: int, lastrowid: int | None) -> None:
        self._rows = rows
        self._next = 0
        self.rowcount = rowcount
        self.lastrowid = lastrowid

    async def fetchone(self) -> sqlite3.Row | None:
        """The next row, or None."""
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    async def fetchall(self) -> list[sqlite3.Row]:
        """Every row not read yet."""
        rest = self._rows[self._next:]
        self._next = len(self._rows)
        return rest

    def __aiter__(self) -> AsyncIterator[sqlite3.Row]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[sqlite3.Row]:
        while (row := await self.fetchone()) is not None:
            yield row

    async def close(self) -> None:
        """Nothing to release: the statement finished when it ran."""


class _Statement:
    """`await conn.execute(...)` or `async with conn.execute(...) as rows:`, like aiosqlite."""

    def __init__(self, shared: SharedConnection, sql: str, params: Params | None) -> None:
        self._shared = shared
        self._sql = sql
        self._params = params

    def __await__(self) -> Generator[Any, None, FetchedRows]:
        return self._shared.run(self._sql, self._params).__await__()

    async def __aenter__(self) -> FetchedRows:
        return await self._shared.run(self._sql, self._params)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


class SharedConnection:
    """An aiosqlite connection whose statements and transactions take turns (see module doc)."""

    def __init__(self, raw: aiosqlite.Connection) -> None:
        self.raw = raw
        self.lock = TaskLock()

    def execute(self, sql: str, params: Params | None = None) -> _Statement:
        """Run one statement and read all its rows, holding the connection."""
        return _Statement(self, sql, params)

    async def run(self, sql: str, params: Params | None = None) -> FetchedRows:
        """Run one statement and read all its rows, holding the connection."""
        async with self.lock.hold():
            cursor = await self.raw.execute(sql, params)
            try:
                rows = list(await cursor.fetchall())
                return FetchedRows(rows, cursor.rowcount, cursor.lastrowid)
            finally:
                await cursor.close()

    async def executemany(self, sql: str, rows: Iterable[Params]) -> FetchedRows:
        """Run one statement for each parameter set, holding the connection."""
        async with self.lock.hold():
            cursor = await self.raw.executemany(sql, rows)
            try:
                return FetchedRows([], cursor.rowcount, cursor.lastrowid)
            finally:
                await cursor.close()

    async def close(self) -> None:
        """Close the connection once no one is using it."""
        async with self.lock.hold():
            await self.raw.close()
