"""Order execution for a simulated account: the paper exchange, fed the candle open as price.

Ballast and the calendar benchmark both trade through `Broker`, which wraps the one fill model
Ballast has — `PaperExchange` (fees, exchange rounding, minimums, slippage) — on an in-memory
SQLite store. A decision taken at the close of a candle is filled at the *open of the next
candle*: the first price that exists after the decision, never one known only later.

Balances are read back from the paper exchange after each fill and cached in between, so a step
with nothing to trade does no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from core.backtest.history import MarketHistory, to_datetime
from core.exchange.base import Candle, Order, OrderRequest
from core.exchange.errors import ExchangeError
from core.exchange.paper import PaperExchange
from core.models import ZERO, Balance, Market, Price, Side
from core.rounding import floor_to_step, round_to_tick
from core.store import Store


class OpenPrices:
    """A `PriceSource` answering with the open of the candle the clock stands on."""

    def __init__(self, history: MarketHistory, quote: str) -> None:
        self._history = history
        self._quote = quote
        self._row = 0

    def move_to(self, row: int) -> None:
        """Stand on candle `row`: prices are its opens from now on."""
        self._row = row

    @property
    def now(self) -> datetime:
        """The open time of the current candle."""
        return to_datetime(int(self._history.times[self._row]))

    def price(self, asset: str) -> Decimal | None:
        """The current open of `asset`, or None while it is unpriced."""
        value = float(self._history.opens[self._row, self._history.column(asset)])
        if value != value or value <= 0:  # NaN: not listed yet
            return None
        # repr of a float is the shortest text that reads back the same: the CSV's own digits.
        return Decimal(repr(value))

    async def fetch_prices(self, symbols: Sequence[str]) -> dict[str, Price]:
        """Current opens of the requested `BASE/QUOTE` symbols that have one."""
        found: dict[str, Price] = {}
        for symbol in symbols:
            base, _, quote = symbol.partition("/")
            if quote != self._quote or base not in self._history.assets:
                continue
            last = self.price(base)
            if last is not None:
                found[symbol] = Price(base, quote, last, self.now)
        return found

    async def fetch_candles(
        self, symbol: str, timeframe: str, since: int | None = None, limit: int | None = None
    ) -> list[Candle]:
        """No candles: a backtest reads its history directly, never through the fill source."""
        return []

    async def close(self) -> None:
        """Nothing to release."""


@dataclass(frozen=True, slots=True)
class Execution:
    """The outcome of one order: the paper exchange's order, or why it was refused."""

    side: Side
    asset: str
    requested: Decimal
    order: Order | None
    refused: str | None = None


class Broker:
    """One simulated account trading at candle opens through a `PaperExchange`."""

    def __init__(
        self,
        store: Store,
        exchange: PaperExchange,
        prices: OpenPrices,
        markets: Mapping[str, Market],
        quote: str,
        fee_rate: Decimal,
        slippage: Decimal,
        name: str,
    ) -> None:
        self._store = store
        self._exchange = exchange
        self._prices = prices
        self._markets = dict(markets)
        self._quote = quote
        self._fee_rate = fee_rate
        self._slippage = slippage
        self._name = name
        self._sequence = 0
        self.balances: dict[str, Balance] = {}
        self.fees_paid = ZERO
        self.traded_value = ZERO
        self.trades = 0

    @classmethod
    async def open(
        cls,
        history: MarketHistory,
        balances: Mapping[str, Balance],
        markets: Mapping[str, Market],
        *,
        quote: str,
        fee_rate: Decimal,
        slippage: Decimal,
        name: str,
    ) -> Broker:
        """A fresh account holding `balances`, on its own in-memory paper exchange."""
        store = await Store.open(":memory:")
        prices = OpenPrices(history, quote)
        exchange = PaperExchange(
            store, prices, markets, fee_rate=fee_rate, slippage=slippage,
            clock=lambda: prices.now, name=f"backtest-{name}",
        )
        await exchange.seed(balances)
        broker = cls(store, exchange, prices, markets, quote, fee_rate, slippage, name)
        broker.balances = await exchange.fetch_balances()
        return broker

    async def close(self) -> None:
        """Release the in-memory store."""
        await self._exchange.close()
        await self._store.close()

    def free(self, asset: str) -> Decimal:
        """The cached free balance of `asset`."""
        balance = self.balances.get(asset)
        return balance.free if balance is not None else ZERO

    def amount(self, asset: str) -> Decimal:
        """The cached total balance of `asset`."""
        balance = self.balances.get(asset)
        return balance.total if balance is not None else ZERO

    async def execute(
        self, row: int, orders: Iterable[tuple[Side, str, Decimal]]
    ) -> list[Execution]:
        """Fill `orders` (side, asset, base amount) at the open of candle `row`, sells first.

        A buy is capped to what the free quote balance pays at the fill price, fee included,
        as a market buy by quote amount would be. A refused order (below the market minimum,
        unpriced) is reported, not raised: the simulated owner simply sees it fail.
        """
        self._prices.move_to(row)
        ordered = sorted(orders, key=lambda order: order[0] is not Side.SELL)
        results: list[Execution] = []
        for side, asset, amount in ordered:
            if side is Side.BUY:
                amount = min(amount, self._affordable(asset))
            results.append(await self._place(row, side, asset, amount))
        return results

    def _affordable(self, asset: str) -> Decimal:
        market = self._markets.get(f"{asset}/{self._quote}")
        price = self._prices.price(asset)
        if market is None or price is None:
            return ZERO
        # The paper exchange's buy price: the open plus slippage, on the tick.
        paid = round_to_tick(price * (1 + self._slippage), market.rules.price_tick)
        budget = self.free(self._quote) / (paid * (1 + self._fee_rate))
        return floor_to_step(budget, market.rules.amount_step)

    async def _place(self, row: int, side: Side, asset: str, amount: Decimal) -> Execution:
        self._sequence += 1
        request = OrderRequest(
            symbol=f"{asset}/{self._quote}",
            side=side,
            amount=amount,
            client_order_id=f"{self._name}-{row}-{self._sequence}",
        )
        try:
            order = await self._exchange.create_order(request)
        except ExchangeError as error:
            return Execution(side, asset, amount, None, str(error))
        # Re-read after each fill: a later buy of this batch spends this sell's cash.
        self.balances = await self._exchange.fetch_balances()
        self.trades += 1
        self.fees_paid += order.fee
        self.traded_value += order.cost
        return Execution(side, asset, amount, order)
