"""Cost basis: the average-cost method, when history explains a holding, and recorded fills."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.account.cost_basis import (
    TradeHistory,
    average_cost,
    explained_cost_basis,
    read_fills,
    read_position_facts,
    rebuild_cost_basis,
    record_fill,
    record_order_fill,
)
from core.domain.models import Balance, Side
from core.exchange.base import Fill, Order, OrderRequest, OrderStatus
from core.exchange.errors import ExchangeUnavailable
from core.exchange.paper import PaperExchange
from core.exchange.paper_markets import bundled_markets
from core.storage.store import Store
from tests.fixed_prices import FixedPrices

D = Decimal
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def fill(
    side: Side,
    amount: str,
    price: str,
    *,
    fee: str = "0",
    fee_currency: str | None = "USDT",
    minute: int = 0,
    symbol: str = "BTC/USDT",
    trade_id: str | None = None,
) -> Fill:
    return Fill(
        trade_id=trade_id or f"t{minute}",
        order_id=None,
        symbol=symbol,
        side=side,
        amount=D(amount),
        price=D(price),
        fee=D(fee),
        fee_currency=fee_currency,
        timestamp=T0 + timedelta(minutes=minute),
    )


def test_buys_average_their_cost_including_quote_fees() -> None:
    position = average_cost([
        fill(Side.BUY, "1", "100", fee="1", minute=0),
        fill(Side.BUY, "1", "200", fee="1", minute=1),
    ])
    assert position.quantity == D("2")
    assert position.average == D("151")  # (100 + 1 + 200 + 1) / 2


def test_sells_reduce_quantity_at_the_same_average() -> None:
    position = average_cost([
        fill(Side.BUY, "2", "100", minute=0),
        fill(Side.SELL, "0.5", "500", fee="0.25", minute=1),
        fill(Side.BUY, "0.5", "250", minute=2),
    ])
    assert position.quantity == D("2")
    assert position.average == D("137.5")  # (1.5 × 100 + 0.5 × 250) / 2


def test_fee_in_base_reduces_units_received() -> None:
    position = average_cost([fill(Side.BUY, "1", "100", fee="0.001", fee_currency="BTC")])
    assert position.quantity == D("0.999")
    assert position.cost == D("100")


def test_fee_in_a_third_currency_is_left_out() -> None:
    position = average_cost([fill(Side.BUY, "1", "100", fee="0.01", fee_currency="BNB")])
    assert (position.quantity, position.cost) == (D("1"), D("100"))


def test_selling_out_resets_the_average() -> None:
    position = average_cost([
        fill(Side.BUY, "1", "100", minute=0),
        fill(Side.SELL, "1", "150", minute=1),
        fill(Side.BUY, "1", "300", minute=2),
    ])
    assert position.average == D("300")


def test_fills_are_replayed_in_time_order() -> None:
    late_sell = fill(Side.SELL, "1", "150", minute=5)
    early_buy = fill(Side.BUY, "1", "100", minute=1)
    assert average_cost([late_sell, early_buy]).complete


def test_selling_more_than_bought_marks_history_incomplete() -> None:
    position = average_cost([fill(Side.SELL, "0.5", "100")])
    assert not position.complete


def test_mixed_markets_are_refused() -> None:
    with pytest.raises(ValueError, match="ETH/USDT"):
        average_cost([fill(Side.BUY, "1", "1"), fill(Side.BUY, "1", "1", symbol="ETH/USDT")])


@given(st.lists(st.tuples(st.integers(1, 10**6), st.integers(1, 10**6)), min_size=1))
def test_buys_only_average_is_total_cost_over_total_units(lots: list[tuple[int, int]]) -> None:
    fills = [
        fill(Side.BUY, str(D(units) / 1000), str(price), minute=i)
        for i, (units, price) in enumerate(lots)
    ]
    total_units = sum((D(u) / 1000 for u, _ in lots), D(0))
    total_cost = sum((D(u) / 1000 * p for u, p in lots), D(0))
    average = average_cost(fills).average
    assert average is not None
    assert abs(average - total_cost / total_units) < D("1e-18") * total_cost


def test_history_that_explains_the_holding_gives_its_cost_basis() -> None:
    fills = [fill(Side.BUY, "1", "100", minute=0), fill(Side.SELL, "0.4", "120", minute=1)]
    assert explained_cost_basis(fills, D("0.6")) == D("100")
    assert explained_cost_basis(fills, D("0.6050")) == D("100")  # within 1 % (fee dust)


def test_holding_larger_than_history_is_unknown() -> None:
    """0.6 explained, 1.6 held: a deposit of unknown cost makes the whole basis unknown."""
    fills = [fill(Side.BUY, "1", "100", minute=0), fill(Side.SELL, "0.4", "120", minute=1)]
    assert explained_cost_basis(fills, D("1.6")) is None


def test_holding_smaller_than_history_is_unknown() -> None:
    assert explained_cost_basis([fill(Side.BUY, "1", "100")], D("0.5")) is None


def test_history_that_starts_mid_position_is_unknown() -> None:
    fills = [fill(Side.SELL, "0.5", "100", minute=0), fill(Side.BUY, "1", "90", minute=1)]
    assert explained_cost_basis(fills, D("0.5")) is None
    assert explained_cost_basis([], D("1")) is None


async def test_recorded_fills_read_back_in_time_order(store: Store) -> None:
    later = fill(Side.SELL, "0.1", "42000", fee="4.2", minute=9, trade_id="7")
    earlier = fill(Side.BUY, "0.2", "40000", fee="8", minute=1, trade_id="7",
                   symbol="ETH/USDT")
    assert await record_fill(store, later, client_order_id="plan-1-0")
    assert await record_fill(store, earlier)
    assert not await record_fill(store, later)  # the same fill twice is one fill
    everything = await read_fills(store)
    assert [(f.symbol, f.trade_id) for f in everything] == [("ETH/USDT", "7"), ("BTC/USDT", "7")]
    btc = await read_fills(store, "BTC")
    assert btc == [
        Fill("7", "plan-1-0", "BTC/USDT", Side.SELL, D("0.1"), D("42000"), D("4.2"), "USDT",
             later.timestamp)
    ]


async def test_an_executed_order_is_recorded_once(store: Store) -> None:
    order = Order("plan-2-1", "991", "SOL/USDT", Side.BUY, OrderStatus.FILLED, D("3"), D("3"),
                  D("101.5"), D("304.5"), D("0.3045"), "USDT", T0)
    assert await record_order_fill(store, order)
    assert not await record_order_fill(store, order)
    unfilled = Order("plan-2-2", None, "SOL/USDT", Side.BUY, OrderStatus.REJECTED, D("3"),
                     D("0"), None, D("0"), D("0"), None, T0)
    assert not await record_order_fill(store, unfilled)
    [recorded] = await read_fills(store, "SOL")
    assert (recorded.order_id, recorded.amount, recorded.price) == ("plan-2-1", D("3"), D("101.5"))


class HistoryDown(TradeHistory):
    """An exchange whose trade-history endpoint is failing."""

    async def fetch_my_trades(self, symbol: str, since: datetime | None = None) -> list[Fill]:
        raise ExchangeUnavailable("myTrades timed out")


async def test_unreadable_history_leaves_cost_basis_unknown() -> None:
    assert await rebuild_cost_basis(HistoryDown(), "BTC", "USDT", D("1")) is None


async def paper_account(store: Store, balances: dict[str, Balance]) -> PaperExchange:
    prices = FixedPrices({"SOL/USDT": D("100"), "ETH/USDT": D("2000")}, at=T0)
    exchange = PaperExchange(store, prices, bundled_markets(), fee_rate=D("0.001"),
                             clock=lambda: T0)
    await exchange.seed(balances)
    return exchange


async def test_position_built_by_ballast_has_a_cost_basis_seed_holding_does_not(
    store: Store,
) -> None:
    exchange = await paper_account(store, {"USDT": Balance(D("1000")), "ETH": Balance(D("1"))})
    order = await exchange.create_order(OrderRequest("SOL/USDT", Side.BUY, D("2"), "b1"))
    await record_order_fill(store, order)
    sold = await exchange.create_order(OrderRequest("ETH/USDT", Side.SELL, D("0.5"), "s1"))
    await record_order_fill(store, sold)
    balances = await exchange.fetch_balances()
    facts = await read_position_facts(
        store, exchange, {a: b.total for a, b in balances.items() if a != "USDT"}, "USDT"
    )
    assert facts["SOL"].cost_basis == D("100.1")  # 200 + 0.2 fee over 2 SOL
    assert facts["SOL"].last_buy == T0
    assert facts["ETH"].cost_basis is None  # seeded, bought before Ballast
    assert facts["ETH"].last_sell == T0


async def test_sold_out_asset_keeps_its_last_sell_for_the_cooldown(store: Store) -> None:
    exchange = await paper_account(store, {"SOL": Balance(D("1"))})
    sold = await exchange.create_order(OrderRequest("SOL/USDT", Side.SELL, D("1"), "s1"))
    await record_order_fill(store, sold)
    facts = await read_position_facts(store, exchange, {}, "USDT")
    assert facts["SOL"].last_sell == T0
    assert facts["SOL"].cost_basis is None


async def test_recorded_fills_explain_a_position_the_history_cannot(store: Store) -> None:
    """When the exchange's history is unreadable, Ballast's own fills still give the basis."""
    await record_fill(store, fill(Side.BUY, "0.5", "40000", fee="20", trade_id="1"))
    facts = await read_position_facts(store, HistoryDown(), {"BTC": D("0.5")}, "USDT")
    assert facts["BTC"].cost_basis == D("40040")
