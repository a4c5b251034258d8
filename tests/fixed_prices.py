"""A price source whose prices stand still: the market of the paper exchange in tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal

from core.domain.models import Candle, Price


class FixedPrices:
    """Prices that never move until a test moves them: `{"BTC/USDT": Decimal(...)}`."""

    def __init__(self, prices: Mapping[str, Decimal], *, at: datetime | None = None) -> None:
        self._prices = dict(prices)
        self._at = at

    def set(self, symbol: str, last: Decimal) -> None:
        """Move one symbol's price (a test stepping the market)."""
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
