"""Where the paper exchange gets its prices: a live public exchange, or candles on a clock.

Any `Exchange` is a `PriceSource` (the live ccxt adapter without keys reads public tickers and
candles). `ReplayPrices` reads a candle directory (SPEC §9) and answers as of a clock's time,
for backtests and offline demos.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable

from core.exchange.base import Candle
from core.models import Price

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The wall clock in UTC: the default clock of live and paper trading."""
    return datetime.now(UTC)


@runtime_checkable
class PriceSource(Protocol):
    """Last prices and candles: the read-only market data half of `Exchange`."""

    async def fetch_prices(self, symbols: Sequence[str]) -> dict[str, Price]:
        """Last prices for many symbols in one batch; symbols without a price are omitted."""
        ...

    async def fetch_candles(
        self, symbol: str, timeframe: str, since: int | None = None, limit: int | None = None
    ) -> list[Candle]:
        """Candles from `since` (epoch ms of an open), oldest first."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class FixedPrices:
    """Prices that never move (what-if planning, tests): `{"BTC/USDT": Decimal(...)}`."""

    def __init__(self, prices: Mapping[str, Decimal], *, at: datetime | None = None) -> None:
        self._prices = dict(prices)
        self._at = at

    def set(self, symbol: str, last: Decimal) -> None:
        """Move one symbol's price (a what-if or a test stepping the market)."""
        self._prices[symbol] = last

    async def fetch_prices(self, symbols: Sequence[str]) -> dict[str, Price]:
        """The fixed prices of the requested symbols that have one."""
        found: dict[str, Price] = {}
        for symbol in symbols:
            if symbol in self._prices:
                base, quote = symbol.split("/")
                found[symbol] = Price(base, quote, self._prices[symbol], self._at)
        return found

    async def fetch_candles(
        self, symbol: str, timeframe: str, since: int | None = None, limit: int | None = None
    ) -> list[Candle]:
        """No history: fixed prices have no candles."""
        return []

    async def close(self) -> None:
        """Nothing to release."""
