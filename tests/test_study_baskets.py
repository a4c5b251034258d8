"""Seeded random baskets and yearly folds (docs/study.md, "Broad studies"): reproducible from
the seed, 3–8 pairs at equal weight with 0–10% cash, folds only where every asset has data,
and `ballast study --baskets N --basket-seed S --yearly` running them beside the given
portfolios."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from bot.cli import app
from core.config.settings import load_settings
from core.domain.models import epoch_ms
from core.market.candles import write_candle_file
from core.signals import candles_needed
from core.study.baskets import basket_portfolio, draw_baskets, yearly_folds
from core.study.folds import Period

DAY = 86_400_000
PAIRS = ("BTC", "ETH", "BNB", "LTC", "XRP", "ADA", "TRX", "NEW")
# NEW is listed in mid-2021: baskets holding it can only use 2022 on.
LISTED = {"NEW": "2021-06-01"}
PERIOD = Period(epoch_ms(datetime(2020, 1, 1, tzinfo=UTC)),
                epoch_ms(datetime(2023, 1, 1, tzinfo=UTC)))


@pytest.fixture(autouse=True)
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("BALLAST_"):
            monkeypatch.delenv(name)


def daily_frames() -> dict[str, pd.DataFrame]:
    """A random walk of daily candles per pair, 2019-12-01 → 2022-12-31."""
    frames = {}
    rng = np.random.default_rng(11)
    for asset in PAIRS:
        first = pd.Timestamp(LISTED.get(asset, "2019-12-01"), tz="UTC")
        days = pd.date_range(first, pd.Timestamp("2022-12-31", tz="UTC"), freq="D")
        close = 100 * np.exp(np.cumsum(rng.normal(0, 0.03, days.size)))
        index = pd.Index((days.asi8 // 1_000_000).astype(np.int64), name="timestamp")
        frames[asset] = pd.DataFrame({"open": close, "high": close * 1.01, "low": close * 0.99,
                                      "close": close, "volume": 1.0}, index=index)
    return frames


def test_yearly_folds_are_the_years_every_asset_covers() -> None:
    frames = daily_frames()
    years = [datetime.fromtimestamp(f.start_ms / 1000, UTC).year
             for f in yearly_folds(frames, ["BTC", "ETH"], PERIOD, DAY)]
    assert years == [2020, 2021, 2022]
    late = yearly_folds(frames, ["BTC", "NEW"], PERIOD, DAY)
    assert [(f.start_ms, f.end_ms) for f in late] == [
        (epoch_ms(datetime(2022, 1, 1, tzinfo=UTC)), PERIOD.end_ms)]
    assert yearly_folds(frames, ["BTC", "GONE"], PERIOD, DAY) == ()


def test_baskets_are_reproducible_from_their_seed_and_within_the_rules() -> None:
    frames = daily_frames()
    first = draw_baskets(frames, 9, 7, PERIOD, DAY)
    assert first == draw_baskets(frames, 9, 7, PERIOD, DAY)
    assert first != draw_baskets(frames, 9, 8, PERIOD, DAY)
    assert [b.name for b in first] == [f"basket-7-{n}" for n in range(1, 10)]
    for basket in first:
        assert 3 <= len(basket.assets) <= 8 and set(basket.assets) <= set(PAIRS)
        assert Decimal(0) <= basket.cash <= Decimal("0.10")
        assert len(basket.folds) >= 2
        assert basket.folds == yearly_folds(frames, basket.assets, PERIOD, DAY)
    assert len({b.assets for b in first}) > 1


def test_a_basket_starts_at_equal_weights_before_its_first_fold() -> None:
    frames = daily_frames()
    basket = draw_baskets(frames, 1, 3, PERIOD, DAY)[0]
    file = basket_portfolio(basket, frames, "USDT")
    start = basket.folds[0].start_ms
    values = [file.balances[a].free * Decimal(repr(float(
        frames[a]["close"][frames[a].index < start].iloc[-1]))) for a in basket.assets]
    share = (1 - basket.cash) * 10_000 / len(basket.assets)
    assert all(abs(v - share) < Decimal("0.01") for v in values)
    assert file.balances["USDT"].free == basket.cash * 10_000


def test_too_thin_a_pool_is_named() -> None:
    frames = {a: f for a, f in daily_frames().items() if a in ("BTC", "ETH")}
    with pytest.raises(ValueError, match="only 2 pairs"):
        draw_baskets(frames, 1, 7, PERIOD, DAY)


def test_study_runs_baskets_beside_the_given_portfolios(tmp_path: Path) -> None:
    folder = tmp_path / "candles"
    folder.mkdir()
    for asset, frame in daily_frames().items():
        write_candle_file(folder / f"binance_{asset}_USDT_1d.csv.gz", frame)
    mine = tmp_path / "late.json"
    mine.write_text(json.dumps({"balances": {"NEW": {"free": 10}, "USDT": {"free": 100}}}))
    grid = tmp_path / "grid.toml"
    grid.write_text('sell_rule = ["score"]\n\n[baskets]\ncount = 2\nseed = 7\n')
    args = ["study", "--candles", str(folder), "--from", "2020-01-01", "--to", "2022-12-31",
            "--timeframe", "1d", "--input", str(mine), "--grid", str(grid), "--yearly",
            "--offsets", "", "--jobs", "1", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["baskets"]["seed"] == 7 and data["baskets"]["count"] == 2
    # Yearly folds start where every strategy can vote: its warm-up lies before the year.
    warm_up = candles_needed(load_settings(env={}, timeframe="1d").signal) * DAY
    drawn = draw_baskets(daily_frames(), 2, 7, PERIOD, DAY, warm_up)
    assert [b["assets"] for b in data["baskets"]["drawn"]] == [list(b.assets) for b in drawn]
    names = [p["portfolio"] for p in data["portfolios"]]
    assert names == ["late", "basket-7-1", "basket-7-2"]
    # --yearly: the portfolio holding NEW runs only 2022, where NEW has a whole year.
    assert data["folds"] == [{"from": "2022-01-01T00:00:00Z", "to": "2023-01-01T00:00:00Z"}]
    for block, basket in zip(data["portfolios"][1:], drawn, strict=True):
        assert len(block["folds"]) == len(basket.folds) == len(block["configs"][0]["folds"])
        assert set(block["spa"]) == {"vs_hodl", "vs_same_cash"}
    # The command line's seed wins over the grid's.
    again = CliRunner().invoke(app, [*args, "--baskets", "1", "--basket-seed", "3"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["baskets"]["drawn"][0]["name"] == "basket-3-1"
