"""Signals for a scan: candles refreshed incrementally, signals recomputed only on a new candle.

Candles close once per timeframe (an hour by default) while scans run every 30 s, so most scans
make no candle request and reuse the signal computed from the same last closed candle.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

import pandas as pd

from core.config.settings import Settings
from core.domain.models import AssetSignal, Portfolio, epoch_ms
from core.exchange.base import Exchange
from core.exchange.errors import ExchangeError
from core.market.candle_cache import CandleCache
from core.market.candles import timeframe_ms
from core.policy.scope import signal_assets
from core.signals import candles_needed, compute_signal

log = logging.getLogger(__name__)

# Indicators such as EMA(50) need a run-in beyond their window to settle: with ~400 candles
# the values no longer depend on where the history starts (to 1e-6), so a live signal equals
# the one `ballast signals` and the backtest compute from the same candles.
WARM_UP = 3
MIN_HISTORY = 500
CONCURRENT_REFRESHES = 8


class SignalScanner:
    """Reads each relevant asset's signal during a scan (the engine's `read_signals` port)."""

    def __init__(self, exchange: Exchange, cache: CandleCache, settings: Settings) -> None:
        self._exchange = exchange
        self._cache = cache
        self._settings = settings
        self._history = max(MIN_HISTORY, candles_needed(settings.signal) * WARM_UP)
        # Per asset: (last candle, the candle that should be the last one now) → its signal.
        self._computed: dict[str, tuple[tuple[int, int], AssetSignal]] = {}
        self._gate = asyncio.Semaphore(CONCURRENT_REFRESHES)

    def assets(self, portfolio: Portfolio) -> list[str]:
        """Holdings that are not dust, and watchlist assets with a price."""
        return signal_assets(portfolio, self._settings.watchlist, self._settings.cash_assets)

    async def __call__(self, portfolio: Portfolio, now: datetime) -> dict[str, AssetSignal]:
        """The signal of every relevant asset with candles; assets without any are left out."""
        now_ms = epoch_ms(now)
        markets = await self._exchange.load_markets()
        quote = self._settings.quote
        assets = [a for a in self.assets(portfolio) if f"{a}/{quote}" in markets]
        frames = await asyncio.gather(*(self._candles(asset, now_ms) for asset in assets))
        step = timeframe_ms(self._settings.timeframe)
        expected = now_ms // step * step - step
        todo = {
            asset: frame
            for asset, frame in zip(assets, frames, strict=True)
            if frame is not None and not self._fresh(asset, frame, expected)
        }
        if todo:
            computed = await asyncio.to_thread(self._compute, todo, now_ms)
            for asset, signal in computed.items():
                self._computed[asset] = ((int(todo[asset].index[-1]), expected), signal)
        return {
            asset: self._computed[asset][1]
            for asset in assets
            if asset in self._computed
        }

    async def _candles(self, asset: str, now_ms: int) -> pd.DataFrame | None:
        symbol = f"{asset}/{self._settings.quote}"
        timeframe = self._settings.timeframe
        async with self._gate:
            try:
                await self._cache.refresh(symbol, timeframe, now_ms, history=self._history)
            except ExchangeError as error:
                # Keep going on the candles already stored; the next scan asks again.
                log.warning("candles of %s not refreshed: %s", symbol, error)
        frame = await self._cache.load(symbol, timeframe, limit=self._history)
        return None if frame.empty else frame

    def _fresh(self, asset: str, frame: pd.DataFrame, expected: int) -> bool:
        known = self._computed.get(asset)
        return known is not None and known[0] == (int(frame.index[-1]), expected)

    def _compute(self, frames: dict[str, pd.DataFrame], now_ms: int) -> dict[str, AssetSignal]:
        # As of now, not of the last stored candle: when candles stop arriving (an outage)
        # the signal turns HOLD with the reason instead of repeating a stale vote.
        return {
            asset: compute_signal(asset, frame, self._settings.signal, at_ms=now_ms)
            for asset, frame in frames.items()
        }
