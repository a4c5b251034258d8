"""The paper exchange against real SQLite files: fills, fees, rounding, refusals, idempotency."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from core.domain.models import Balance, Side
from core.exchange.base import Exchange, OrderRequest, OrderStatus
from core.exchange.errors import BelowMinimum, ExchangeUnavailable, InsufficientFunds, InvalidOrder
from core.exchange.paper import PaperExchange
from core.exchange.paper_markets import bundled_markets
from core.storage.store import Store
from tests.fixed_prices import FixedPrices

D = Decimal
T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


class SteppingClock:
    """A clock that moves one minute per reading, so each fill has its own time."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


def paper(store: Store, prices: FixedPrices, **kwargs: Decimal) -> PaperExchange:
    return PaperExchange(
        store,
        prices,
        bundled_markets("binance"),
        fee_rate=kwargs.get("fee_rate", D("0.001")),
        slippage=kwargs.get("slippage", D("0")),
        clock=SteppingClock(),
    )


@pytest.fixture
def prices() -> FixedPrices:
    return FixedPrices(
        {"BTC/USDT": D("50000"), "ETH/USDT": D("3000"), "SOL/USDT": D("100")}, at=T0
    )


@pytest.fixture
async def exchange(store: Store, prices: FixedPrices) -> PaperExchange:
    ex = paper(store, prices)
    await ex.seed({"USDT": Balance(D("1000")), "BTC": Balance(D("0.1"), D("0.01"))})
    return ex


def buy(symbol: str, amount: str, client_id: str = "c1") -> OrderRequest:
    return OrderRequest(symbol, Side.BUY, D(amount), client_id)


def sell(symbol: str, amount: str, client_id: str = "c1") -> OrderRequest:
    return OrderRequest(symbol, Side.SELL, D(amount), client_id)


async def test_it_is_an_exchange(exchange: PaperExchange) -> None:
    assert isinstance(exchange, Exchange)
    assert exchange.name == "paper"


async def test_buy_fills_at_price_and_charges_fee_in_quote(exchange: PaperExchange) -> None:
    order = await exchange.create_order(buy("ETH/USDT", "0.1"))
    assert order.status is OrderStatus.FILLED
    assert (order.filled, order.average_price, order.cost) == (D("0.1"), D("3000"), D("300"))
    assert (order.fee, order.fee_currency) == (D("0.3"), "USDT")
    balances = await exchange.fetch_balances()
    assert balances["ETH"] == Balance(D("0.1"), D("0"))
    assert balances["USDT"].free == D("1000") - D("300") - D("0.3")


async def test_sell_receives_cost_less_fee_and_locked_stays(exchange: PaperExchange) -> None:
    order = await exchange.create_order(sell("BTC/USDT", "0.02"))
    assert (order.cost, order.fee) == (D("1000"), D("1"))
    balances = await exchange.fetch_balances()
    assert balances["BTC"] == Balance(D("0.08"), D("0.01"))
    assert balances["USDT"].free == D("1999")


async def test_slippage_makes_buys_dearer_and_sells_cheaper(
    store: Store, prices: FixedPrices
) -> None:
    ex = paper(store, prices, slippage=D("0.001"), fee_rate=D("0"))
    await ex.seed({"USDT": Balance(D("1000")), "SOL": Balance(D("5"))})
    bought = await ex.create_order(buy("SOL/USDT", "1", "b"))
    sold = await ex.create_order(sell("SOL/USDT", "1", "s"))
    assert bought.average_price == D("100.1")
    assert sold.average_price == D("99.9")
    assert (await ex.fetch_balances())["USDT"].free == D("1000") - D("100.1") + D("99.9")


async def test_slipped_price_lands_on_the_tick(store: Store, prices: FixedPrices) -> None:
    prices.set("BTC/USDT", D("50000.01"))
    ex = paper(store, prices, slippage=D("0.0001"))
    await ex.seed({"USDT": Balance(D("1000"))})
    order = await ex.create_order(buy("BTC/USDT", "0.001"))
    assert order.average_price == D("50005.01")  # 50005.010001 on the 0.01 tick


async def test_off_step_amount_is_floored_to_the_step(exchange: PaperExchange) -> None:
    order = await exchange.create_order(buy("ETH/USDT", "0.123456"))
    assert order.amount == order.filled == D("0.1234")  # ETH/USDT step 0.0001


async def test_below_min_notional_is_refused_and_nothing_changes(exchange: PaperExchange) -> None:
    before = await exchange.fetch_balances()
    with pytest.raises(BelowMinimum, match="minimum notional 10"):
        await exchange.create_order(buy("BTC/USDT", "0.00019"))  # 9.5 USDT
    assert await exchange.fetch_balances() == before
    assert await exchange.fetch_order_by_client_id("BTC/USDT", "c1") is None


async def test_amount_that_floors_to_zero_is_below_minimum(exchange: PaperExchange) -> None:
    with pytest.raises(BelowMinimum, match="rounds to zero"):
        await exchange.create_order(buy("BTC/USDT", "0.000009"))  # step 0.00001


async def test_insufficient_quote_for_cost_plus_fee(exchange: PaperExchange) -> None:
    # 0.02 BTC costs exactly 1000 USDT: the fee makes it unaffordable.
    with pytest.raises(InsufficientFunds, match=r"needs 1001\.0+ USDT"):
        await exchange.create_order(buy("BTC/USDT", "0.02"))
    assert (await exchange.fetch_balances())["USDT"].free == D("1000")


async def test_locked_amount_cannot_be_sold(exchange: PaperExchange) -> None:
    with pytest.raises(InsufficientFunds, match=r"free BTC is 0\.1"):
        await exchange.create_order(sell("BTC/USDT", "0.11"))


async def test_unknown_market_is_an_invalid_order(exchange: PaperExchange) -> None:
    with pytest.raises(InvalidOrder, match="PEPE/USDT"):
        await exchange.create_order(buy("PEPE/USDT", "1000"))


async def test_no_price_means_no_fill(exchange: PaperExchange) -> None:
    with pytest.raises(ExchangeUnavailable, match="AVAX/USDT"):
        await exchange.create_order(buy("AVAX/USDT", "1"))


async def test_same_client_id_never_fills_twice(exchange: PaperExchange) -> None:
    first = await exchange.create_order(buy("ETH/USDT", "0.1", "plan-1-0"))
    again = await exchange.create_order(buy("ETH/USDT", "0.1", "plan-1-0"))
    assert again == first
    assert (await exchange.fetch_balances())["ETH"].free == D("0.1")
    assert len(await exchange.fetch_my_trades("ETH/USDT")) == 1


async def test_concurrent_creates_with_one_client_id_fill_once(exchange: PaperExchange) -> None:
    orders = await asyncio.gather(
        *(exchange.create_order(buy("ETH/USDT", "0.1", "same")) for _ in range(5))
    )
    assert len({o.exchange_order_id for o in orders}) == 1
    assert (await exchange.fetch_balances())["ETH"].free == D("0.1")


async def test_client_id_reused_for_another_order_is_refused(exchange: PaperExchange) -> None:
    await exchange.create_order(buy("ETH/USDT", "0.1", "x"))
    with pytest.raises(InvalidOrder, match="already used"):
        await exchange.create_order(sell("BTC/USDT", "0.01", "x"))


async def test_order_lookup_by_client_id(exchange: PaperExchange) -> None:
    created = await exchange.create_order(buy("ETH/USDT", "0.1", "look"))
    assert await exchange.fetch_order_by_client_id("ETH/USDT", "look") == created
    assert await exchange.fetch_order_by_client_id("BTC/USDT", "look") is None
    assert await exchange.fetch_order_by_client_id("ETH/USDT", "other") is None
    assert await exchange.fetch_open_orders() == []


async def test_my_trades_are_the_fills_oldest_first(exchange: PaperExchange) -> None:
    a = await exchange.create_order(buy("ETH/USDT", "0.1", "a"))
    await exchange.create_order(buy("SOL/USDT", "1", "b"))
    c = await exchange.create_order(sell("ETH/USDT", "0.05", "c"))
    trades = await exchange.fetch_my_trades("ETH/USDT")
    assert [(t.side, t.amount, t.price, t.fee) for t in trades] == [
        (Side.BUY, D("0.1"), D("3000"), D("0.3")),
        (Side.SELL, D("0.05"), D("3000"), D("0.15")),
    ]
    assert [t.order_id for t in trades] == [a.exchange_order_id, c.exchange_order_id]
    assert c.timestamp is not None
    assert [t.order_id for t in await exchange.fetch_my_trades("ETH/USDT", since=c.timestamp)] == [
        c.exchange_order_id
    ]


async def test_restart_keeps_balances_and_orders_and_does_not_reseed(
    tmp_path: Path, prices: FixedPrices
) -> None:
    path = tmp_path / "restart.db"
    async with await Store.open(path) as first:
        ex = paper(first, prices)
        assert await ex.seed({"USDT": Balance(D("1000"))}) is True
        await ex.create_order(buy("ETH/USDT", "0.1", "before-restart"))
        after_trade = await ex.fetch_balances()
    async with await Store.open(path) as second:
        ex = paper(second, prices)
        assert await ex.seed({"USDT": Balance(D("99999"))}) is False
        assert await ex.fetch_balances() == after_trade
        again = await ex.create_order(buy("ETH/USDT", "0.1", "before-restart"))
        assert again.exchange_order_id == "paper-1"
        assert await ex.fetch_balances() == after_trade


async def test_selling_everything_keeps_the_account_seeded(
    store: Store, prices: FixedPrices
) -> None:
    ex = paper(store, prices)
    await ex.seed({"SOL": Balance(D("1"))})
    await ex.create_order(sell("SOL/USDT", "1"))
    assert "SOL" not in await ex.fetch_balances()
    assert await ex.seed({"SOL": Balance(D("1"))}) is False


async def test_balances_and_order_are_written_together(
    store: Store, exchange: PaperExchange
) -> None:
    """If recording the order fails after the balances were updated, the balances roll back."""
    before = await exchange.fetch_balances()
    await store.conn.execute(
        "CREATE TRIGGER refuse_orders BEFORE INSERT ON paper_orders "
        "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
    )
    with pytest.raises(sqlite3.IntegrityError, match="disk full"):
        await exchange.create_order(buy("ETH/USDT", "0.1", "lost"))
    assert await exchange.fetch_balances() == before
    await store.conn.execute("DROP TRIGGER refuse_orders")
    order = await exchange.create_order(buy("ETH/USDT", "0.1", "lost"))
    assert order.exchange_order_id == "paper-1"
    assert (await exchange.fetch_balances())["ETH"].free == D("0.1")


@pytest.mark.parametrize("client_id", ["", "x" * 37, "plan 1", "plan#1"])
async def test_client_ids_the_exchange_would_refuse_are_refused(
    exchange: PaperExchange, client_id: str
) -> None:
    with pytest.raises(InvalidOrder, match="client order id"):
        await exchange.create_order(buy("ETH/USDT", "0.1", client_id))


async def test_a_limit_order_beyond_its_price_ends_unfilled_like_ioc(
    store: Store, prices: FixedPrices
) -> None:
    ex = paper(store, prices, slippage=D("0.02"), fee_rate=D("0"))
    await ex.seed({"USDT": Balance(D("1000")), "SOL": Balance(D("5"))})
    limited = OrderRequest("SOL/USDT", Side.SELL, D("1"), "s1", limit_price=D("99"))
    order = await ex.create_order(limited)
    assert order.status is OrderStatus.EXPIRED and order.filled == 0  # 98 is below 99
    assert (await ex.fetch_balances())["SOL"] == Balance(D("5"))
    assert await ex.fetch_my_trades("SOL/USDT") == []
    assert await ex.cancel_order("SOL/USDT", "s1") == order  # ended already: nothing to do
    within = OrderRequest("SOL/USDT", Side.BUY, D("1"), "b1", limit_price=D("102"))
    bought = await ex.create_order(within)
    assert bought.status is OrderStatus.FILLED and bought.average_price == D("102")
