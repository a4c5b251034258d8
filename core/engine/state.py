"""The engine's small persistent facts: pause, last scan, alert flags, portfolio snapshots."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from core.domain.models import Portfolio
from core.engine.codec import parse_time, time_text
from core.storage.store import Store
from core.storage.stored_json import StoredJson

PAUSED = "paused"
PAUSE_ALERT = "alert:trading_paused"  # set while a pause Ballast made itself is announced
RESUMED_AT = "resumed_at"  # the owner's last resume: foreign orders before it are known to them
LAST_SCAN = "last_scan"
LAST_PLAN = "last_plan"
CASH_ALERT = "alert:cash_below_min"
LAST_SIGNALS = "last_signals"
PLAN_MESSAGE = "plan_message:"  # + approval id: "chat:message" of the plan's chat message


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The portfolio's value at one moment (for history and charts)."""

    at: datetime
    total_value: Decimal
    cash_value: Decimal
    allocations: dict[str, Decimal]


# `Snapshot.allocations` in the `allocations` column: asset (and "cash") → share of the value.
_ALLOCATIONS_JSON = StoredJson(dict[str, Decimal], "snapshot's allocations")


class EngineState:
    """Key/value facts in `engine_state`, and snapshots in `snapshots`."""

    def __init__(self, store: Store) -> None:
        self._conn = store.conn

    async def get(self, key: str) -> str | None:
        """The stored value of `key`, or None."""
        async with self._conn.execute(
            "SELECT value FROM engine_state WHERE key = ?", (key,)
        ) as cursor:
            row = await cursor.fetchone()
        return None if row is None else str(row[0])

    async def set(self, key: str, value: str) -> None:
        """Store `value` under `key`."""
        await self._conn.execute(
            "INSERT INTO engine_state (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    async def with_prefix(self, prefix: str) -> list[tuple[str, str]]:
        """Every (key, value) whose key starts with `prefix`, by key."""
        async with self._conn.execute(
            "SELECT key, value FROM engine_state WHERE substr(key, 1, ?) = ? ORDER BY key",
            (len(prefix), prefix),
        ) as cursor:
            rows = await cursor.fetchall()
        return [(str(row[0]), str(row[1])) for row in rows]

    async def delete(self, key: str) -> None:
        """Forget `key`."""
        await self._conn.execute("DELETE FROM engine_state WHERE key = ?", (key,))

    async def get_flag(self, key: str) -> bool:
        """A stored yes/no (absent: no)."""
        return await self.get(key) == "1"

    async def set_flag(self, key: str, value: bool) -> None:
        """Store a yes/no."""
        await self.set(key, "1" if value else "0")

    async def get_time(self, key: str) -> datetime | None:
        """A stored time, or None."""
        text = await self.get(key)
        return None if text is None else parse_time(text)

    async def set_time(self, key: str, at: datetime) -> None:
        """Store a time."""
        await self.set(key, time_text(at))

    async def set_paused(self, paused: bool, at: datetime | None = None) -> None:
        """Pause or resume automatic proposals.

        Resuming `at` a time also tells the executor that the owner has seen any foreign orders
        placed before it (`core.engine.guards`): they pause trading no more.
        """
        await self.set_flag(PAUSED, paused)
        if not paused:
            await self.set_flag(PAUSE_ALERT, False)
            if at is not None:
                await self.set_time(RESUMED_AT, at)

    async def pause_unannounced(self) -> bool:
        """Pause; True if this pause is not announced yet (and count it as announced)."""
        await self.set_flag(PAUSED, True)
        if await self.get_flag(PAUSE_ALERT):
            return False
        await self.set_flag(PAUSE_ALERT, True)
        return True

    async def add_snapshot(self, portfolio: Portfolio, at: datetime) -> None:
        """Keep the portfolio's value and allocation at `at`."""
        total = portfolio.total_value
        allocations = {asset: holding.allocation for asset, holding in portfolio.holdings.items()}
        allocations["cash"] = portfolio.cash_value / total if total else Decimal(0)
        await self._conn.execute(
            "INSERT OR REPLACE INTO snapshots (at, total_value, cash_value, allocations)"
            " VALUES (?, ?, ?, ?)",
            (time_text(at), str(total), str(portfolio.cash_value),
             _ALLOCATIONS_JSON.dump(allocations)),
        )

    async def latest_snapshot_at(self) -> datetime | None:
        """When the newest snapshot was taken, or None."""
        async with self._conn.execute("SELECT MAX(at) FROM snapshots") as cursor:
            row = await cursor.fetchone()
        return None if row is None or row[0] is None else parse_time(row[0])

    async def snapshots(self, since: datetime | None = None, limit: int = 1000) -> list[Snapshot]:
        """Snapshots from `since` on, oldest first (at most the newest `limit`)."""
        async with self._conn.execute(
            "SELECT * FROM (SELECT * FROM snapshots WHERE at >= ? ORDER BY at DESC LIMIT ?)"
            " ORDER BY at",
            (time_text(since) if since else "", limit),
        ) as cursor:
            rows = await cursor.fetchall()
        return [
            Snapshot(
                at=parse_time(row["at"]),
                total_value=Decimal(row["total_value"]),
                cash_value=Decimal(row["cash_value"]),
                allocations=_ALLOCATIONS_JSON.load(row["allocations"]),
            )
            for row in rows
        ]
