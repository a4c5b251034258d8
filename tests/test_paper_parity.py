"""The paper exchange refuses the same orders the real exchange does (issue 4).

One list of orders goes through `PaperExchange` and through the live `CcxtExchange` talking to
the Binance stand-in (real ccxt over HTTP on 127.0.0.1, Binance's own filters from the recorded
exchangeInfo). Both start from the same balances and prices; each order must end the same way
on both: the same error type, or a fill of the same amount.

Known difference, by design: paper charges the fee in the quote currency (a buy needs cost + fee
in free quote), Binance takes it from the asset received. A buy spending the last cent of the
quote therefore fills on Binance and is refused on paper — paper errs on the safe side.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from core.domain.models import Balance, Side
from core.exchange.base import Exchange, OrderRequest
from core.exchange.ccxt_exchange import CcxtExchange
from core.exchange.ccxt_retry import RetryPolicy
from core.exchange.errors import ExchangeError
from core.exchange.paper import PaperExchange
from core.exchange.paper_markets import bundled_markets
from core.storage.store import Store
from tests.standins.binance import BinanceStandIn

D = Decimal
KEY, SECRET = "parity-key-5521", "parity-secret-8830"
BALANCES = {
    "USDT": Balance(D("500")),
    "BTC": Balance(D("0.03482"), D("0.01")),
    "SOL": Balance(D("25.111")),
}
PRICES = {"BTC/USDT": "91182", "ETH/USDT": "2988.49", "SOL/USDT": "137.87"}


@dataclass(frozen=True)
class Case:
    name: str
    side: Side
    symbol: str
    amount: str


CASES = (
    Case("below min notional (9.12 < 10 USDT)", Side.BUY, "BTC/USDT", "0.0001"),
    Case("rounds to zero at the step", Side.BUY, "BTC/USDT", "0.000009"),
    Case("sell below min notional (4.14 < 5 USDT)", Side.SELL, "SOL/USDT", "0.03"),
    Case("off-step buy is floored and fills", Side.BUY, "ETH/USDT", "0.023456"),
    Case("off-step sell is floored and fills", Side.SELL, "SOL/USDT", "1.2345"),
    Case("just above the minimum fills", Side.BUY, "SOL/USDT", "0.04"),
    Case("not enough quote", Side.BUY, "BTC/USDT", "0.01"),
    Case("locked amount cannot be sold", Side.SELL, "BTC/USDT", "0.04"),
    Case("sell of an asset not held", Side.SELL, "ETH/USDT", "1"),
    Case("no such market", Side.BUY, "PEPE/USDT", "1000000"),
    Case("client order id too long", Side.BUY, "SOL/USDT", "0.1"),
)
CLIENT_IDS = {"client order id too long": "x" * 37}


async def outcome(exchange: Exchange, case: Case, client_id: str) -> tuple[str, Decimal | None]:
    """How an order ended: ("filled", amount) or (error type, None)."""
    request = OrderRequest(case.symbol, case.side, D(case.amount), client_id)
    try:
        order = await exchange.create_order(request)
    except ExchangeError as error:
        return type(error).__name__, None
    return "filled", order.filled


@pytest.fixture
async def standin() -> AsyncIterator[BinanceStandIn]:
    balances = {a: {"free": str(b.free), "locked": str(b.locked)} for a, b in BALANCES.items()}
    async with BinanceStandIn(api_key=KEY, api_secret=SECRET, balances=balances,
                              prices=PRICES) as server:
        yield server


@pytest.fixture
async def live(standin: BinanceStandIn) -> AsyncIterator[CcxtExchange]:
    exchange = CcxtExchange("binance", api_key=KEY, api_secret=SECRET, api_url=standin.url,
                            timeout=2.0, retry=RetryPolicy())
    yield exchange
    await exchange.close()


@pytest.fixture
async def paper(standin: BinanceStandIn, tmp_path: Path) -> AsyncIterator[PaperExchange]:
    """Paper trading on the stand-in's public prices, with the shipped market rules."""
    prices = CcxtExchange("binance", api_url=standin.url, timeout=2.0)
    async with await Store.open(tmp_path / "parity.db") as store:
        exchange = PaperExchange(store, prices, bundled_markets("binance"), fee_rate=D("0.001"))
        await exchange.seed(BALANCES)
        yield exchange
        await exchange.close()


async def test_paper_refuses_the_same_orders_the_exchange_does(
    paper: PaperExchange, live: CcxtExchange, standin: BinanceStandIn
) -> None:
    results = []
    for number, case in enumerate(CASES):
        client_id = CLIENT_IDS.get(case.name, f"parity-{number}")
        results.append(
            (case.name, await outcome(paper, case, client_id), await outcome(live, case, client_id))
        )
    mismatches = [(name, p, lv) for name, p, lv in results if p != lv]
    assert mismatches == []
    by_name = {name: p for name, p, _ in results}
    assert by_name["below min notional (9.12 < 10 USDT)"] == ("BelowMinimum", None)
    assert by_name["off-step buy is floored and fills"] == ("filled", D("0.0234"))
    assert by_name["off-step sell is floored and fills"] == ("filled", D("1.23"))
    assert by_name["not enough quote"] == ("InsufficientFunds", None)
    assert by_name["no such market"] == ("InvalidOrder", None)
    # The exchange itself accepted exactly the three orders both sides filled.
    assert len(standin.orders) == 3


async def test_both_use_the_same_market_rules(paper: PaperExchange, live: CcxtExchange) -> None:
    """The shipped file and the exchange's exchangeInfo give the same rules for each market."""
    shipped = await paper.load_markets()
    listed = await live.load_markets()
    common = sorted(set(shipped) & set(listed))
    assert len(common) >= 25
    assert [(s, shipped[s].rules) for s in common] == [(s, listed[s].rules) for s in common]


LIMIT_CASES = (
    # (name, side, symbol, amount, limit): the stand-in's last prices are PRICES.
    ("sell within its limit fills", Side.SELL, "SOL/USDT", "1", "136.49"),
    ("sell whose limit is above the market ends unfilled", Side.SELL, "SOL/USDT", "1", "140"),
    ("buy within its limit fills", Side.BUY, "ETH/USDT", "0.01", "3018.37"),
    ("buy whose limit is below the market ends unfilled", Side.BUY, "ETH/USDT", "0.01", "2900"),
)


async def test_limit_orders_end_the_same_way_on_paper_and_on_the_exchange(
    paper: PaperExchange, live: CcxtExchange, standin: BinanceStandIn
) -> None:
    ends = []
    for number, (name, side, symbol, amount, limit) in enumerate(LIMIT_CASES):
        request = OrderRequest(symbol, side, D(amount), f"limit-{number}", limit_price=D(limit))
        on_paper = await paper.create_order(request)
        on_exchange = await live.create_order(request)
        ends.append((name, (on_paper.status, on_paper.filled),
                     (on_exchange.status, on_exchange.filled)))
    assert [(n, p) for n, p, _ in ends] == [(n, e) for n, _, e in ends]
    assert [p[0].value for _, p, _ in ends] == ["filled", "expired", "filled", "expired"]
    assert all(o.type == "LIMIT" and o.time_in_force == "IOC" for o in standin.orders)
    assert all(locked == 0 or asset == "BTC" for asset, (_, locked) in standin.balances().items())
