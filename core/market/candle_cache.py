"""An incremental SQLite cache of exchange candles (the `candles` table).

After the first load of a market only candles that have closed since are requested; a
still-forming candle is never stored; gaps are tolerated and reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

from core.domain.models import Candle
from core.market.candles import COLUMNS, Gap, empty_frame, find_gaps, last_closed_open, timeframe_ms
from core.storage.store import Store


class CandleSource(Protocol):
    """The part of `core.exchange.base.Exchange` the cache needs (any Exchange is one)."""

    @property
    def name(self) -> str: ...

    async def fetch_candles(
        self, symbol: str, timeframe: str, since: int | None = None, limit: int | None = None
    ) -> list[Candle]: ...


@dataclass(frozen=True, slots=True)
class Refresh:
    """What one refresh of a market's candles did.

    `gaps` are holes among the candles stored (and next to the newest one stored before);
    `missing_recent` counts closed candles after `last_closed` the exchange did not return.
    """

    symbol: str
    timeframe: str
    requests: int
    new_candles: int
    last_closed: int | None
    gaps: tuple[Gap, ...]
    missing_recent: int = 0


class CandleCache:
    """Closed exchange candles kept in the `candles` table, fetched incrementally.

    The first refresh of a market loads `history` candles; later ones ask only for candles
    after the newest stored one, and make no request at all while no new candle can have
    closed. A still-forming candle is never stored. Candles the exchange does not have (an
    outage) are tolerated: they are reported as gaps and not asked for again.
    """

    def __init__(self, store: Store, source: CandleSource, *, page_limit: int = 1000) -> None:
        if page_limit < 1:
            raise ValueError(f"page_limit = {page_limit}: must be at least 1")
        self.store = store
        self.source = source
        self.page_limit = page_limit

    async def newest(self, symbol: str, timeframe: str) -> int | None:
        """Open time of the newest stored candle of the market, or None."""
        async with self.store.conn.execute(
            "SELECT MAX(ts) FROM candles WHERE exchange = ? AND symbol = ? AND timeframe = ?",
            (self.source.name, symbol, timeframe),
        ) as cursor:
            row = await cursor.fetchone()
        return None if row is None or row[0] is None else int(row[0])

    async def refresh(
        self, symbol: str, timeframe: str, now_ms: int, *, history: int = 500
    ) -> Refresh:
        """Fetch and store the candles of `symbol` that closed since the last refresh.

        `now_ms` is the clock (candles not closed by then are dropped); `history` is how many
        candles back from now a refresh reaches at most (the first load fetches all of them).
        Exchange errors propagate (`core.exchange.errors`); what was stored stays stored.
        """
        if history < 1:
            raise ValueError(f"history = {history}: must be at least 1")
        length = timeframe_ms(timeframe)
        newest_closed = last_closed_open(now_ms, timeframe)
        newest = await self.newest(symbol, timeframe)
        # After a long pause, skip what lies beyond `history`: it would only be fetched to be
        # ignored, and the hole is reported as a gap.
        earliest = newest_closed - (history - 1) * length
        since = earliest if newest is None else max(newest + length, earliest)
        requests = 0
        stored: dict[int, Candle] = {}
        # Every page must bring a new candle to go on, so a source that keeps repeating itself
        # (or caps pages below `page_limit`) can cost at most one request per candle wanted.
        max_requests = max(0, (newest_closed - since) // length + 1)
        while since <= newest_closed and requests < max_requests:
            page = await self.source.fetch_candles(symbol, timeframe, since, self.page_limit)
            requests += 1
            fresh = [c for c in page if since <= c.timestamp <= newest_closed and _usable(c)]
            if not fresh:
                break
            await self._store(symbol, timeframe, fresh)
            stored.update((c.timestamp, c) for c in fresh)
            since = max(c.timestamp for c in fresh) + length
        times = sorted(stored)
        if newest is not None and times:
            times.insert(0, newest)
        last = await self.newest(symbol, timeframe)
        behind = (newest_closed - last) // length if last is not None else history
        return Refresh(
            symbol=symbol,
            timeframe=timeframe,
            requests=requests,
            new_candles=len(stored),
            last_closed=last,
            gaps=tuple(find_gaps(times, timeframe)),
            missing_recent=max(0, behind),
        )

    async def load(
        self, symbol: str, timeframe: str, *, since: int | None = None, limit: int | None = None
    ) -> pd.DataFrame:
        """Stored candles of the market as a candle frame: from `since`, or the newest `limit`."""
        query = ("SELECT ts, open, high, low, close, volume FROM candles "
                 "WHERE exchange = ? AND symbol = ? AND timeframe = ? AND ts >= ? "
                 "ORDER BY ts DESC")
        params: tuple[object, ...] = (self.source.name, symbol, timeframe,
                                      since if since is not None else -(2**62))
        if limit is not None:
            query += " LIMIT ?"
            params = (*params, limit)
        async with self.store.conn.execute(query, params) as cursor:
            rows = list(await cursor.fetchall())
        if not rows:
            return empty_frame()
        rows.reverse()
        data = np.array([tuple(row) for row in rows], dtype=np.float64)
        return pd.DataFrame(
            {name: data[:, i + 1] for i, name in enumerate(COLUMNS)},
            index=pd.Index(np.array([row[0] for row in rows], dtype=np.int64), name="timestamp"),
        )

    async def _store(self, symbol: str, timeframe: str, candles: list[Candle]) -> None:
        # One multi-row statement per chunk, oldest chunk first, each in its own short
        # transaction of the store (writers on the shared connection take turns); an
        # interruption leaves a prefix (the next refresh continues after the newest candle).
        ordered = sorted(candles, key=lambda c: c.timestamp)
        for start in range(0, len(ordered), _ROWS_PER_STATEMENT):
            chunk = ordered[start:start + _ROWS_PER_STATEMENT]
            placeholders = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(chunk))
            params: list[object] = []
            for c in chunk:
                params += [self.source.name, symbol, timeframe, c.timestamp,
                           c.open, c.high, c.low, c.close, c.volume]
            async with self.store.transaction() as conn:
                await conn.execute(
                    "INSERT OR REPLACE INTO candles "
                    "(exchange, symbol, timeframe, ts, open, high, low, close, volume) "
                    f"VALUES {placeholders}",
                    params,
                )


# 9 values a row; SQLite allows 32,766 parameters a statement.
_ROWS_PER_STATEMENT = 1000


def _usable(candle: Candle) -> bool:
    # SQLite stores NaN as NULL, which the table refuses; such a candle is left out (a gap).
    values = (candle.open, candle.high, candle.low, candle.close, candle.volume)
    return all(np.isfinite(v) for v in values)
