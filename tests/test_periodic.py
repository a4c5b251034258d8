"""The stop-or-timeout wait shared by the periodic loops."""

import asyncio

from core.runtime.periodic import sleep_or_stop


async def test_times_out_without_stop() -> None:
    stop = asyncio.Event()
    assert await sleep_or_stop(stop, 0.01) is False


async def test_returns_early_on_stop() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.call_later(0.01, stop.set)
    started = loop.time()
    assert await sleep_or_stop(stop, 30.0) is True
    assert loop.time() - started < 5.0
