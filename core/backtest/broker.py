"""Order execution for a simulated account, at the open of the candle after each decision.

Ballast and the calendar benchmark both trade through `Broker`: balances in memory, every order
filled by the paper exchange's own fill model (`core.exchange.fill_model`: fee, slippage,
exchange rounding and minimums), so a backtest trades exactly as paper trading does, minus the
SQLite bookkeeping that would make years of candles slow. A decision taken at the close of a
candle is filled at the *open of the next candle*: the first price that exists after the
decision, never one known only later.

`OpenPrices` is the same price, as a `PriceSource`, for a real `PaperExchange` (the engine run).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import numpy as np

from core.backtest.history import IntArray, MarketHistory, to_datetime
from core.domain.models import ZERO, Balance, Candle, Market, Price, Side, epoch_ms
from core.domain.rounding import floor_to_step, round_to_tick
from core.exchange.base import Order, OrderStatus
from core.exchange.errors import ExchangeError, ExchangeUnavailable, InvalidOrder
from core.exchange.fill_model import order_amount, simulate_fill


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
        column = self._history.column(asset)
        if not self._history.traded[self._row, column]:  # no candle: nothing trades
            return None
        value = float(self._history.opens[self._row, column])
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
    """The outcome of one order: the filled order, or why it was refused or skipped."""

    side: Side
    asset: str
    requested: Decimal
    order: Order | None
    refused: str | None = None


BuyCap = Callable[[str, Decimal], tuple[Decimal, str]]
"""How much of a planned buy may be sent now: (asset, amount) → (amount, why if 0)."""


class Broker:
    """One simulated account trading at candle opens (see the module docs)."""

    def __init__(
        self,
        history: MarketHistory,
        balances: Mapping[str, Balance],
        markets: Mapping[str, Market],
        *,
        quote: str,
        fee_rate: Decimal,
        slippage: Decimal,
        name: str,
    ) -> None:
        if fee_rate < 0 or slippage < 0:
            raise ValueError(
                f"fee_rate ({fee_rate}) and slippage ({slippage}) must not be negative"
            )
        self.prices = OpenPrices(history, quote)
        self._markets = dict(markets)
        self._quote = quote
        self._fee_rate = fee_rate
        self._slippage = slippage
        self._name = name
        self._sequence = 0
        self.balances: dict[str, Balance] = {a: b for a, b in balances.items() if b.total}
        self.version = 0  # counts balance changes, so readers can keep what they derived
        self.fees_paid = ZERO
        self.traded_value = ZERO
        self.trades = 0
        # When each filled buy and sell happened (epoch ms), for the chart's trade marks.
        self._fill_times: dict[Side, list[int]] = {Side.BUY: [], Side.SELL: []}

    def free(self, asset: str) -> Decimal:
        """The free balance of `asset`."""
        balance = self.balances.get(asset)
        return balance.free if balance is not None else ZERO

    def amount(self, asset: str) -> Decimal:
        """The total balance of `asset`."""
        balance = self.balances.get(asset)
        return balance.total if balance is not None else ZERO

    def move_to(self, row: int) -> None:
        """Stand on candle `row`: orders from now on fill at its open."""
        self.prices.move_to(row)

    def replace_balances(self, balances: Mapping[str, Balance]) -> None:
        """Take balances as another account keeper reports them (the engine's paper exchange)."""
        self.balances = dict(balances)
        self.version += 1

    def fill_price(self, asset: str) -> Decimal | None:
        """The current open of `asset` (before slippage), or None while it is unpriced."""
        return self.prices.price(asset)

    async def execute(
        self,
        row: int,
        orders: Iterable[tuple[Side, str, Decimal]],
        cap: BuyCap | None = None,
    ) -> list[Execution]:
        """Fill `orders` (side, asset, base amount) at the open of candle `row`, sells first.

        Each buy is first capped by `cap`, which sees the balances left by the sells before
        it; the default caps it to what the free quote balance pays at the fill price, fee
        included, as a market buy by quote amount would be. A refused or skipped order is
        reported, not raised: the simulated owner simply sees it fail.
        """
        self.move_to(row)
        limit = cap or self.affordable_at_fill
        ordered = sorted(orders, key=lambda order: order[0] is not Side.SELL)
        results: list[Execution] = []
        for side, asset, amount in ordered:
            if side is Side.BUY:
                amount, why = limit(asset, amount)
                if amount <= 0:
                    results.append(Execution(side, asset, amount, None, why))
                    continue
            results.append(self._place(row, side, asset, amount))
        return results

    def affordable_at_fill(self, asset: str, amount: Decimal) -> tuple[Decimal, str]:
        """`amount` capped to what the free quote pays at the current open, fee included."""
        market = self._markets.get(f"{asset}/{self._quote}")
        price = self.prices.price(asset)
        if market is None or price is None:
            return ZERO, f"{asset}/{self._quote} has no market or no price"
        # The fill model's buy price: the open plus slippage, on the tick.
        paid = round_to_tick(price * (1 + self._slippage), market.rules.price_tick)
        budget = self.free(self._quote) / (paid * (1 + self._fee_rate))
        allowed = min(amount, floor_to_step(budget, market.rules.amount_step))
        return allowed, "" if allowed > 0 else f"no {self._quote} left to pay for it"

    def note_fill(self, order: Order) -> None:
        """Count a filled order's trade, fee and traded value."""
        if order.filled <= 0:
            return
        self.trades += 1
        self.fees_paid += order.fee
        self.traded_value += order.cost
        if order.timestamp is not None:
            self._fill_times[order.side].append(epoch_ms(order.timestamp))

    def buy_times(self) -> IntArray:
        """When each filled buy happened (epoch ms), oldest first."""
        return np.array(self._fill_times[Side.BUY], dtype=np.int64)

    def sell_times(self) -> IntArray:
        """When each filled sell happened (epoch ms), oldest first."""
        return np.array(self._fill_times[Side.SELL], dtype=np.int64)

    def _place(self, row: int, side: Side, asset: str, amount: Decimal) -> Execution:
        self._sequence += 1
        symbol = f"{asset}/{self._quote}"
        try:
            order = self._fill(f"{self._name}-{row}-{self._sequence}", symbol, side, amount)
        except ExchangeError as error:
            return Execution(side, asset, amount, None, str(error))
        self.note_fill(order)
        return Execution(side, asset, amount, order)

    def _fill(self, client_order_id: str, symbol: str, side: Side, requested: Decimal) -> Order:
        market = self._markets.get(symbol)
        if market is None or not market.active:
            raise InvalidOrder(f"{symbol} is not a market this exchange trades")
        last = self.prices.price(market.base)
        if last is None:
            raise ExchangeUnavailable(f"no current price for {symbol}: cannot fill the order")
        amount = order_amount(side, requested, market, last)
        fill = simulate_fill(
            side, amount, last, market, fee_rate=self._fee_rate, slippage=self._slippage,
            base=self.balances.get(market.base, Balance(ZERO)),
            quote=self.balances.get(market.quote, Balance(ZERO)),
        )
        self.balances[market.base] = fill.base
        self.balances[market.quote] = fill.quote
        self.version += 1
        return Order(
            client_order_id=client_order_id,
            exchange_order_id=client_order_id,
            symbol=symbol,
            side=side,
            status=OrderStatus.FILLED,
            amount=amount,
            filled=amount,
            average_price=fill.price,
            cost=fill.cost,
            fee=fill.fee,
            fee_currency=market.quote,
            timestamp=self.prices.now,
        )
