"""A backtest with a daily strategy beside hourly ones reads the directory's 1d files, or builds
the days from its 1h files — with the same result, since the days are the same (real candles)."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.backtest.benchmarks import StartingPortfolio
from core.backtest.replay import MarketReplay, load_replay
from core.backtest.runner import run_backtest
from core.backtest.simulation import BacktestInput
from core.config.settings import load_settings
from core.exchange.paper_markets import bundled_markets
from core.market.candles import read_candle_file

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "candles_2023q1"
START, END = 1_678_838_400_000, 1_682_899_200_000  # 2023-03-15 … 2023-05-01 UTC
PORTFOLIO = StartingPortfolio("USDT", Decimal(2000),
                              {"BTC": Decimal("0.1"), "ETH": Decimal("1")})
SETTINGS: dict[str, Any] = {"strategies": "rsi,macd,trend_ma,trend_score", "trend_ma_days": 10,
            "trend_lookbacks": "5,10,20"}


async def backtest(folder: Path) -> tuple[dict[str, Any], MarketReplay]:
    config = load_settings(env={}, approval="auto", **SETTINGS)
    replay = load_replay(folder, "1h", "USDT", START, END, config.signal)
    inp = BacktestInput(config, PORTFOLIO, {}, ("BTC", "ETH"))
    result = await run_backtest(replay, inp, bundled_markets())
    return result.summary(), replay


async def test_days_from_files_or_from_hours_backtest_alike(tmp_path: Path) -> None:
    hours_only = tmp_path / "hours"
    hours_only.mkdir()
    for asset in ("BTC", "ETH"):
        shutil.copy(FIXTURES / f"binance_{asset}_USDT_1h.csv.gz", hours_only)

    from_files, replay = await backtest(FIXTURES)
    from_hours, _ = await backtest(hours_only)
    assert from_files == from_hours
    assert from_files["ballast"]["trades"] > 0

    # The daily strategies voted, on the days of Binance's file.
    days = replay.signals.compute("BTC")
    assert np.count_nonzero(days.votes[:, 2:]) > 0
    own = read_candle_file(FIXTURES / "binance_BTC_USDT_1d.csv.gz")
    shown = replay.signals["BTC"].at(START + 86_400_000)
    closes = own["close"].loc[:START].iloc[-10:]
    assert shown.indicators["ma_10d"] == pytest.approx(closes.mean(), rel=1e-12)
