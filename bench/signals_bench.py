"""Signals benchmark: compute time for many symbols, and what a candle refresh costs.

    uv run python bench/signals_bench.py --candles DIR

Prints
1. the time to compute every strategy for 100 symbols × 500 closed 1h candles through
   `compute_signals` (target ≤ 0.5 s), warm and cold. Warm (median of repeated calls) is what
   the engine pays every cycle, and what the target is about: the engine computes signals in
   one long-running process. Cold is the first call in a process, which also pays pandas' and
   NumPy's first-call costs (no numba kernel runs: core/signals/lazy_numba.py): a one-off the
   engine pays once at start-up, and a one-shot command (`ballast signals`) pays every time;
2. the backtest path: `signal_history` over 20 symbols × 4 years of 1h candles, then the
   signal read at every hour;
3. the candle cache: requests for a first load of 100 symbols, for a refresh with no new
   candle, and for a refresh after one new candle closed.

Candles are real Binance 1h candles from `DIR` (at least 20 symbols over 2021–2024).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd
from candle_arg import add_candles_argument, candles_dir

from core.config.rules import SignalSettings
from core.domain.models import Candle
from core.market.candle_cache import CandleCache
from core.market.candles import frame_to_candles, read_candle_dir, timeframe_ms
from core.signals import compute_signals, signal_history
from core.storage.store import Store

HOUR = timeframe_ms("1h")


def symbol_windows(frames: dict[str, pd.DataFrame], count: int, size: int) -> (
    dict[str, pd.DataFrame]
):
    """`count` windows of `size` candles, spread over the files (several per file)."""
    windows: dict[str, pd.DataFrame] = {}
    assets = sorted(frames)
    per_asset = -(-count // len(assets))
    for asset in assets:
        frame = frames[asset]
        for k in range(per_asset):
            end = len(frame) - k * 3 * size
            if end < size or len(windows) == count:
                break
            windows[f"{asset}{k}"] = frame.iloc[end - size:end]
    return windows


class CountingSource:
    """An exchange's candle endpoint over stored real candles, counting requests."""

    def __init__(self, candles: dict[str, list[Candle]], now_ms: int) -> None:
        self.candles = candles
        self.now_ms = now_ms
        self.requests = 0

    @property
    def name(self) -> str:
        return "bench"

    async def fetch_candles(
        self, symbol: str, timeframe: str, since: int | None = None, limit: int | None = None
    ) -> list[Candle]:
        self.requests += 1
        rows = [c for c in self.candles[symbol]
                if (since is None or c.timestamp >= since) and c.timestamp <= self.now_ms]
        return rows[: limit or 500]


async def cache_requests(windows: dict[str, pd.DataFrame]) -> tuple[int, int, int, int]:
    """Requests for a first load, an idle refresh and a one-candle refresh of every symbol."""
    candles = {f"{asset}/USDT": frame_to_candles(frame) for asset, frame in windows.items()}
    # The clock starts one candle before each window's end, so exactly one candle is new later.
    start = {symbol: rows[-2].timestamp + HOUR for symbol, rows in candles.items()}
    with tempfile.TemporaryDirectory() as folder:
        store = await Store.open(Path(folder) / "bench.db")
        try:
            source = CountingSource(candles, 0)
            cache = CandleCache(store, source)

            async def refresh_all(shift: int) -> int:
                before = source.requests
                for symbol in candles:
                    source.now_ms = start[symbol] + shift
                    await cache.refresh(symbol, "1h", source.now_ms, history=499)
                return source.requests - before

            first = await refresh_all(0)
            idle = await refresh_all(HOUR // 2)
            one_more = await refresh_all(HOUR)
            stored = sum([len(await cache.load(symbol, "1h")) for symbol in candles])
        finally:
            await store.close()
    return first, idle, one_more, stored


def timed(repeats: int, work: Callable[[], object]) -> tuple[list[float], list[float]]:
    """Wall and CPU times of `repeats` calls of `work` (CPU time shows through a busy machine)."""
    wall, cpu = [], []
    for _ in range(repeats):
        began, began_cpu = time.perf_counter(), time.process_time()
        work()
        wall.append(time.perf_counter() - began)
        cpu.append(time.process_time() - began_cpu)
    return wall, cpu


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_candles_argument(parser)
    args = parser.parse_args(argv)
    frames = read_candle_dir(candles_dir(parser, args.candles), "1h")
    settings = SignalSettings(timeframe="1h")

    windows = symbol_windows(frames, 100, 500)
    print(f"symbols: {len(windows)} × {min(len(f) for f in windows.values())} 1h candles, "
          f"strategies: {', '.join(settings.strategies)}")
    # The cold call must be this process's first.
    (cold,), (cold_cpu,) = timed(1, lambda: compute_signals(windows, settings))
    wall, cpu = timed(7, lambda: compute_signals(windows, settings))
    warm = statistics.median(wall)
    print(f"compute_signals, {len(windows)} symbols (target ≤ 0.5 s):")
    print(f"  warm, every engine cycle: median {warm:.3f} s wall "
          f"({statistics.median(cpu):.3f} s CPU) over {len(wall)} calls, best {min(wall):.3f} s")
    print(f"  cold, first call in a process: {cold:.3f} s wall ({cold_cpu:.3f} s CPU) = warm + "
          f"{cold - warm:.3f} s once")

    long = {asset: frame[(frame.index >= 1_609_459_200_000) & (frame.index < 1_735_689_600_000)]
            for asset, frame in sorted(frames.items())[:20]}
    candles = sum(len(f) for f in long.values())
    began = time.perf_counter()
    histories = {asset: signal_history(asset, frame, settings) for asset, frame in long.items()}
    built = time.perf_counter() - began
    began = time.perf_counter()
    hours = range(1_609_459_200_000 + HOUR, 1_735_689_600_000 + 1, HOUR)
    reads = 0
    for at in hours:
        for history in histories.values():
            history.signal_at(at)
            reads += 1
    read = time.perf_counter() - began
    print(f"signal_history, {len(long)} symbols 2021–2024 ({candles} candles): built in "
          f"{built:.2f} s; {reads} hourly reads in {read:.2f} s")

    first, idle, one_more, stored = asyncio.run(cache_requests(windows))
    print(f"candle cache, {len(windows)} symbols: first load {first} requests; refresh with no "
          f"new candle {idle} requests; refresh after one new candle {one_more} requests "
          f"({one_more / len(windows):.0f} per symbol); {stored} candles stored")


if __name__ == "__main__":
    main()
