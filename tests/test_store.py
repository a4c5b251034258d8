"""The shared store connection: one coroutine's write never lands in another's transaction."""

import asyncio
from pathlib import Path

import pytest

from core.store import Store


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
