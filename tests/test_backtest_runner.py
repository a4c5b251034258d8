"""The backtest runner: fills after the decision, fees, no look-ahead (engine parity:
test_backtest_engine_parity.py)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from core.backtest.benchmarks import StartingPortfolio
from core.backtest.replay import MarketReplay, load_replay, replay_from_frames
from core.backtest.runner import BacktestResult, run_backtest
from core.backtest.simulation import BacktestInput
from core.config.settings import Settings, load_settings
from core.domain.models import Market, MarketRules
from core.exchange.paper_markets import bundled_markets
from core.market.candles import read_candle_dir

H = 3_600_000
DAY = 24 * H
T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC
DEMO = Path(__file__).resolve().parent.parent / "core" / "data" / "demo"
SEED = StartingPortfolio(
    "USDT", Decimal(628),
    {"BTC": Decimal("0.05"), "ETH": Decimal("1.5"), "SOL": Decimal("30"), "AVAX": Decimal("40")},
)


def settings(**overrides: Any) -> Settings:
    return load_settings(env={}, approval="auto", **overrides)


def flat_frame(opens: float, closes: float, candles: int = 200) -> pd.DataFrame:
    index = pd.Index(np.arange(candles, dtype=np.int64) * H + T0, name="timestamp")
    return pd.DataFrame(
        {
            "open": np.full(candles, opens),
            "high": np.full(candles, max(opens, closes)),
            "low": np.full(candles, min(opens, closes)),
            "close": np.full(candles, closes),
            "volume": np.full(candles, 1.0),
        },
        index=index,
    )


BTC_MARKET = {
    "BTC/USDT": Market("BTC/USDT", "BTC", "USDT",
                       MarketRules(min_notional=Decimal(5), amount_step=Decimal("0.001")))
}


async def one_trade_run(opens: float, closes: float) -> tuple[BacktestResult, MarketReplay]:
    """95% BTC, 5% cash, signals all HOLD (no strategies): the policy trims BTC once."""
    config = settings(strategies="", watchlist="BTC")
    replay = replay_from_frames(
        {"BTC": flat_frame(opens, closes)}, "1h", "USDT", T0 + 100 * H, T0 + 148 * H,
        config.signal,
    )
    start = StartingPortfolio("USDT", Decimal(500), {"BTC": Decimal(95)})
    inp = BacktestInput(config, start, {}, ("BTC",))
    result = await run_backtest(replay, inp, BTC_MARKET)
    return result, replay


async def test_a_one_trade_scenario_loses_exactly_the_fee() -> None:
    result, _ = await one_trade_run(100.0, 100.0)
    ballast = result.ballast
    assert ballast.trades == 1
    start_value = 500 + 95 * 100
    assert ballast.equity[0] == start_value
    assert ballast.fees_paid == pytest.approx(ballast.traded_value * 0.001, rel=1e-12)
    assert ballast.fees_paid > 0
    assert ballast.equity[-1] == pytest.approx(start_value - ballast.fees_paid, abs=1e-9)
    metrics = ballast.metrics("1h")
    assert metrics.total_return == pytest.approx(-ballast.fees_paid / start_value, rel=1e-9)
    assert result.hodl.equity[-1] == start_value
    assert result.tally.plans == 1


async def test_orders_fill_at_the_open_after_the_decision_not_the_close_it_saw() -> None:
    # every candle opens at 100.5 and closes at 100: the plan is sized at the close (100),
    # the fill comes at the next candle's open (100.5), within max_price_drift (2%)
    result, replay = await one_trade_run(100.5, 100.0)
    assert result.ballast.trades == 1
    sold = result.ballast.traded_value / 100.5
    assert sold == pytest.approx(round(sold, 3))  # a whole number of steps at the open price
    assert replay.last_closes(replay.first_row)["BTC"] == Decimal("100.0")


async def test_a_plan_whose_price_drifted_beyond_the_limit_is_not_executed() -> None:
    # opens 3% above the close the plan saw: the engine would re-propose, not execute
    result, _ = await one_trade_run(103.0, 100.0)
    assert result.ballast.trades == 0
    assert result.tally.drifted == result.tally.plans > 0


def demo_replay(start_ms: int, end_ms: int) -> MarketReplay:
    return load_replay(DEMO, "1h", "USDT", start_ms, end_ms, settings().signal)


def markets() -> dict[str, Market]:
    return {s: m for s, m in bundled_markets().items() if m.quote == "USDT"}


async def test_truncating_the_data_after_t_changes_no_decision_before_t() -> None:
    # The seed's rules trade on both sides of the cut; the defaults trade too rarely here.
    config = settings(preset="seed-literal")
    start, cut, end = T0 + 60 * DAY, T0 + 65 * DAY, T0 + 70 * DAY
    frames = read_candle_dir(DEMO, "1h", quote="USDT")
    inp = BacktestInput(config, SEED, {}, tuple(config.watchlist))
    full = await run_backtest(
        replay_from_frames(frames, "1h", "USDT", start, end, config.signal), inp, markets()
    )
    truncated_frames = {a: f[f.index < cut] for a, f in frames.items()}
    truncated = await run_backtest(
        replay_from_frames(truncated_frames, "1h", "USDT", start, end, config.signal),
        inp, markets(),
    )
    assert truncated.end.timestamp() * 1000 == cut
    points = truncated.ballast.times.size
    assert np.array_equal(full.ballast.times[:points], truncated.ballast.times)
    assert np.array_equal(full.ballast.equity[:points], truncated.ballast.equity)
    assert truncated.ballast.trades > 0  # there were decisions to compare
    assert full.ballast.trades > truncated.ballast.trades


async def test_truncation_keeps_every_order_before_t() -> None:
    from core.backtest.broker import Broker
    from core.backtest.simulation import Simulation, run_fast

    config = settings()
    start, cut, end = T0 + 60 * DAY, T0 + 63 * DAY, T0 + 66 * DAY
    frames = read_candle_dir(DEMO, "1h", quote="USDT")
    inp = BacktestInput(config, SEED, {}, tuple(config.watchlist))
    journals = []
    for data in (frames, {a: f[f.index < cut] for a, f in frames.items()}):
        replay = replay_from_frames(data, "1h", "USDT", start, end, config.signal)
        broker = Broker(replay.history, SEED.balances(), markets(), quote="USDT",
                        fee_rate=config.fee_rate, slippage=Decimal(0), name="ballast")
        sim = Simulation(replay, inp, markets(), broker)
        await run_fast(sim)
        journals.append([(o.timestamp, o.side, o.symbol, o.filled, o.average_price, o.fee)
                         for o in sim.orders])
    full, truncated = journals
    before = [order for order in full if order[0] is not None and order[0].timestamp() * 1000 < cut]
    assert truncated == before
    assert before


def test_an_asset_whose_last_candle_is_missing_is_unpriced_for_that_decision() -> None:
    eth = flat_frame(10.0, 10.0)
    gap = T0 + 120 * H
    replay = replay_from_frames(
        {"BTC": flat_frame(100.0, 100.0), "ETH": eth[eth.index != gap]},
        "1h", "USDT", T0 + 100 * H, T0 + 148 * H, settings().signal,
    )
    row = int(np.searchsorted(replay.history.times, gap + H))
    assert set(replay.last_closes(row)) == {"BTC"}  # ETH's price would be an hour stale
    assert set(replay.last_closes(row + 1)) == {"BTC", "ETH"}


def test_the_fast_signal_arrays_equal_the_signal_history_reader() -> None:
    replay = demo_replay(T0 + 10 * DAY, T0 + 12 * DAY)
    for asset in ("BTC", "SOL"):
        history = replay.signals[asset]
        for row in replay.rows:
            at_ms = int(replay.history.times[row])
            kind, score = history.signal_at(at_ms)
            fast = replay.signals_at(row, [asset])[asset]
            assert (fast.signal, fast.score) == (kind, score)


async def test_a_holding_without_candles_is_named() -> None:
    config = settings()
    start = StartingPortfolio("USDT", Decimal(100), {"DOGE": Decimal(1000)})
    inp = BacktestInput(config, start, {}, ())
    with pytest.raises(ValueError, match="no 1h USDT candles for DOGE"):
        await run_backtest(demo_replay(T0, T0 + DAY), inp, markets())


async def test_the_summary_has_the_spec_shape() -> None:
    config = settings()
    inp = BacktestInput(config, SEED, {}, tuple(config.watchlist))
    result = await run_backtest(demo_replay(T0, T0 + 2 * DAY), inp, markets())
    summary = result.summary()
    trading = {"final_value", "total_return", "cagr", "sharpe", "sortino", "max_drawdown",
               "trades", "fees_paid", "turnover", "avg_cash"}
    assert set(summary) == {"ballast", "hodl", "calendar", "period"}
    assert set(summary["ballast"]) == trading
    assert set(summary["calendar"]) == trading
    assert set(summary["hodl"]) == trading - {"trades", "fees_paid", "turnover", "avg_cash"}
    assert summary["period"] == {
        "from": "2024-01-01T00:00:00Z", "to": "2024-01-03T00:00:00Z", "candles": 48,
    }
