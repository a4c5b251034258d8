"""Handlers that take turns: the owner's typed commands are answered in the order sent."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from telegram import Update
from telegram.ext import ContextTypes

Callback = Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]


def in_turn(turn: asyncio.Lock, callback: Callback) -> Callback:
    """`callback`, run only while holding `turn`: one at a time, first come first served
    (asyncio.Lock wakes its waiters in the order they began waiting)."""
    async def run(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        async with turn:
            await callback(update, context)
    return run
