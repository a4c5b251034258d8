"""The two yardsticks every backtest reports next to Ballast (docs/formats.md).

- **Buy-and-hold** (`hodl`): the starting portfolio, untouched. No trades, no fees.
- **Calendar**: at the first candle of every calendar month (UTC), rebalance to the starting
  weights — cash included — measured at the start. Like Ballast, it decides at the close of the
  month's last candle, valuing the portfolio at those closes, and fills at the next candle's open
  through the same fill model as paper trading (fee on the traded value in the quote, amounts
  floored to the market's step, the market's minimums enforced). Orders worth less than
  `min_trade_value` are skipped, as Ballast's policy skips them; sells go before buys, and buys
  are capped to the cash the sells left.

Both start from the same value: the starting amounts at the first candle's open.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

from core.backtest.broker import Broker
from core.backtest.history import FloatArray, IntArray, MarketHistory, to_datetime
from core.backtest.metrics import Metrics, measure
from core.domain.models import ZERO, Balance, Market, Side
from core.domain.rounding import floor_to_step


@dataclass(frozen=True, slots=True)
class StartingPortfolio:
    """What the backtest starts with: cash in the quote currency and amounts of other assets."""

    quote: str
    cash: Decimal
    amounts: Mapping[str, Decimal]

    def balances(self) -> dict[str, Balance]:
        """The starting balances as a paper account is seeded with them."""
        seeded = {asset: Balance(amount) for asset, amount in self.amounts.items() if amount}
        seeded[self.quote] = Balance(self.cash)
        return seeded


@dataclass(frozen=True, slots=True)
class EquityCurve:
    """A strategy's value at every point of the backtest clock, and what its trading cost."""

    times: IntArray
    equity: FloatArray
    cash_share: FloatArray
    trades: int = 0
    fees_paid: float = 0.0
    traded_value: float = 0.0
    # When each filled buy and sell happened (epoch ms), for the chart's trade marks; kept as
    # two small arrays so that studies can hold thousands of curves.
    buy_times: IntArray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    sell_times: IntArray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    def metrics(self, timeframe: str) -> Metrics:
        """The metrics of this curve (docs/formats.md)."""
        return measure(
            self.equity,
            self.times,
            timeframe,
            cash_share=self.cash_share,
            traded_value=self.traded_value,
            fees_paid=self.fees_paid,
            trades=self.trades,
        )


def _start_columns(
    history: MarketHistory, start: StartingPortfolio
) -> tuple[list[int], FloatArray]:
    columns = [history.column(asset) for asset in start.amounts]
    for asset, column in zip(start.amounts, columns, strict=True):
        if np.isnan(history.opens[0, column]):
            raise ValueError(
                f"{asset} has no candle at the backtest's start "
                f"({to_datetime(int(history.times[0])):%Y-%m-%d %H:%M} UTC): "
                f"start later or leave it out of the portfolio"
            )
    amounts = np.array([float(a) for a in start.amounts.values()], dtype=np.float64)
    return columns, amounts


def buy_and_hold(history: MarketHistory, start: StartingPortfolio) -> EquityCurve:
    """The starting portfolio held unchanged: cash plus amounts × close at every candle."""
    if history.times.size == 0:
        raise ValueError("no candles in the backtest period")
    columns, amounts = _start_columns(history, start)
    cash = float(start.cash)
    first = cash + float(history.opens[0, columns] @ amounts)
    later = cash + history.closes[:, columns] @ amounts
    equity = np.concatenate([[first], later])
    shares = np.divide(cash, equity, out=np.zeros_like(equity), where=equity > 0)
    return EquityCurve(history.curve_times(), equity, shares)


def month_starts(times: IntArray) -> list[int]:
    """Rows whose candle opens in a different UTC month than the row before (never row 0)."""
    months = times.astype("datetime64[ms]").astype("datetime64[M]")
    return [int(row) for row in np.nonzero(months[1:] != months[:-1])[0] + 1]


def _value(broker: Broker, quote: str, assets: tuple[str, ...], prices: FloatArray) -> float:
    held, cash = _holdings(broker, quote, assets)
    priced = np.where(np.isnan(prices), 0.0, prices)
    return cash + float(priced @ held)


def _holdings(broker: Broker, quote: str, assets: tuple[str, ...]) -> tuple[FloatArray, float]:
    """The broker's amounts of `assets` and of `quote`, as floats."""
    held = np.array([float(broker.amount(asset)) for asset in assets], dtype=np.float64)
    return held, float(broker.amount(quote))


async def calendar_rebalance(
    history: MarketHistory,
    start: StartingPortfolio,
    markets: Mapping[str, Market],
    *,
    fee_rate: Decimal,
    slippage: Decimal = ZERO,
    min_trade_value: Decimal = Decimal(10),
) -> EquityCurve:
    """Monthly rebalancing to the starting weights through the paper exchange (module docs)."""
    if history.times.size == 0:
        raise ValueError("no candles in the backtest period")
    columns, amounts = _start_columns(history, start)
    assets = tuple(start.amounts)
    first_prices = history.opens[0, columns]
    start_value = float(start.cash) + float(first_prices @ amounts)
    weights = {a: float(amounts[i] * first_prices[i]) / start_value for i, a in enumerate(assets)}
    broker = Broker(
        history, start.balances(), markets, quote=start.quote, fee_rate=fee_rate,
        slippage=slippage, name="calendar",
    )
    rebalance_rows = set(month_starts(history.times))
    equity = np.empty(history.times.size + 1)
    cash = np.empty(history.times.size + 1)
    equity[0] = start_value
    cash[0] = float(start.cash)
    # Amounts change only at a rebalance, so they are read then; each row is still valued on
    # its own (one dot product per row, as `_value` does), so no figure depends on the others.
    closes = history.closes[:, columns]
    # C order: each row a contiguous vector, as `_value`'s are (a strided dot sums differently).
    priced = np.ascontiguousarray(np.where(np.isnan(closes), 0.0, closes))
    held, quote_cash = _holdings(broker, start.quote, assets)
    for row in range(history.times.size):
        if row in rebalance_rows:
            prices = history.closes[row - 1, columns]
            orders = _rebalance_orders(
                broker, start.quote, assets, prices, weights, markets, min_trade_value
            )
            await broker.execute(row, orders)
            held, quote_cash = _holdings(broker, start.quote, assets)
        equity[row + 1] = quote_cash + float(priced[row] @ held)
        cash[row + 1] = quote_cash
    shares = np.divide(cash, equity, out=np.zeros_like(equity), where=equity > 0)
    return EquityCurve(
        history.curve_times(),
        equity,
        shares,
        trades=broker.trades,
        fees_paid=float(broker.fees_paid),
        traded_value=float(broker.traded_value),
    )


def _rebalance_orders(
    broker: Broker,
    quote: str,
    assets: tuple[str, ...],
    prices: FloatArray,
    weights: Mapping[str, float],
    markets: Mapping[str, Market],
    min_trade_value: Decimal,
) -> list[tuple[Side, str, Decimal]]:
    total = Decimal(repr(_value(broker, quote, assets, prices)))
    orders: list[tuple[Side, str, Decimal]] = []
    for asset, price_f in zip(assets, prices, strict=True):
        price = Decimal(repr(float(price_f)))
        target = total * Decimal(repr(weights[asset])) / price
        held = broker.amount(asset)
        market = markets.get(f"{asset}/{quote}")
        step = market.rules.amount_step if market is not None else None
        change = floor_to_step(abs(target - held), step)
        if change * price < min_trade_value:
            continue
        if target < held:
            orders.append((Side.SELL, asset, min(change, broker.free(asset))))
        else:
            orders.append((Side.BUY, asset, change))
    return orders
