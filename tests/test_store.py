"""The shared store connection: one coroutine's write never lands in another's transaction."""

import asyncio
import threading
from pathlib import Path

import pytest

from core.storage.store import Store


async def test_an_open_cancelled_while_connecting_leaves_no_thread_behind(tmp_path: Path) -> None:
    """Ballast stopping during `Store.open`: aiosqlite's thread is gone when the cancellation
    goes on, instead of later reporting to a closed event loop ("Event loop is closed")."""
    before = set(threading.enumerate())
    opening = asyncio.ensure_future(Store.open(tmp_path / "ballast.db"))
    await asyncio.sleep(0)  # the connection's thread has started; the open waits for it
    opening.cancel()
    with pytest.raises(asyncio.CancelledError):
        await opening
    left = [t.name for t in set(threading.enumerate()) - before
            if "_connection_worker_thread" in t.name]
    assert left == []


async def test_a_write_is_not_rolled_back_with_another_coroutines_transaction(
    tmp_path: Path,
) -> None:
    store = await Store.open(tmp_path / "ballast.db")
    inside = asyncio.Event()
    release = asyncio.Event()

    async def failing_fill() -> None:
        async with store.transaction() as conn:
            await conn.execute("INSERT INTO paper_balances VALUES ('BTC', '1', '0')")
            inside.set()
            await release.wait()
            raise RuntimeError("the exchange refused the order")

    async def record_candle() -> None:
        await inside.wait()
        writing = asyncio.ensure_future(_insert_candle(store))
        # The candle write waits for the failing transaction instead of joining it.
        await asyncio.sleep(0)
        assert not writing.done()
        release.set()
        await writing

    failing = asyncio.ensure_future(failing_fill())
    await record_candle()
    with pytest.raises(RuntimeError):
        await failing
    async with store.conn.execute("SELECT COUNT(*) FROM candles") as cursor:
        row = await cursor.fetchone()
    async with store.conn.execute("SELECT COUNT(*) FROM paper_balances") as cursor:
        balances = await cursor.fetchone()
    await store.close()
    assert row is not None and row[0] == 1  # the unrelated write survived
    assert balances is not None and balances[0] == 0  # the failed transaction left nothing


async def _insert_candle(store: Store) -> None:
    async with store.transaction() as conn:
        await conn.execute(
            "INSERT INTO candles VALUES ('binance', 'BTC/USDT', '1h', 0, 1, 1, 1, 1, 1)"
        )


async def test_reading_while_another_connection_writes_never_locks_the_database(
    tmp_path: Path,
) -> None:
    """The engine and the data layer open two stores on one file. A coroutine reading rows on
    one while the other connection commits a write must not turn the first one's next write
    into "database is locked" (SQLite refuses to upgrade a stale read snapshot, at once)."""
    path = tmp_path / "ballast.db"
    engine_side = await Store.open(path)
    data_side = await Store.open(path)
    for ts in range(3):
        await engine_side.conn.execute(
            "INSERT INTO candles VALUES ('binance', 'BTC/USDT', '1h', ?, 1, 1, 1, 1, 1)", (ts,)
        )

    async with engine_side.conn.execute("SELECT ts FROM candles ORDER BY ts") as rows:
        first = await rows.fetchone()
        await data_side.conn.execute("INSERT INTO paper_balances VALUES ('BTC', '1', '0')")
        await engine_side.conn.execute("INSERT INTO paper_balances VALUES ('ETH', '2', '0')")
        rest = await rows.fetchall()

    async with data_side.conn.execute("SELECT asset FROM paper_balances ORDER BY asset") as rows:
        assets = [row["asset"] for row in await rows.fetchall()]
    await engine_side.close()
    await data_side.close()
    assert first is not None and first["ts"] == 0
    assert [row["ts"] for row in rest] == [1, 2]
    assert assets == ["BTC", "ETH"]


async def test_statements_of_other_tasks_wait_for_a_transaction_and_its_own_run(
    tmp_path: Path,
) -> None:
    store = await Store.open(tmp_path / "ballast.db")
    order: list[str] = []
    inside = asyncio.Event()
    release = asyncio.Event()

    async def transfer() -> None:
        async with store.transaction() as conn:
            await conn.execute("INSERT INTO paper_balances VALUES ('USDT', '10', '0')")
            await store.conn.execute("UPDATE paper_balances SET free = '9' WHERE asset = 'USDT'")
            inside.set()
            await release.wait()
            order.append("transfer")

    async def reader() -> None:
        await inside.wait()
        reading = asyncio.ensure_future(store.conn.execute("SELECT * FROM paper_balances"))
        await asyncio.sleep(0)
        assert not reading.done()  # waits for the transaction instead of joining it
        release.set()
        rows = await (await reading).fetchall()
        order.append(f"reader saw {[row['free'] for row in rows]}")

    await asyncio.gather(transfer(), reader())
    await store.close()
    assert order == ["transfer", "reader saw ['9']"]
