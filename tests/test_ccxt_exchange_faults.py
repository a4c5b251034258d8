"""Under every fault the stand-in can inject: never a duplicate order, always a clear error.

Backoff is recorded instead of slept, so retries cost no time; the client timeout is short
because the stand-in holds "timeout" requests until the client gives up.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from core.domain.models import Side
from core.exchange.base import OrderRequest, OrderStatus
from core.exchange.ccxt_exchange import CcxtExchange
from core.exchange.ccxt_retry import RetryPolicy
from core.exchange.errors import (
    AuthenticationFailed,
    BelowMinimum,
    ExchangeError,
    ExchangeUnavailable,
    InsufficientFunds,
    OrderOutcomeUnknown,
    RateLimited,
)
from tests.standins.binance import BinanceStandIn

KEY, SECRET = "k3y-faults-5519", "s3cret-faults-2287"
ORDER = OrderRequest("BTC/USDT", Side.BUY, Decimal("0.001"), "plan42-t1")
POST_ORDER, GET_ORDER = "POST /api/v3/order", "GET /api/v3/order"


class RecordedSleep:
    """Stands in for asyncio.sleep: keeps the delays asked for and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
async def standin() -> AsyncIterator[BinanceStandIn]:
    async with BinanceStandIn(api_key=KEY, api_secret=SECRET, hang_seconds=5,
                              balances={"USDT": "1000", "BTC": "0.1"},
                              prices={"BTC/USDT": "30000"}) as server:
        yield server


@pytest.fixture
def sleep() -> RecordedSleep:
    return RecordedSleep()


@pytest.fixture
async def exchange(standin: BinanceStandIn, sleep: RecordedSleep) -> AsyncIterator[CcxtExchange]:
    adapter = CcxtExchange("binance", api_key=KEY, api_secret=SECRET, api_url=standin.url,
                           timeout=0.3, retry=RetryPolicy(), sleep=sleep)
    await adapter.load_markets()
    yield adapter
    await adapter.close()


def assert_no_duplicates(standin: BinanceStandIn) -> None:
    assert all(len(orders) == 1 for orders in standin.orders_by_client_id().values())


@pytest.mark.parametrize(("kind", "status"), [
    ("timeout_after_accept", None),
    ("drop_after_accept", None),
    ("error_after_accept", 502),
    ("error_after_accept", 503),
    ("error_after_accept", 500),
    ("error_after_accept", 504),
])
async def test_a_lost_answer_is_recovered_by_client_id_and_never_resent(
        standin: BinanceStandIn, exchange: CcxtExchange, kind: str, status: int | None) -> None:
    standin.fail_next(POST_ORDER, kind, status=status)
    order = await exchange.create_order(ORDER)
    assert order.client_order_id == "plan42-t1" and order.status is OrderStatus.FILLED
    assert (order.filled, order.fee, order.fee_currency) == (Decimal("0.001"),
                                                             Decimal("0.000001"), "BTC")
    assert standin.count(POST_ORDER) == 1 and len(standin.orders) == 1
    assert standin.count(GET_ORDER) == 1
    assert standin.balances()["USDT"][0] == Decimal("970")


@pytest.mark.parametrize(("kind", "status"), [("timeout", None), ("server_error", 503),
                                              ("server_error", 502)])
async def test_an_order_that_never_arrived_is_reported_unknown_not_resent(
        standin: BinanceStandIn, exchange: CcxtExchange, sleep: RecordedSleep, kind: str,
        status: int | None) -> None:
    standin.fail_next(POST_ORDER, kind, status=status)
    with pytest.raises(OrderOutcomeUnknown, match=r"plan42-t1.*look it up by client id"):
        await exchange.create_order(ORDER)
    assert standin.count(POST_ORDER) == 1 and standin.orders == []
    assert standin.count(GET_ORDER) == 4 and sleep.delays == [0.5, 1.0, 2.0]


async def test_an_order_appearing_late_is_still_found(
        standin: BinanceStandIn, exchange: CcxtExchange) -> None:
    standin.fail_next(POST_ORDER, "timeout_after_accept")
    standin.fail_next(GET_ORDER, "server_error", times=2)
    order = await exchange.create_order(ORDER)
    assert order.filled == Decimal("0.001")
    assert standin.count(POST_ORDER) == 1 and standin.count(GET_ORDER) == 3
    assert_no_duplicates(standin)


async def test_unreachable_lookups_leave_the_outcome_unknown(
        standin: BinanceStandIn, exchange: CcxtExchange) -> None:
    standin.fail_next(POST_ORDER, "drop_after_accept")
    standin.fail_next(GET_ORDER, "timeout", times=4)
    with pytest.raises(OrderOutcomeUnknown, match=r"did not answer"):
        await exchange.create_order(ORDER)
    assert standin.count(POST_ORDER) == 1 and len(standin.orders) == 1


@pytest.mark.parametrize(("kind", "status"), [("rate_limit", 429), ("ip_ban", 418)])
async def test_a_rate_limited_order_was_refused_and_is_not_retried(
        standin: BinanceStandIn, exchange: CcxtExchange, kind: str, status: int) -> None:
    standin.fail_next(POST_ORDER, kind, retry_after=42)
    with pytest.raises(RateLimited, match="rate limited") as caught:
        await exchange.create_order(ORDER)
    assert caught.value.retry_after == 42
    assert standin.count(POST_ORDER) == 1 and standin.count(GET_ORDER) == 0
    assert standin.orders == []


@pytest.mark.parametrize(("kind", "error", "words"), [
    ("insufficient_funds", InsufficientFunds, "does not hold enough"),
    ("below_notional", BelowMinimum, "below the market's minimum"),
    ("bad_keys", AuthenticationFailed, "refused the API key or secret"),
    ("bad_signature", AuthenticationFailed, "refused the API key or secret"),
])
async def test_refusals_become_clear_errors_without_a_retry(
        standin: BinanceStandIn, exchange: CcxtExchange, kind: str, error: type[Exception],
        words: str) -> None:
    standin.fail_next(POST_ORDER, kind)
    with pytest.raises(error, match=words) as caught:
        await exchange.create_order(ORDER)
    assert KEY not in str(caught.value) and SECRET not in str(caught.value)
    assert standin.count(POST_ORDER) == 1 and standin.orders == []


async def test_reads_retry_with_backoff_and_honour_retry_after(
        standin: BinanceStandIn, exchange: CcxtExchange, sleep: RecordedSleep) -> None:
    standin.fail_next("GET /api/v3/account", "rate_limit", retry_after=3)
    standin.fail_next("GET /api/v3/account", "server_error", status=503)
    standin.fail_next("GET /api/v3/account", "timeout")
    balances = await exchange.fetch_balances()
    assert balances["BTC"].free == Decimal("0.1")
    assert standin.count("GET /api/v3/account") == 4
    assert sleep.delays == [3.0, 1.0, 2.0]  # Retry-After wins over the 0.5 s backoff


async def test_reads_give_up_after_bounded_attempts(
        standin: BinanceStandIn, exchange: CcxtExchange, sleep: RecordedSleep) -> None:
    standin.fail_next("GET /api/v3/ticker/24hr", "server_error", times=10, status=502)
    with pytest.raises(ExchangeUnavailable, match="reading prices"):
        await exchange.fetch_prices(["BTC/USDT"])
    assert standin.count("GET /api/v3/ticker/24hr") == 4 and sleep.delays == [0.5, 1.0, 2.0]


async def test_a_long_ban_is_reported_at_once(
        standin: BinanceStandIn, exchange: CcxtExchange, sleep: RecordedSleep) -> None:
    standin.fail_next("GET /api/v3/klines", "ip_ban", retry_after=600)
    with pytest.raises(RateLimited, match="retry after 600 s") as caught:
        await exchange.fetch_candles("BTC/USDT", "1h", limit=5)
    assert caught.value.retry_after == 600 and sleep.delays == []


async def test_refused_reads_are_not_retried(
        standin: BinanceStandIn, exchange: CcxtExchange) -> None:
    standin.fail_next("GET /api/v3/account", "bad_keys")
    with pytest.raises(AuthenticationFailed):
        await exchange.fetch_balances()
    assert standin.count("GET /api/v3/account") == 1


async def test_a_key_refused_after_working_is_a_key_problem_not_a_rate_limit(
        standin: BinanceStandIn, exchange: CcxtExchange) -> None:
    await exchange.fetch_balances()
    standin.fail_next("GET /api/v3/account", "bad_keys")
    with pytest.raises(AuthenticationFailed, match="code -2015"):
        await exchange.fetch_balances()
    assert standin.count("GET /api/v3/account") == 2


async def test_an_unreachable_exchange_is_named_and_nothing_is_sent(sleep: RecordedSleep) -> None:
    async with BinanceStandIn(prices={"BTC/USDT": "30000"}) as gone:
        url = gone.url
    adapter = CcxtExchange("binance", api_key=KEY, api_secret=SECRET, api_url=url,
                           timeout=0.3, sleep=sleep)
    try:
        with pytest.raises(ExchangeUnavailable, match=r"binance loading markets: .*reached"):
            await adapter.create_order(ORDER)
    finally:
        await adapter.close()


async def test_secrets_never_reach_errors_or_logs(
        standin: BinanceStandIn, exchange: CcxtExchange,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[ExchangeError] = []
    for kind in ("bad_signature", "timeout", "rate_limit", "insufficient_funds"):
        standin.fail_next(POST_ORDER, kind, retry_after=1)
        standin.fail_next(GET_ORDER, "server_error", times=4)
        try:
            await exchange.create_order(ORDER)
        except ExchangeError as error:
            errors.append(error)
    await exchange.fetch_balances()
    assert len(errors) == 4
    text = caplog.text + "\n".join(str(e) for e in errors)
    assert "X-MBX-APIKEY" in caplog.text  # ccxt's wire log ran, with the key's header...
    assert KEY not in text and SECRET not in text  # ...but the key itself was redacted
    assert_no_duplicates(standin)
