"""Signals for a scan: candles refreshed incrementally, signals recomputed only on a new candle.

Candles close once per timeframe (an hour by default) while scans run every 30 s, so most scans
make no candle request and reuse the signal computed from the same last closed candle. A daily
strategy beside hourly ones gets the exchange's own daily candles, cached like the hourly ones.
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
from core.signals import candles_needed, compute_signal, timeframes

log = logging.getLogger(__name__)

# Indicators such as EMA(50) need a run-in beyond their window to settle: with ~400 candles
# the values no longer depend on where the history starts (to 1e-6), so a live signal equals
# the one `ballast signals` and the backtest compute from the same candles.
WARM_UP = 3
MIN_HISTORY = 500
CONCURRENT_REFRESHES = 8


class SignalScanner:
    """Reads each relevant asset's signal during a scan (the engine's `read_signals` port).

    Each timeframe the strategies read (the signal's, and `1d` for the daily trend family) is
    fetched and cached on its own: a daily candle is stored once it has closed, and asked for
    once a day.
    """

    def __init__(self, exchange: Exchange, cache: CandleCache, settings: Settings) -> None:
        self._exchange = exchange
        self._cache = cache
        self._settings = settings
        signal = settings.signal
        self._timeframes = timeframes(signal)
        self._history = {tf: max(MIN_HISTORY, candles_needed(signal, tf) * WARM_UP)
                         for tf in self._timeframes}
        # Per asset: (last candle of each timeframe, the candle that should be the last one
        # now) → its signal.
        self._computed: dict[str, tuple[tuple[int, ...], AssetSignal]] = {}
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
        found = await asyncio.gather(*(self._candles(asset, now_ms) for asset in assets))
        step = timeframe_ms(self._settings.timeframe)
        expected = now_ms // step * step - step
        todo: dict[str, dict[str, pd.DataFrame]] = {}
        keys: dict[str, tuple[int, ...]] = {}
        for asset, frames in zip(assets, found, strict=True):
            if frames is None:
                continue
            keys[asset] = (*(int(f.index[-1]) if len(f) else -1 for f in frames.values()),
                           expected)
            known = self._computed.get(asset)
            if known is None or known[0] != keys[asset]:
                todo[asset] = frames
        if todo:
            computed = await asyncio.to_thread(self._compute, todo, now_ms)
            for asset, signal in computed.items():
                self._computed[asset] = (keys[asset], signal)
        return {
            asset: self._computed[asset][1]
            for asset in assets
            if asset in self._computed
        }

    async def _candles(self, asset: str, now_ms: int) -> dict[str, pd.DataFrame] | None:
        """The asset's stored closed candles of each timeframe read, refreshed first; None
        without any of the signal's own timeframe."""
        symbol = f"{asset}/{self._settings.quote}"
        frames: dict[str, pd.DataFrame] = {}
        for timeframe in self._timeframes:
            history = self._history[timeframe]
            async with self._gate:
                try:
                    await self._cache.refresh(symbol, timeframe, now_ms, history=history)
                except ExchangeError as error:
                    # Keep going on the candles already stored; the next scan asks again.
                    log.warning("%s candles of %s not refreshed: %s", timeframe, symbol, error)
            frames[timeframe] = await self._cache.load(symbol, timeframe, limit=history)
        return None if frames[self._settings.timeframe].empty else frames

    def _compute(
        self, candles: dict[str, dict[str, pd.DataFrame]], now_ms: int
    ) -> dict[str, AssetSignal]:
        # As of now, not of the last stored candle: when candles stop arriving (an outage)
        # the signal turns HOLD with the reason instead of repeating a stale vote.
        signal, own = self._settings.signal, self._settings.timeframe
        return {
            asset: compute_signal(asset, frames[own], signal, at_ms=now_ms,
                                  other={tf: f for tf, f in frames.items() if tf != own})
            for asset, frames in candles.items()
        }
