"""The live ccxt adapter against the Binance stand-in: real ccxt, real HTTP on 127.0.0.1.

Reads, rounding, local minimum checks, the protocol's shapes and Binance.US. Fault handling and
secrets are in `test_ccxt_exchange_faults.py`.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from core.config.settings import load_settings
from core.domain.models import Side
from core.exchange.base import Exchange, OrderRequest, OrderStatus
from core.exchange.ccxt_exchange import CcxtExchange, UnknownExchange
from core.exchange.ccxt_parsing import parse_fill, parse_order, redirect_urls
from core.exchange.ccxt_retry import RetryPolicy
from core.exchange.errors import BelowMinimum, ExchangeError, InsufficientFunds, InvalidOrder
from tests.standins.binance import BinanceStandIn
from tests.standins.binance_book import EXCHANGE_DIR

KEY, SECRET = "k3y-adapter-7731", "s3cret-adapter-9142"
BALANCES = {"USDT": "1500", "USDC": "20", "BTC": {"free": "0.03482", "locked": "0.01"},
            "ETH": "1.25", "SOL": "30.5", "AVAX": {"free": "0", "locked": "12"}, "XRP": "0"}
PRICES = {"BTC/USDT": "91182", "ETH/USDT": "3123.45", "SOL/USDT": "142.1",
          "AVAX/USDT": "35.9", "USDC/USDT": "0.9998", "ETH/BTC": "0.0342"}


async def instant(_: float) -> None:
    """Backoff without waiting: these tests check what is retried, not how long it waits."""


@pytest.fixture
async def standin() -> AsyncIterator[BinanceStandIn]:
    async with BinanceStandIn(api_key=KEY, api_secret=SECRET, balances=BALANCES,
                              prices=PRICES) as server:
        yield server


@pytest.fixture
async def exchange(standin: BinanceStandIn) -> AsyncIterator[CcxtExchange]:
    adapter = CcxtExchange("binance", api_key=KEY, api_secret=SECRET, api_url=standin.url,
                           timeout=0.5, retry=RetryPolicy(), sleep=instant)
    yield adapter
    await adapter.close()


def sent(standin: BinanceStandIn, route: str) -> list[dict[str, str]]:
    return [r.params for r in standin.requests if r.route == route]


async def test_implements_the_exchange_protocol(exchange: CcxtExchange) -> None:
    assert isinstance(exchange, Exchange)
    assert exchange.name == "binance"


async def test_loads_spot_markets_with_one_request_and_real_filters(
        standin: BinanceStandIn, exchange: CcxtExchange) -> None:
    markets = await exchange.load_markets()
    await exchange.load_markets()
    assert [r.route for r in standin.requests] == ["GET /api/v3/exchangeInfo"]
    btc = markets["BTC/USDT"].rules  # the real 2023-08-13 filters
    assert (btc.amount_step, btc.min_amount, btc.min_notional, btc.price_tick) == (
        Decimal("0.00001"), Decimal("0.00001"), Decimal("10"), Decimal("0.01"))
    assert markets["SOL/USDT"].rules.amount_step == Decimal("0.01")
    assert markets["ETH/BTC"].quote == "BTC"


async def test_portfolio_equals_the_accounts_balances_times_prices(
        standin: BinanceStandIn, exchange: CcxtExchange) -> None:
    balances = await exchange.fetch_balances()
    symbols = [f"{asset}/USDT" for asset in balances if asset != "USDT"]
    prices = await exchange.fetch_prices(symbols)
    value = balances["USDT"].total + sum(
        (balances[p.base].total * p.last for p in prices.values() if p.last is not None),
        Decimal(0))

    expected = Decimal(0)
    for asset, (free, locked) in standin.balances().items():
        price = Decimal(1) if asset == "USDT" else Decimal(PRICES.get(f"{asset}/USDT", "0"))
        expected += (free + locked) * price
    assert value == expected
    assert balances["BTC"].free == Decimal("0.03482") and balances["BTC"].locked == Decimal("0.01")
    assert balances["AVAX"].free == 0 and balances["AVAX"].locked == Decimal("12")
    assert "XRP" not in balances  # zero balances are not holdings


async def test_prices_come_in_one_request_and_unknown_symbols_are_left_out(
        standin: BinanceStandIn, exchange: CcxtExchange) -> None:
    await exchange.load_markets()
    standin.clear_log()
    prices = await exchange.fetch_prices(["BTC/USDT", "ETH/USDT", "PEPE/USDT", "BTC/USDT"])
    assert set(prices) == {"BTC/USDT", "ETH/USDT"}
    assert prices["ETH/USDT"].last == Decimal("3123.45") and prices["ETH/USDT"].quote == "USDT"
    assert prices["BTC/USDT"].at is not None
    (params,) = sent(standin, "GET /api/v3/ticker/24hr")
    assert json.loads(params["symbols"]) == ["BTCUSDT", "ETHUSDT"]


async def test_a_zero_price_is_no_price(standin: BinanceStandIn, exchange: CcxtExchange) -> None:
    standin.set_price("SOL/USDT", "0")
    assert (await exchange.fetch_prices(["SOL/USDT"]))["SOL/USDT"].last is None


async def test_candles_are_the_real_ones(standin: BinanceStandIn, exchange: CcxtExchange) -> None:
    july_first = int(datetime(2023, 7, 1, tzinfo=UTC).timestamp() * 1000)
    candles = await exchange.fetch_candles("BTC/USDT", "1d", since=july_first, limit=2)
    assert [c.timestamp for c in candles] == [july_first, july_first + 86_400_000]
    assert candles[0].close == 30585.9
    (params,) = sent(standin, "GET /api/v3/klines")
    assert (params["symbol"], params["interval"], params["limit"]) == ("BTCUSDT", "1d", "2")


async def test_an_order_is_rounded_down_to_the_step_and_filled(
        standin: BinanceStandIn, exchange: CcxtExchange) -> None:
    order = await exchange.create_order(
        OrderRequest("BTC/USDT", Side.BUY, Decimal("0.0012345"), "plan7-t1"))
    (params,) = sent(standin, "POST /api/v3/order")
    assert (params["quantity"], params["newClientOrderId"], params["type"]) == (
        "0.00123", "plan7-t1", "MARKET")
    assert order.status is OrderStatus.FILLED
    assert (order.amount, order.filled, order.average_price) == (
        Decimal("0.00123"), Decimal("0.00123"), Decimal("91182"))
    assert order.cost == Decimal("0.00123") * Decimal("91182")
    assert (order.fee, order.fee_currency) == (Decimal("0.00000123"), "BTC")
    assert standin.balances()["USDT"][0] == Decimal("1500") - order.cost


@pytest.mark.parametrize(("symbol", "side", "amount", "why"), [
    ("BTC/USDT", Side.BUY, "0.0001", "below the minimum notional 10"),      # 9.12 USDT
    ("BTC/USDT", Side.SELL, "0.000009", "rounds to zero"),                  # step 0.00001
    ("SOL/USDT", Side.SELL, "0.019", "below the minimum notional 5"),       # → 0.01 SOL
])
async def test_orders_below_the_minimum_are_refused_before_sending(
        standin: BinanceStandIn, exchange: CcxtExchange, symbol: str, side: Side, amount: str,
        why: str) -> None:
    with pytest.raises(BelowMinimum, match=why):
        await exchange.create_order(OrderRequest(symbol, side, Decimal(amount), "small-1"))
    assert standin.count("POST /api/v3/order") == 0


async def test_insufficient_funds_is_the_exchanges_refusal_in_words(
        standin: BinanceStandIn, exchange: CcxtExchange) -> None:
    with pytest.raises(InsufficientFunds, match="does not hold enough"):
        await exchange.create_order(OrderRequest("ETH/USDT", Side.SELL, Decimal("5"), "big-1"))
    assert standin.count("POST /api/v3/order") == 1 and standin.orders == []


async def test_bad_client_ids_and_unknown_markets_are_refused_locally(
        standin: BinanceStandIn, exchange: CcxtExchange) -> None:
    with pytest.raises(InvalidOrder, match="client order id"):
        await exchange.create_order(OrderRequest("BTC/USDT", Side.BUY, Decimal("1"), "a b"))
    with pytest.raises(InvalidOrder, match="PEPE/USDT"):
        await exchange.create_order(OrderRequest("PEPE/USDT", Side.BUY, Decimal("1"), "ok-1"))
    assert standin.count("POST /api/v3/order") == 0


async def test_reusing_the_client_id_of_an_open_order_returns_that_order(
        standin: BinanceStandIn, exchange: CcxtExchange) -> None:
    standin.book.new_order({"symbol": "ETHUSDT", "side": "SELL", "type": "LIMIT",
                            "timeInForce": "GTC", "quantity": "1", "price": "4000",
                            "newClientOrderId": "plan9-t1"})
    order = await exchange.create_order(OrderRequest("ETH/USDT", Side.SELL, Decimal("1"),
                                                     "plan9-t1"))
    assert order.status is OrderStatus.OPEN and order.client_order_id == "plan9-t1"
    assert len(standin.orders) == 1
    assert [o.client_order_id for o in await exchange.fetch_open_orders("ETH/USDT")] == [
        "plan9-t1"]
    assert len(await exchange.fetch_open_orders()) == 1


async def test_lookup_by_client_id_brings_the_fee_from_the_trades(
        standin: BinanceStandIn, exchange: CcxtExchange) -> None:
    placed = await exchange.create_order(
        OrderRequest("ETH/USDT", Side.SELL, Decimal("0.5"), "plan3-t2"))
    found = await exchange.fetch_order_by_client_id("ETH/USDT", "plan3-t2")
    assert found is not None
    assert (found.exchange_order_id, found.filled, found.fee, found.fee_currency) == (
        placed.exchange_order_id, Decimal("0.5"), placed.fee, "USDT")
    assert await exchange.fetch_order_by_client_id("ETH/USDT", "never-sent") is None


async def test_trade_history_oldest_first_from_a_time(
        standin: BinanceStandIn, exchange: CcxtExchange) -> None:
    first = await exchange.create_order(OrderRequest("SOL/USDT", Side.SELL, Decimal("1"), "h1"))
    await exchange.create_order(OrderRequest("SOL/USDT", Side.BUY, Decimal("2"), "h2"))
    fills = await exchange.fetch_my_trades("SOL/USDT")
    assert [(f.side, f.amount) for f in fills] == [(Side.SELL, Decimal("1")),
                                                   (Side.BUY, Decimal("2"))]
    assert fills[0].order_id == first.exchange_order_id and fills[1].fee_currency == "SOL"
    assert first.timestamp is not None
    later = datetime.fromtimestamp(first.timestamp.timestamp() + 3600, UTC)
    assert await exchange.fetch_my_trades("SOL/USDT", since=later) == []


async def test_trade_history_longer_than_a_page_is_read_whole(
        standin: BinanceStandIn, exchange: CcxtExchange) -> None:
    standin.set_balance("USDT", "1000000")
    standin.set_price("XRP/USDT", "0.5")
    for n in range(1001):
        standin.book.new_order({"symbol": "XRPUSDT", "side": "BUY", "type": "MARKET",
                                "quantity": "20", "newClientOrderId": f"bulk-{n}"})
    fills = await exchange.fetch_my_trades("XRP/USDT")
    assert len(fills) == 1001 and len({f.trade_id for f in fills}) == 1001
    assert standin.count("GET /api/v3/myTrades") == 3  # latest page, then pages from the start


async def test_binance_us_with_usd_markets() -> None:
    async with BinanceStandIn(api_key=KEY, api_secret=SECRET, quote_renames={"USDT": "USD"},
                              balances={"USD": "800", "BTC": "0.01"},
                              prices={"BTC/USD": "30000"}) as us:
        adapter = CcxtExchange("binanceus", api_key=KEY, api_secret=SECRET, api_url=us.url,
                               quote="USD", sleep=instant)
        try:
            markets = await adapter.load_markets()
            assert "BTC/USD" in markets and "BTC/USDT" not in markets
            assert (await adapter.fetch_balances())["USD"].free == Decimal("800")
            order = await adapter.create_order(
                OrderRequest("BTC/USD", Side.BUY, Decimal("0.001"), "us-1"))
            assert order.status is OrderStatus.FILLED and order.cost == Decimal("30")
        finally:
            await adapter.close()
        assert {r.path for r in us.requests} <= {"/api/v3/exchangeInfo", "/api/v3/account",
                                                 "/api/v3/ticker/24hr", "/api/v3/order"}


async def test_from_settings_uses_the_exchange_keys_url_and_quote(
        standin: BinanceStandIn) -> None:
    settings = load_settings(env={"BALLAST_EXCHANGE": "binance",
                                  "BALLAST_EXCHANGE_API_KEY": KEY,
                                  "BALLAST_EXCHANGE_API_SECRET": SECRET,
                                  "BALLAST_EXCHANGE_API_URL": standin.url + "/"})
    adapter = CcxtExchange.from_settings(settings, sleep=instant)
    try:
        assert adapter.has_keys and adapter.quote == "USDT"
        assert (await adapter.fetch_balances())["ETH"].free == Decimal("1.25")
        assert KEY not in repr(adapter) and SECRET not in repr(adapter)
    finally:
        await adapter.close()


def test_unknown_exchanges_and_bad_urls_are_named() -> None:
    with pytest.raises(UnknownExchange, match="'binanse'"):
        CcxtExchange("binanse")
    with pytest.raises(ExchangeError, match="BALLAST_EXCHANGE_API_URL"):
        CcxtExchange("binance", api_url="api.binance.us")


def test_redirect_keeps_each_endpoints_path() -> None:
    urls = {"public": "https://api.binance.com/api/v3",
            "sapi": "https://api.binance.com/sapi/v1", "nested": {"x": "https://a.b/c"}}
    assert redirect_urls(urls, "http://127.0.0.1:9/proxy/") == {
        "public": "http://127.0.0.1:9/proxy/api/v3", "sapi": "http://127.0.0.1:9/proxy/sapi/v1",
        "nested": {"x": "http://127.0.0.1:9/proxy/c"}}


def _recorded(method: str) -> Any:
    path = EXCHANGE_DIR / "ccxt_binance_static_response_orders.json.gz"
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return json.load(handle)["methods"][method][0]["parsedResponse"]


def test_parses_ccxts_recorded_binance_order_and_trade() -> None:
    order = parse_order(_recorded("fetchOrder"))
    assert (order.symbol, order.side, order.status) == ("LTC/USDT", Side.SELL,
                                                        OrderStatus.FILLED)
    assert (order.filled, order.cost, order.average_price) == (
        Decimal("0.1"), Decimal("9.08"), Decimal("90.8"))
    (trade,) = _recorded("fetchMyTrades")
    fill = parse_fill(trade)
    assert (fill.trade_id, fill.order_id, fill.price, fill.amount) == (
        "309520010", "3784695242", Decimal("69.63"), Decimal("0.2"))
    assert (fill.fee, fill.fee_currency) == (Decimal("0.013926"), "USDT")
