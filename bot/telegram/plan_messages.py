"""The chat's side of each plan: which message shows it (so its outcome is written into that
message, even after a restart) and taps on it taking turns."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from bot.telegram.delivery import MessageRef
from core.engine.service import EngineService


class PlanMessages:
    """Which chat message shows which approval, so results can be written into it.

    Kept in the database through the engine service when one is given, so that an outcome
    settled after a restart (start-up recovery) still lands in the plan's own message.
    """

    def __init__(self, service: EngineService | None = None) -> None:
        self._where: dict[str, MessageRef] = {}
        self._service = service

    async def remember(self, approval_id: str, where: MessageRef) -> None:
        self._where[approval_id] = where
        if self._service is not None:
            await self._service.set_plan_message(approval_id,
                                                 (where.chat_id, where.message_id))

    async def find(self, approval_id: str) -> MessageRef | None:
        where = self._where.get(approval_id)
        if where is None and self._service is not None:
            stored = await self._service.plan_message(approval_id)
            if stored is not None:
                where = MessageRef(*stored)
        return where

    async def forget(self, approval_id: str) -> None:
        self._where.pop(approval_id, None)
        if self._service is not None:
            await self._service.set_plan_message(approval_id, None)


class Turns:
    """Taps on one approval take turns; each approval's lock lives only while a tap holds or
    awaits it, so decided approvals leave nothing behind however long the bot runs."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._taps: dict[str, int] = {}  # taps holding or awaiting each lock

    def __len__(self) -> int:
        """How many approvals have a tap in progress."""
        return len(self._locks)

    @contextlib.asynccontextmanager
    async def of(self, approval_id: str) -> AsyncIterator[None]:
        """Hold `approval_id`'s turn for the duration of the block."""
        lock = self._locks.setdefault(approval_id, asyncio.Lock())
        self._taps[approval_id] = self._taps.get(approval_id, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._taps[approval_id] -= 1
            if self._taps[approval_id] == 0:
                del self._taps[approval_id], self._locks[approval_id]
