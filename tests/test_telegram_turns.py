"""Taps on one plan take turns, and a decided plan keeps no lock (bot.telegram.handlers)."""

from __future__ import annotations

import asyncio

from bot.telegram.plan_messages import Turns


async def test_decided_approvals_leave_no_lock_behind() -> None:
    turns = Turns()
    for number in range(1000):
        async with turns.of(f"a{number}"):
            assert len(turns) == 1
    assert len(turns) == 0


async def test_taps_on_one_approval_take_turns_and_the_last_one_out_drops_the_lock() -> None:
    turns = Turns()
    order: list[str] = []
    first_in = asyncio.Event()
    let_go = asyncio.Event()

    async def first() -> None:
        async with turns.of("a1"):
            order.append("first in")
            first_in.set()
            await let_go.wait()
            order.append("first out")

    async def second() -> None:
        await first_in.wait()
        async with turns.of("a1"):
            order.append("second in")

    tasks = [asyncio.create_task(first()), asyncio.create_task(second())]
    await first_in.wait()
    await asyncio.sleep(0)  # the second tap now waits for the first
    assert len(turns) == 1
    let_go.set()
    await asyncio.gather(*tasks)
    assert order == ["first in", "first out", "second in"]
    assert len(turns) == 0


async def test_a_tap_cancelled_while_waiting_does_not_keep_the_lock() -> None:
    turns = Turns()
    held = asyncio.Event()
    let_go = asyncio.Event()

    async def holder() -> None:
        async with turns.of("a1"):
            held.set()
            await let_go.wait()

    async def waiter() -> None:
        async with turns.of("a1"):
            raise AssertionError("never reached: cancelled while waiting")

    holding = asyncio.create_task(holder())
    await held.wait()
    waiting = asyncio.create_task(waiter())
    await asyncio.sleep(0)
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    let_go.set()
    await holding
    assert len(turns) == 0
