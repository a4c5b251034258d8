"""The engine's signal scan on real candles: when candles stop arriving, the vote goes HOLD."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.account.snapshot import read_portfolio
from core.backtest.replay import load_replay
from core.config.settings import load_settings
from core.domain.models import SignalKind
from core.engine.signals import SignalScanner
from core.exchange.factory import build_exchange
from core.exchange.prices import ReplayPrices
from core.market.candle_cache import CandleCache
from core.market.candles import read_candle_file
from core.signals import compute_signal
from core.storage.store import Store

CANDLES = Path(__file__).parent / "fixtures" / "candles"
T0 = datetime(2024, 3, 1, tzinfo=UTC)


async def test_scan_matches_ballast_signals_then_turns_hold_when_candles_stop(
    tmp_path: Path,
) -> None:
    settings = load_settings(env={"BALLAST_TIMEFRAME": "1d", "BALLAST_DB": str(tmp_path / "b.db"),
                                  "BALLAST_WATCHLIST": "BTC,ETH"})
    # The exchange's candles stop at T0 (an outage) while the scan's clock moves on.
    replay = ReplayPrices(CANDLES, lambda: T0, timeframe="1d")
    async with await Store.open(settings.db) as store:
        exchange = await build_exchange(settings, store, prices=replay, clock=lambda: T0)
        portfolio = await read_portfolio(exchange, settings, T0, max_price_age=86_400)
        scanner = SignalScanner(exchange, CandleCache(store, exchange), settings)

        fresh = await scanner(portfolio, T0)
        later = await scanner(portfolio, T0 + timedelta(days=3))
        await exchange.close()

    # The scan's signal is the one `ballast signals` computes from the candle file at T0.
    frame = read_candle_file(CANDLES / "binance_BTC_USDT_1d.csv.gz")
    expected = compute_signal("BTC", frame, settings.signal, at_ms=int(T0.timestamp() * 1000))
    assert (fresh["BTC"].signal, fresh["BTC"].score) == (expected.signal, expected.score)
    assert [v.reason for v in fresh["BTC"].votes] == [v.reason for v in expected.votes]
    assert all("missing" not in vote.reason for vote in fresh["BTC"].votes)
    stale = later["BTC"]
    assert stale.signal is SignalKind.HOLD and stale.score == 0
    assert any("missing" in vote.reason for vote in stale.votes)


async def test_a_daily_strategy_reads_the_exchanges_closed_days_as_the_backtest_does(
    tmp_path: Path,
) -> None:
    """Hourly RSI beside the daily trend family: the scan fetches and caches the exchange's
    daily candles (closed ones only), and its signal is the backtest's at the same moment."""
    folder = CANDLES.parent / "candles_2023q1"
    now = datetime(2023, 4, 22, 5, 30, tzinfo=UTC)
    settings = load_settings(env={"BALLAST_DB": str(tmp_path / "b.db"),
                                  "BALLAST_WATCHLIST": "BTC,ETH",
                                  "BALLAST_STRATEGIES": "rsi,trend_ma,trend_score",
                                  "BALLAST_TREND_MA_DAYS": "20",
                                  "BALLAST_TREND_LOOKBACKS": "5,10,20"})
    replay = ReplayPrices(folder, lambda: now, timeframe="1h")
    async with await Store.open(settings.db) as store:
        exchange = await build_exchange(settings, store, prices=replay, clock=lambda: now)
        portfolio = await read_portfolio(exchange, settings, now, max_price_age=3600)
        cache = CandleCache(store, exchange)
        scanned = await SignalScanner(exchange, cache, settings)(portfolio, now)
        newest_day = await cache.newest("BTC/USDT", "1d")
        await exchange.close()

    today = int(now.timestamp() * 1000) // 86_400_000 * 86_400_000
    assert newest_day == today - 86_400_000  # yesterday: today's candle is still forming
    start = int(datetime(2023, 4, 1, tzinfo=UTC).timestamp() * 1000)
    backtest = load_replay(folder, "1h", "USDT", start, start + 30 * 86_400_000,
                           settings.signal)
    expected = backtest.signals["BTC"].at(int(now.timestamp() * 1000))
    got = scanned["BTC"]
    assert (got.signal, got.score, got.votes) == (expected.signal, expected.score, expected.votes)
    # The daily numbers exactly; the hourly RSI to its fading memory of where history starts.
    assert got.indicators == pytest.approx(expected.indicators, rel=1e-9)
    assert got.indicators["ma_20d"] == expected.indicators["ma_20d"]
    assert [v.strategy for v in expected.votes] == ["rsi", "trend_ma", "trend_score"]
    assert [v.vote for v in expected.votes[1:]] == [-1, -1]  # BTC fell under its average
    assert expected.indicators["ma_20d"] > 0
