"""Buy-and-hold and monthly calendar rebalancing, checked by hand."""

from __future__ import annotations

import csv
import gzip
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from core.backtest.benchmarks import (
    StartingPortfolio,
    _rebalance_orders,
    _value,
    buy_and_hold,
    calendar_rebalance,
    month_starts,
)
from core.backtest.broker import Broker
from core.backtest.history import AssetCandles, MarketHistory
from core.domain.models import Market, MarketRules
from core.exchange.paper_markets import bundled_markets

DEMO = Path(__file__).resolve().parent.parent / "core" / "data" / "demo"
JAN_2024 = 1704067200000
FEB_2024 = 1706745600000
H = 3_600_000


def read_rows(asset: str) -> list[list[str]]:
    """The candle file's rows as text: the hand computation reads the file on its own."""
    with gzip.open(DEMO / f"binance_{asset}_USDT_1h.csv.gz", "rt") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["timestamp", "open", "high", "low", "close", "volume"]
    return rows[1:]


def as_candles(rows: list[list[str]]) -> AssetCandles:
    return AssetCandles(
        np.array([int(r[0]) for r in rows], dtype=np.int64),
        np.array([float(r[1]) for r in rows]),
        np.array([float(r[4]) for r in rows]),
    )


def test_buy_and_hold_equals_a_hand_computation_from_the_candle_files() -> None:
    btc, eth = read_rows("BTC"), read_rows("ETH")
    history = MarketHistory.align("1h", {"BTC": as_candles(btc), "ETH": as_candles(eth)})
    january = history.window(history.between(JAN_2024, FEB_2024))
    start = StartingPortfolio("USDT", Decimal("628"), {"BTC": Decimal("0.1"), "ETH": Decimal("2")})

    curve = buy_and_hold(january, start)

    first_btc = next(r for r in btc if int(r[0]) == JAN_2024)
    first_eth = next(r for r in eth if int(r[0]) == JAN_2024)
    last_btc = next(r for r in btc if int(r[0]) == FEB_2024 - H)
    last_eth = next(r for r in eth if int(r[0]) == FEB_2024 - H)
    assert first_btc[1] == "42283.58"  # the known Binance open of 2024-01-01
    assert first_eth[1] == "2281.87"
    start_value = 628 + 0.1 * 42283.58 + 2 * 2281.87
    end_value = 628 + 0.1 * float(last_btc[4]) + 2 * float(last_eth[4])
    assert curve.equity[0] == pytest.approx(start_value, rel=1e-12)
    assert curve.equity[-1] == pytest.approx(end_value, rel=1e-12)
    assert curve.equity.size == 31 * 24 + 1
    assert curve.times[-1] == FEB_2024
    metrics = curve.metrics("1h")
    assert metrics.total_return == pytest.approx(end_value / start_value - 1, rel=1e-9)
    assert metrics.trades == 0
    assert metrics.fees_paid == 0
    assert curve.cash_share[0] == pytest.approx(628 / start_value)


def test_an_asset_without_a_starting_price_is_refused_by_name() -> None:
    history = MarketHistory.align(
        "1h",
        {
            "BTC": AssetCandles(np.array([0, H]), np.array([1.0, 1.0]), np.array([1.0, 1.0])),
            "SOL": AssetCandles(np.array([H]), np.array([1.0]), np.array([1.0])),
        },
    )
    start = StartingPortfolio("USDT", Decimal(0), {"SOL": Decimal(1)})
    with pytest.raises(ValueError, match="SOL has no candle at the backtest's start"):
        buy_and_hold(history, start)


def test_month_starts_are_the_first_candles_of_each_utc_month() -> None:
    times = np.array([FEB_2024 - 2 * H, FEB_2024 - H, FEB_2024, FEB_2024 + H], dtype=np.int64)
    assert month_starts(times) == [2]


def two_asset_history() -> MarketHistory:
    """BTC doubles over January, ETH stays flat; a new month starts at row 2."""
    times = np.array([FEB_2024 - 2 * H, FEB_2024 - H, FEB_2024, FEB_2024 + H], dtype=np.int64)
    return MarketHistory.align(
        "1h",
        {
            "BTC": AssetCandles(times, np.array([100.0, 150.0, 210.0, 200.0]),
                                np.array([150.0, 200.0, 200.0, 220.0])),
            "ETH": AssetCandles(times, np.array([10.0, 10.0, 10.0, 10.0]),
                                np.array([10.0, 10.0, 10.0, 10.0])),
        },
    )


def markets(step: str | None = None) -> dict[str, Market]:
    rules = MarketRules(min_notional=Decimal(5), amount_step=Decimal(step) if step else None)
    return {f"{a}/USDT": Market(f"{a}/USDT", a, "USDT", rules) for a in ("BTC", "ETH")}


async def test_calendar_rebalances_to_the_starting_weights_at_the_month_boundary() -> None:
    # start: 1 BTC at 100, 10 ETH at 10, 100 cash → value 300, weights 1/3 each
    start = StartingPortfolio("USDT", Decimal(100), {"BTC": Decimal(1), "ETH": Decimal(10)})
    curve = await calendar_rebalance(two_asset_history(), start, markets(), fee_rate=Decimal(0))
    # decided at the January close: BTC 200 → value 400, target 133.33 each;
    # sell 0.3333… BTC and buy 3.333… ETH, filled at row 2's open (BTC 210, ETH 10)
    sold = Decimal(1) - Decimal(400) / 3 / Decimal(200)
    cash_after = Decimal(100) + sold * 210
    bought = Decimal(400) / 3 / 10 - 10
    cash_after -= bought * 10
    btc_after = Decimal(1) - sold
    eth_after = Decimal(10) + bought
    expected_end = cash_after + btc_after * 220 + eth_after * 10
    assert curve.trades == 2
    assert curve.equity[0] == pytest.approx(300)
    assert curve.equity[-1] == pytest.approx(float(expected_end), rel=1e-12)
    assert curve.traded_value == pytest.approx(float(sold * 210 + bought * 10), rel=1e-12)


async def test_calendar_pays_the_fee_and_floors_to_the_step() -> None:
    start = StartingPortfolio("USDT", Decimal(100), {"BTC": Decimal(1), "ETH": Decimal(10)})
    curve = await calendar_rebalance(
        two_asset_history(), start, markets("0.01"), fee_rate=Decimal("0.001")
    )
    # sell 0.33 BTC (floored) at 210, then buy ETH with a target of 3.33 (floored)
    sell_cost = Decimal("0.33") * 210
    buy_cost = Decimal("3.33") * 10
    assert curve.fees_paid == pytest.approx(float((sell_cost + buy_cost) * Decimal("0.001")))
    cash = Decimal(100) + sell_cost * Decimal("0.999") - buy_cost * Decimal("1.001")
    end = cash + Decimal("0.67") * 220 + Decimal("13.33") * 10
    assert curve.equity[-1] == pytest.approx(float(end), rel=1e-12)


async def test_calendar_skips_trades_below_the_minimum_trade_value() -> None:
    start = StartingPortfolio("USDT", Decimal(100), {"BTC": Decimal(1), "ETH": Decimal(10)})
    curve = await calendar_rebalance(
        two_asset_history(), start, markets(), fee_rate=Decimal(0), min_trade_value=Decimal(100)
    )
    assert curve.trades == 0


async def test_calendar_values_every_row_as_the_broker_holds_it_bit_for_bit() -> None:
    # The loop reads the amounts only at rebalances; every point must still be exactly the
    # broker's amounts at that row's closes, valued on their own (`_value`), over real candles.
    assets = ("BTC", "ETH", "SOL", "AVAX")
    history = MarketHistory.align("1h", {a: as_candles(read_rows(a)) for a in assets})
    period = history.window(history.between(JAN_2024, JAN_2024 + 120 * 24 * H))
    start = StartingPortfolio("USDT", Decimal("628"), {
        "BTC": Decimal("0.05"), "ETH": Decimal("1.5"), "SOL": Decimal("30"), "AVAX": Decimal("40"),
    })
    traded = {s: m for s, m in bundled_markets().items() if m.quote == "USDT"}
    fee = Decimal("0.001")
    curve = await calendar_rebalance(period, start, traded, fee_rate=fee)

    columns = [period.column(a) for a in assets]
    first = period.opens[0, columns]
    amounts = np.array([float(start.amounts[a]) for a in assets])
    value = float(start.cash) + float(first @ amounts)
    weights = {a: float(amounts[i] * first[i]) / value for i, a in enumerate(assets)}
    broker = Broker(period, start.balances(), traded, quote="USDT", fee_rate=fee,
                    slippage=Decimal(0), name="calendar")
    months = set(month_starts(period.times))
    expected = [value]
    for row in range(period.times.size):
        if row in months:
            orders = _rebalance_orders(broker, "USDT", assets, period.closes[row - 1, columns],
                                       weights, traded, Decimal(10))
            await broker.execute(row, orders)
        expected.append(_value(broker, "USDT", assets, period.closes[row, columns]))
    assert curve.trades > 8
    assert curve.equity.tolist() == expected
