"""The live adapter keeps only the markets Ballast can use, against Binance's full listing.

Binance's 2023-08-13 `exchangeInfo` lists 2,276 spot markets; ccxt would keep every one with
its raw filters for the life of the process. The adapter keeps markets in or against the quote,
BTC and the cash assets — and everything still works on them: valuation through BTC, orders
(ccxt checks the market's order types in what is left of its raw payload), `ballast check`.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from core.account.snapshot import read_portfolio
from core.config.settings import load_settings
from core.domain.models import Side
from core.exchange.base import OrderRequest, OrderStatus
from core.exchange.ccxt_exchange import CcxtExchange
from core.exchange.ccxt_parsing import slim_market
from core.exchange.check import Severity, check_exchange
from tests.standins.binance import EXCHANGE_INFO_FULL, BinanceStandIn

KEY, SECRET = "k3y-markets-5521", "s3cret-markets-8830"
PRICES = {"BTC/USDT": "30000", "PIVX/BTC": "0.00001", "SOL/USDT": "20", "ETH/USDT": "1800",
          "USDC/USDT": "1"}


async def instant(_: float) -> None:
    """Backoff without waiting."""


@pytest.fixture(scope="module")
def listing() -> list[dict[str, Any]]:
    with gzip.open(EXCHANGE_INFO_FULL, "rt") as file:
        symbols: list[dict[str, Any]] = json.load(file)["symbols"]
    return symbols


@pytest.fixture
async def standin() -> AsyncIterator[BinanceStandIn]:
    async with BinanceStandIn(api_key=KEY, api_secret=SECRET, exchange_info=EXCHANGE_INFO_FULL,
                              balances={"USDT": "1000", "PIVX": "500", "SOL": "3"},
                              prices=PRICES) as server:
        yield server


@pytest.fixture
async def exchange(standin: BinanceStandIn) -> AsyncIterator[CcxtExchange]:
    adapter = CcxtExchange("binance", api_key=KEY, api_secret=SECRET, api_url=standin.url,
                           sleep=instant)
    yield adapter
    await adapter.close()


def settings_for(standin: BinanceStandIn) -> Any:
    return load_settings(env={"BALLAST_MODE": "live", "BALLAST_EXCHANGE_API_KEY": KEY,
                              "BALLAST_EXCHANGE_API_SECRET": SECRET,
                              "BALLAST_EXCHANGE_API_URL": standin.url,
                              "BALLAST_WATCHLIST": "BTC,ETH,SOL"})


async def test_keeps_exactly_the_markets_touching_the_quote_btc_or_a_cash_asset(
        exchange: CcxtExchange, listing: list[dict[str, Any]]) -> None:
    kept_assets = {"USDT", "BTC", "USDC", "FDUSD", "USD", "DAI", "TUSD"}
    expected = [s for s in listing if {s["baseAsset"], s["quoteAsset"]} & kept_assets]
    markets = await exchange.load_markets()
    # Counted, not compared by name: ccxt renames a few assets (BCHSV is BSV).
    assert len(markets) == len(expected) and 900 < len(markets) < len(listing) / 2
    assert {"BTC/USDT", "ETH/BTC", "PIVX/BTC", "USDC/USDT", "BTC/TRY"} <= set(markets)
    assert not {"BNB/ETH", "ETH/BUSD", "BTCST/BUSD"} & set(markets)
    # Delisted markets stay, marked inactive, so valuation routes exactly as before.
    assert any(not m.active for m in markets.values())


async def test_ccxt_keeps_the_same_markets_without_their_raw_filters(
        exchange: CcxtExchange) -> None:
    markets = await exchange.load_markets()
    client: Any = exchange._client  # what ccxt holds is the point of this test
    assert set(client.markets) == set(markets)
    info = client.markets["BTC/USDT"]["info"]
    assert "filters" not in info and info["orderTypes"][:2] == ["LIMIT", "LIMIT_MAKER"]
    # The filters were read first: the rules are Binance's real ones.
    rules = markets["BTC/USDT"].rules
    assert (rules.amount_step, rules.min_notional, rules.price_tick) == (
        Decimal("0.00001"), Decimal("10"), Decimal("0.01"))
    assert client.last_http_response is None


async def test_an_asset_without_a_quote_market_is_valued_through_btc(
        standin: BinanceStandIn, exchange: CcxtExchange) -> None:
    portfolio = await read_portfolio(exchange, settings_for(standin), datetime.now(UTC))
    pivx = portfolio.holdings["PIVX"]
    assert pivx.value == Decimal("150")  # 500 × 0.00001 BTC × 30,000 USDT
    assert portfolio.holdings["SOL"].value == Decimal("60")


async def test_orders_are_placed_and_looked_up_on_the_kept_markets(
        standin: BinanceStandIn, exchange: CcxtExchange) -> None:
    order = await exchange.create_order(OrderRequest("SOL/USDT", Side.SELL, Decimal("1.234"),
                                                     "keep-1"))
    assert order.status is OrderStatus.FILLED and order.amount == Decimal("1.23")
    assert standin.count("POST /api/v3/order") == 1
    found = await exchange.fetch_order_by_client_id("SOL/USDT", "keep-1")
    assert found is not None and found.exchange_order_id == order.exchange_order_id
    (fill,) = await exchange.fetch_my_trades("SOL/USDT")
    assert fill.symbol == "SOL/USDT" and fill.amount == Decimal("1.23")


async def test_check_counts_the_usable_markets(standin: BinanceStandIn,
                                               exchange: CcxtExchange) -> None:
    found = {f.check: f for f in await check_exchange(exchange, settings_for(standin),
                                                      datetime.now(UTC))}
    markets = await exchange.load_markets()
    assert f"binance answers ({len(markets)} spot markets)" in found["connectivity"].message
    assert found["markets"].severity is Severity.OK


def test_slim_market_keeps_flat_info_entries_and_the_market_itself() -> None:
    raw = {"symbol": "BTC/USDT", "limits": {"amount": {"min": 0.001}},
           "info": {"symbol": "BTCUSDT", "orderTypes": ["LIMIT", "MARKET"], "status": "TRADING",
                    "filters": [{"filterType": "LOT_SIZE"}], "permissionSets": [["SPOT"]],
                    "extra": {"nested": 1}}}
    slim = slim_market(raw)
    assert slim["info"] == {"symbol": "BTCUSDT", "orderTypes": ["LIMIT", "MARKET"],
                            "status": "TRADING"}
    assert slim["limits"] is raw["limits"] and "filters" in raw["info"]
    assert slim_market({"symbol": "X/Y", "info": None}) == {"symbol": "X/Y", "info": None}
