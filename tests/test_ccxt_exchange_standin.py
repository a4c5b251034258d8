"""The Binance stand-in behaves like Binance where our tests rely on it.

Driven with a plain aiohttp client and hand-made HMAC signatures, so these tests do not depend
on ccxt or on the adapter they are meant to check.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import sys
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from tests.standins.binance import BinanceStandIn

KEY, SECRET = "test-key-123", "test-secret-456"


@pytest.fixture
async def standin() -> AsyncIterator[BinanceStandIn]:
    async with BinanceStandIn(
        api_key=KEY, api_secret=SECRET,
        balances={"USDT": "1000", "BTC": {"free": "0.5", "locked": "0.1"}},
        prices={"BTC/USDT": "30000", "ETH/USDT": "1800"},
    ) as server:
        yield server


async def call(server: BinanceStandIn, method: str, path: str, params: dict[str, Any] | None = None,
               *, signed: bool = True, key: str = KEY, secret: str = SECRET,
               ) -> tuple[int, Any]:
    query = dict(params or {})
    headers = {}
    if signed:
        query["timestamp"] = int(time.time() * 1000)
        text = urlencode(query)
        query_text = text + "&signature=" + hmac.new(secret.encode(), text.encode(),
                                                     hashlib.sha256).hexdigest()
        headers["X-MBX-APIKEY"] = key
    else:
        query_text = urlencode(query)
    async with aiohttp.ClientSession() as session:
        if method == "POST":
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            response = await session.post(server.url + path, data=query_text, headers=headers)
        else:
            response = await session.request(method, f"{server.url}{path}?{query_text}",
                                             headers=headers)
        return response.status, json.loads(await response.text())


async def test_signed_requests_need_the_right_key_and_secret(standin: BinanceStandIn) -> None:
    assert (await call(standin, "GET", "/api/v3/account"))[0] == 200
    status, body = await call(standin, "GET", "/api/v3/account", secret="wrong")
    assert (status, body["code"]) == (400, -1022)
    status, body = await call(standin, "GET", "/api/v3/account", key="other")
    assert (status, body["code"]) == (401, -2015)


async def test_account_lists_free_and_locked(standin: BinanceStandIn) -> None:
    _, body = await call(standin, "GET", "/api/v3/account")
    balances = {b["asset"]: (b["free"], b["locked"]) for b in body["balances"]}
    assert balances["BTC"] == ("0.50000000", "0.10000000")
    assert body["canWithdraw"] is False


async def test_market_buy_fills_at_the_ticker_and_moves_balances(
        standin: BinanceStandIn) -> None:
    status, body = await call(standin, "POST", "/api/v3/order", {
        "symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01",
        "newClientOrderId": "plan1-t1"})
    assert status == 200, body
    assert body["status"] == "FILLED" and body["fills"][0]["price"] == "30000.00000000"
    free_btc, _ = standin.balances()["BTC"]
    assert free_btc == Decimal("0.5") + Decimal("0.01") * Decimal("0.999")
    assert standin.balances()["USDT"][0] == Decimal("700")
    _, found = await call(standin, "GET", "/api/v3/order",
                          {"symbol": "BTCUSDT", "origClientOrderId": "plan1-t1"})
    assert found["orderId"] == body["orderId"]


@pytest.mark.parametrize(("quantity", "code", "message"), [
    ("0.000001", -1013, "Filter failure: LOT_SIZE"),        # below minQty 0.00001
    ("0.000015", -1013, "Filter failure: LOT_SIZE"),        # not on the step
    ("0.0003", -1013, "Filter failure: NOTIONAL"),          # 9 USDT < 10 USDT
    ("1", -2010, "Account has insufficient balance for requested action."),
])
async def test_orders_are_refused_like_binance(standin: BinanceStandIn, quantity: str, code: int,
                                               message: str) -> None:
    status, body = await call(standin, "POST", "/api/v3/order", {
        "symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": quantity})
    assert (status, body) == (400, {"code": code, "msg": message})
    assert standin.orders == []


async def test_a_client_id_of_an_open_order_cannot_be_reused(standin: BinanceStandIn) -> None:
    order = {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC",
             "quantity": "0.1", "price": "40000", "newClientOrderId": "same"}
    assert (await call(standin, "POST", "/api/v3/order", order))[0] == 200
    assert standin.balances()["BTC"] == (Decimal("0.4"), Decimal("0.2"))
    status, body = await call(standin, "POST", "/api/v3/order", order)
    assert (status, body["msg"]) == (400, "Duplicate order sent.")
    assert len(standin.orders) == 1


async def test_tickers_batch_and_unknown_symbols(standin: BinanceStandIn) -> None:
    status, body = await call(standin, "GET", "/api/v3/ticker/24hr",
                              {"symbols": '["BTCUSDT","ETHUSDT"]'}, signed=False)
    assert status == 200 and [t["lastPrice"] for t in body] == ["30000.00000000",
                                                                 "1800.00000000"]
    status, body = await call(standin, "GET", "/api/v3/ticker/24hr",
                              {"symbols": '["NOPEUSDT"]'}, signed=False)
    assert (status, body["code"]) == (400, -1121)


async def test_klines_are_the_real_candles(standin: BinanceStandIn) -> None:
    _, rows = await call(standin, "GET", "/api/v3/klines", {
        "symbol": "BTCUSDT", "interval": "1d", "startTime": 1688169600000, "limit": 1},
        signed=False)
    assert rows[0][0] == 1688169600000 and float(rows[0][4]) == 30585.9  # 2023-07-01 close


async def test_rate_limit_fault_sends_retry_after(standin: BinanceStandIn) -> None:
    standin.fail_next("GET /api/v3/ping", "rate_limit", retry_after=7)
    async with aiohttp.ClientSession() as session:
        response = await session.get(standin.url + "/api/v3/ping")
        assert response.status == 429 and response.headers["Retry-After"] == "7"
        assert (await session.get(standin.url + "/api/v3/ping")).status == 200


async def test_usd_markets_for_binance_us() -> None:
    async with BinanceStandIn(quote_renames={"USDT": "USD"}, prices={"BTC/USD": "30000"}) as us:
        _, body = await call(us, "GET", "/api/v3/exchangeInfo", signed=False)
        symbols = {s["symbol"] for s in body["symbols"]}
        assert "BTCUSD" in symbols and "BTCUSDT" not in symbols
        _, rows = await call(us, "GET", "/api/v3/klines",
                             {"symbol": "BTCUSD", "interval": "1d", "limit": 1}, signed=False)
        assert len(rows) == 1


async def test_runs_as_its_own_process_with_a_control_api() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.standins.binance", "--api-key", KEY, "--api-secret", SECRET,
        "--balances", '{"USDT": "100"}', "--prices", '{"BTC/USDT": "30000"}',
        stdout=asyncio.subprocess.PIPE)
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        url = line.decode().split()[1]
        async with aiohttp.ClientSession() as session:
            response = await session.post(url + "/_standin/faults",
                                          json={"route": "GET /api/v3/ping", "kind": "ip_ban"})
            assert response.status == 200
            assert (await session.get(url + "/api/v3/ping")).status == 418
            state = await (await session.get(url + "/_standin/state")).json()
            assert state["balances"]["USDT"] == {"free": "100", "locked": "0"}
    finally:
        process.terminate()
        await process.wait()
