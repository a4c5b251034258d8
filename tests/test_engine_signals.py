"""The engine's signal scan on real candles: when candles stop arriving, the vote goes HOLD."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.account.snapshot import read_portfolio
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
