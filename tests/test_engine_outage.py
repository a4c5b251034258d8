"""An exchange outage over real HTTP: the live adapter against the Binance stand-in answering 5xx.

The engine must report it once, keep retrying on its own clock, and announce the recovery,
all in the same engine (no restart).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from core.account.snapshot import read_portfolio
from core.config.settings import load_settings
from core.domain.models import AssetSignal, MarketRules, Plan, Portfolio, PositionFacts
from core.engine.events import ExchangeRecovered, ExchangeTrouble
from core.engine.loop import Engine
from core.engine.orders import OrderRow
from core.engine.ports import Ports
from core.exchange.base import Order
from core.exchange.ccxt_exchange import CcxtExchange
from core.exchange.ccxt_retry import RetryPolicy
from core.storage.store import Store
from tests.engine_support import plan_of
from tests.standins.binance import BinanceStandIn


async def no_wait(seconds: float) -> None:
    """The adapter's backoff, skipped: the test drives time itself."""


async def test_an_outage_over_http_is_reported_once_and_recovered(store: Store) -> None:
    settings = load_settings(env={}, mode="live", watchlist="BTC,ETH")

    async with BinanceStandIn(
        balances={"USDT": "1000", "BTC": "0.05", "ETH": "1"},
        prices={"BTC/USDT": "60000", "ETH/USDT": "3000"},
    ) as standin:
        exchange = CcxtExchange(
            api_key=standin.api_key, api_secret=standin.api_secret, api_url=standin.url,
            retry=RetryPolicy(attempts=2), sleep=no_wait,
        )

        async def portfolio(now: datetime) -> Portfolio:
            return await read_portfolio(exchange, settings, now)

        async def no_signals(p: Portfolio, now: datetime) -> dict[str, AssetSignal]:
            return {}

        async def no_facts(p: Portfolio, now: datetime) -> dict[str, PositionFacts]:
            return {}

        def nothing_to_do(
            p: Portfolio, s: Mapping[str, AssetSignal], f: Mapping[str, PositionFacts],
            m: Mapping[str, MarketRules], now: datetime, traded: Decimal,
        ) -> Plan:
            return plan_of()

        async def no_fills(row: OrderRow, order: Order) -> None:
            return None

        engine = Engine(settings, exchange, store,
                        Ports(portfolio, no_signals, no_facts, nothing_to_do, no_fills))
        events = engine.bus.subscribe()
        now = datetime.now(UTC)
        try:
            await engine.tick(now)
            standin.fail_next("GET /api/v3/account", "server_error", times=6, status=503)
            waits = []
            for _ in range(3):  # each scan tries twice: three scans use up the six failures
                wake = await engine.tick(now)
                waits.append(wake - now)
                now = wake
            await engine.tick(now)
        finally:
            await exchange.close()

    seen = events.pending()
    trouble = [e for e in seen if isinstance(e, ExchangeTrouble)]
    recovered = [e for e in seen if isinstance(e, ExchangeRecovered)]
    assert len(trouble) == 1 and "binance" in trouble[0].message.lower()
    assert len(recovered) == 1 and recovered[0].failed_scans == 3
    assert all(w < timedelta(seconds=settings.scan_interval) for w in waits)
    assert engine.latest is not None and engine.latest.at == now
    assert standin.count("GET /api/v3/account") == 1 + 6 + 1
