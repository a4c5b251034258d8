"""Aligning several assets' candles on one clock."""

from __future__ import annotations

import numpy as np
import pytest

from core.backtest.history import AssetCandles, MarketHistory

H = 3_600_000


def candles(times: list[int], opens: list[float], closes: list[float]) -> AssetCandles:
    return AssetCandles(
        np.array(times, dtype=np.int64), np.array(opens, dtype=float), np.array(closes, dtype=float)
    )


def test_a_missing_candle_repeats_the_previous_close_and_unlisted_is_nan() -> None:
    history = MarketHistory.align(
        "1h",
        {
            "BTC": candles([0, H, 3 * H], [10, 11, 13], [11, 12, 14]),  # 2h is missing
            "SOL": candles([2 * H, 3 * H], [5, 6], [6, 7]),  # listed at 2h
        },
    )
    assert history.times.tolist() == [0, H, 2 * H, 3 * H]
    btc, sol = history.column("BTC"), history.column("SOL")
    assert history.opens[:, btc].tolist() == [10, 11, 12, 13]
    assert history.closes[:, btc].tolist() == [11, 12, 12, 14]
    assert np.isnan(history.opens[:2, sol]).all()
    assert history.closes[2:, sol].tolist() == [6, 7]
    assert history.curve_times().tolist() == [0, H, 2 * H, 3 * H, 4 * H]
    # the repeated close values a holding; but no decision is priced, nothing fills, on it
    assert history.traded[:, btc].tolist() == [True, True, False, True]
    assert history.traded[:, sol].tolist() == [False, False, True, True]


def test_unusable_prices_count_as_a_missing_candle() -> None:
    history = MarketHistory.align("1h", {"BTC": candles([0, H, 2 * H], [10, np.nan, 12],
                                                        [11, 0.0, 13])})
    assert history.traded[:, 0].tolist() == [True, False, True]
    assert history.closes[:, 0].tolist() == [11, 11, 13]


def test_window_is_half_open() -> None:
    history = MarketHistory.align("1h", {"BTC": candles([0, H, 2 * H], [1, 2, 3], [2, 3, 4])})
    assert history.window(history.between(H, 2 * H)).times.tolist() == [H]


def test_off_grid_candles_name_the_asset() -> None:
    with pytest.raises(ValueError, match="ETH candles are not on the 1d grid"):
        MarketHistory.align("1d", {"ETH": candles([H], [1], [1])})


def test_unknown_asset_is_named() -> None:
    history = MarketHistory.align("1h", {"BTC": candles([0], [1], [1])})
    with pytest.raises(KeyError, match="no 1h candles for DOGE"):
        history.column("DOGE")
