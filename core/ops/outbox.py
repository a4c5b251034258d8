"""The outbox: messages for the owner wait in SQLite and are delivered in order, each once.

The engine never waits for Telegram. Every engine event (and every notice such as the daily
summary) is written to the `outbox` table as it happens; a `Courier` hands the waiting ones,
oldest first, to the front-end's `deliver` and marks each delivered as soon as that returns. If
delivery fails because the channel is down, the same letter is tried again with growing pauses
and nothing behind it overtakes it; after a restart the courier starts with what is still
waiting. A letter the front-end refuses for good (it cannot be formatted or Telegram rejects
it as malformed) is set aside after a few tries so it cannot block the queue forever.

Exactly once, with one caveat no outbox can remove: if the connection breaks after Telegram
accepted a message but before it answered, Ballast cannot know, and sends it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, get_args

from core.engine.codec import parse_time, time_text
from core.engine.events import Event, Subscription
from core.ops.backup import BackupsResumed, BackupTrouble
from core.ops.summary import DailySummary
from core.ops.watchdog import ScansFailing, ScansResumed
from core.runtime.logs import log_event
from core.runtime.retry import backoff_delay
from core.storage.store import Store
from core.storage.stored_json import StoredJson, StoredJsonError

log = logging.getLogger(__name__)

Letter = Event | DailySummary | ScansFailing | ScansResumed | BackupTrouble | BackupsResumed
LETTER_KINDS: tuple[type[Any], ...] = (*get_args(Event), DailySummary, ScansFailing,
                                       ScansResumed, BackupTrouble, BackupsResumed)

WAITING = "waiting"
DELIVERED = "delivered"
SET_ASIDE = "set_aside"


class CodecError(ValueError):
    """A letter could not be written or read back (an unknown kind or a changed shape)."""


# -- turning letters into JSON and back ---------------------------------------------------------

# One checked codec per kind, built once; the kind's name is stored beside the text.
_CODECS: dict[str, StoredJson[Any]] = {
    kind.__name__: StoredJson(kind, kind.__name__) for kind in LETTER_KINDS
}


def encode(letter: Letter) -> tuple[str, str]:
    """The letter's kind name and JSON text."""
    kind = type(letter).__name__
    if type(letter) not in LETTER_KINDS:
        raise CodecError(f"{kind} is not a kind of letter the outbox carries")
    return kind, _CODECS[kind].dump(letter)


def decode(kind: str, text: str) -> Letter:
    """The letter stored as `kind` and `text`; `CodecError` names what no longer reads."""
    codec = _CODECS.get(kind)
    if codec is None:
        raise CodecError(f"unknown letter kind {kind!r}")
    try:
        letter: Letter = codec.load(text)
    except StoredJsonError as error:
        raise CodecError(str(error)) from None
    return letter


# -- the table ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Posted:
    """A waiting letter with its place in the queue."""

    id: int
    created_at: datetime
    kind: str
    text: str
    attempts: int


class Outbox:
    """The `outbox` table: letters in the order they were posted, each waiting or delivered."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._conn = store.conn
        self.arrived = asyncio.Event()

    async def post(self, letter: Letter, now: datetime) -> int:
        """Store `letter` for delivery; returns its number (the queue order)."""
        kind, text = encode(letter)
        async with self._store.transaction() as conn:
            cursor = await conn.execute(
                "INSERT INTO outbox (created_at, kind, payload, state) VALUES (?, ?, ?, ?)",
                (time_text(now), kind, text, WAITING),
            )
            number = cursor.lastrowid
            await cursor.close()
        self.arrived.set()
        if number is None:  # SQLite always reports the rowid of an INSERT
            raise RuntimeError("the outbox did not number a letter")
        return number

    async def waiting(self, limit: int = 100) -> list[Posted]:
        """Letters not yet delivered, oldest first."""
        async with self._conn.execute(
            "SELECT id, created_at, kind, payload, attempts FROM outbox"
            " WHERE state = ? ORDER BY id LIMIT ?",
            (WAITING, limit),
        ) as cursor:
            rows = await cursor.fetchall()
        return [Posted(row[0], parse_time(row[1]), row[2], row[3], row[4]) for row in rows]

    async def posted_since(self, kind: type[Letter], since: datetime) -> list[Letter]:
        """The letters of `kind` posted after `since`, oldest first, whatever became of them
        (the daily summary retells the day's signal flips)."""
        async with self._conn.execute(
            "SELECT kind, payload FROM outbox WHERE kind = ? AND created_at > ? ORDER BY id",
            (kind.__name__, time_text(since)),
        ) as cursor:
            rows = await cursor.fetchall()
        letters = []
        for row in rows:
            with contextlib.suppress(CodecError):  # an unreadable one is set aside elsewhere
                letters.append(decode(row[0], row[1]))
        return letters

    async def count(self, state: str = WAITING) -> int:
        """How many letters are in `state`."""
        async with self._conn.execute(
            "SELECT COUNT(*) FROM outbox WHERE state = ?", (state,)
        ) as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def mark_delivered(self, number: int, now: datetime) -> bool:
        """Record that letter `number` arrived (False if it was not waiting)."""
        return await self._finish(number, DELIVERED, now, None)

    async def set_aside(self, number: int, now: datetime, error: str) -> bool:
        """Stop trying letter `number`: it can never be delivered as it is."""
        return await self._finish(number, SET_ASIDE, now, error)

    async def note_failure(self, number: int, error: str) -> int:
        """Count a failed attempt at letter `number`; returns the attempts so far."""
        async with self._store.transaction() as conn, conn.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE id = ?"
            " RETURNING attempts",
            (error[:500], number),
        ) as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def prune(self, before: datetime) -> int:
        """Delete delivered and set-aside letters finished before `before`."""
        async with self._store.transaction() as conn:
            cursor = await conn.execute(
                "DELETE FROM outbox WHERE state != ? AND finished_at < ?",
                (WAITING, time_text(before)),
            )
            removed = cursor.rowcount
            await cursor.close()
        return removed

    async def _finish(self, number: int, state: str, now: datetime, error: str | None) -> bool:
        async with self._store.transaction() as conn:
            cursor = await conn.execute(
                "UPDATE outbox SET state = ?, finished_at = ?,"
                " last_error = COALESCE(?, last_error) WHERE id = ? AND state = ?",
                (state, time_text(now), error, number, WAITING),
            )
            changed = cursor.rowcount == 1
            await cursor.close()
        return changed


# -- delivering ------------------------------------------------------------------------------------

Deliver = Callable[[Letter], Awaitable[None]]
Clock = Callable[[], datetime]


class Courier:
    """Hands waiting letters to `deliver` in order; pauses and retries while delivery fails.

    `is_permanent(error)` says which failures no retry can fix (a malformed message); those
    letters are set aside after `permanent_attempts` tries. Any other failure is taken as the
    channel being down: the letter stays first in line.
    """

    def __init__(
        self,
        outbox: Outbox,
        deliver: Deliver,
        clock: Clock,
        *,
        is_permanent: Callable[[Exception], bool] = lambda error: False,
        permanent_attempts: int = 3,
        first_pause: float = 1.0,
        max_pause: float = 60.0,
        idle_check: float = 60.0,
    ) -> None:
        self.outbox = outbox
        self.deliver = deliver
        self.clock = clock
        self.is_permanent = is_permanent
        self.permanent_attempts = permanent_attempts
        self.first_pause = first_pause
        self.max_pause = max_pause
        self.idle_check = idle_check
        self.failures = 0

    async def deliver_waiting(self) -> bool:
        """Deliver what is waiting, in order; False if the channel failed (stop for now)."""
        while True:
            batch = await self.outbox.waiting()
            if not batch:
                return True
            for posted in batch:
                if not await self._deliver_one(posted):
                    return False

    async def _deliver_one(self, posted: Posted) -> bool:
        try:
            letter = decode(posted.kind, posted.text)
        except CodecError as error:
            await self.outbox.set_aside(posted.id, self.clock(), str(error))
            log_event(log, "error", "an outbox letter cannot be read", logging.ERROR,
                      letter=posted.id, kind=posted.kind, error=error)
            return True
        try:
            await self.deliver(letter)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            return await self._failed(posted, error)
        await self.outbox.mark_delivered(posted.id, self.clock())
        if self.failures:
            log_event(log, "delivery", "messages are getting through again",
                      after_failures=self.failures)
        self.failures = 0
        return True

    async def _failed(self, posted: Posted, error: Exception) -> bool:
        reason = f"{type(error).__name__}: {error}"
        attempts = await self.outbox.note_failure(posted.id, reason)
        if self.is_permanent(error):
            if attempts >= self.permanent_attempts:
                await self.outbox.set_aside(posted.id, self.clock(), reason)
                log_event(log, "error", "a message was refused for good; set aside",
                          logging.ERROR, letter=posted.id, kind=posted.kind, error=reason)
                return True
            log_event(log, "delivery", "a message was refused; trying again", logging.WARNING,
                      letter=posted.id, kind=posted.kind, attempts=attempts, error=reason)
            return False
        if self.failures == 0:
            log_event(log, "error", "cannot deliver messages; they wait in the outbox",
                      logging.WARNING, letter=posted.id, kind=posted.kind, error=reason)
        self.failures += 1
        return False

    def pause(self) -> float:
        """Seconds to wait after the latest failure: doubling from `first_pause` to `max_pause`."""
        if self.failures == 0:
            return self.first_pause
        return backoff_delay(self.failures, self.first_pause, self.max_pause)

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set: at once when a letter arrives, later after a failure."""
        while not stop.is_set():
            self.outbox.arrived.clear()
            delivered = await self.deliver_waiting()
            wait = self.idle_check if delivered else self.pause()
            stopping = asyncio.ensure_future(stop.wait())
            arriving = asyncio.ensure_future(self.outbox.arrived.wait())
            try:
                # After a failure only time (or stopping) ends the pause, not a new letter.
                watched = {stopping, arriving} if delivered else {stopping}
                await asyncio.wait(watched, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in (stopping, arriving):
                    waiter.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await waiter


async def post_events(subscription: Subscription, outbox: Outbox, clock: Clock) -> None:
    """Write every engine event of `subscription` to the outbox as it comes (until cancelled)."""
    async for event in subscription:
        try:
            await outbox.post(event, clock())
        except Exception:  # a full disk must not stop the engine; the log says what was lost
            log.exception("could not store a %s alert in the outbox", type(event).__name__)
