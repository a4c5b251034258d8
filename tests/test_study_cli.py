"""`ballast study` on the bundled candles: the JSON of docs/formats.md, the same figures as `ballast
backtest`, joblib and a real Dask cluster agreeing, the grid's errors, the table and chart."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from distributed import LocalCluster
from typer.testing import CliRunner, Result

from bot.cli import app
from bot.cli.study import build_plan, read_candles
from core.market.candles import read_candle_dir
from core.study.parallel import memory_mapped, run_study
from core.study.report import study_report

DEMO = Path(__file__).resolve().parent.parent / "core" / "data" / "demo"
PERIOD = ("--from", "2024-03-01", "--to", "2024-03-08")
GRID = 'sell_rule = ["any", "majority"]\n'
TWO_ASSETS = {"quote": "USDT", "watchlist": [],
              "balances": {"BTC": {"free": "0.05"}, "ETH": {"free": "1"}, "USDT": {"free": 900}}}


@pytest.fixture(autouse=True)
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No BALLAST_ variables or .env from the developer's machine."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("BALLAST_"):
            monkeypatch.delenv(name)


def study(*args: str, candles: Path = DEMO) -> Result:
    return CliRunner().invoke(app, ["study", "--candles", str(candles), *PERIOD, *args])


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_json_has_the_spec_keys_and_the_backtests_figures(tmp_path: Path) -> None:
    grid = write(tmp_path, "grid.toml", GRID)
    result = study("--grid", str(grid), "--folds", "2", "--jobs", "2", "--offsets", "0,1",
                   "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"configs", "walk_forward", "pbo", "deflated_sharpe"} <= set(data)
    assert [c["name"] for c in data["configs"]] == ["sell_rule=any", "sell_rule=majority"]
    assert data["configs"][1]["settings"] == {"sell_rule": "majority"}
    fold = data["configs"][0]["folds"][0]
    assert {"from", "to", "ballast", "hodl", "calendar"} <= set(fold)
    assert fold["from"] == "2024-03-01T00:00:00Z"
    assert data["walk_forward"]["chosen"][0] in {"sell_rule=any", "sell_rule=majority"}
    assert len(data["walk_forward"]["chosen"]) == 1
    assert {"ballast", "hodl", "calendar"} <= set(data["walk_forward"]["oos"])
    assert 0 <= data["pbo"] <= 1 and 0 <= data["deflated_sharpe"] <= 1
    assert set(data["spa"]) == {"vs_hodl", "vs_same_cash"}
    assert all(0 <= p <= 1 for p in data["spa"].values())
    assert data["statistics"]["spa"]["seed"] == 2005
    text = " ".join(study("--grid", str(grid), "--folds", "2", "--jobs", "1", "--offsets", "")
                    .output.split())
    assert "probability that the best config's true Sharpe" in text and "real edge" not in text
    robust = data["start_robustness"]
    assert [s["weeks_later"] for s in robust["starts"]] == [0, 1]
    assert robust["starts"][1]["from"] == "2024-03-08T00:00:00Z"
    # The first fold of `sell_rule=any` is exactly `ballast backtest` over the same days.
    backtest = CliRunner().invoke(app, [
        "backtest", "--candles", str(DEMO), "--from", fold["from"][:10],
        "--to", (pd.Timestamp(fold["to"]) - pd.Timedelta(days=1)).strftime("%Y-%m-%d"),
        "--json"])
    assert backtest.exit_code == 0, backtest.output
    expected = json.loads(backtest.stdout)
    assert fold["to"] == expected["period"]["to"]
    for key in ("ballast", "hodl", "calendar"):
        assert fold[key] == expected[key]


def test_one_configuration_has_no_pbo_or_deflated_sharpe_but_an_spa() -> None:
    result = study("--folds", "2", "--offsets", "", "--jobs", "1", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["pbo"] is None and data["deflated_sharpe"] is None
    assert set(data["spa"]) == {"vs_hodl", "vs_same_cash"}
    text = study("--folds", "2", "--offsets", "", "--jobs", "1")
    assert text.exit_code == 0, text.output
    words = " ".join(text.output.split())
    assert "PBO n/a, deflated Sharpe n/a" in words and "real edge" not in words
    assert "vs buy-and-hold" in words and "vs the same-cash passive mix" in words


def test_several_portfolios_run_in_one_study(tmp_path: Path) -> None:
    mix = write(tmp_path, "two_assets.json", json.dumps(TWO_ASSETS))
    seedlike = write(tmp_path, "cash_heavy.json", json.dumps(
        {**TWO_ASSETS, "balances": {"BTC": {"free": "0.01"}, "USDT": {"free": 5000}}}))
    result = study("--input", str(mix), "--input", str(seedlike), "--folds", "2",
                   "--offsets", "", "--jobs", "1", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["portfolio"] == "two_assets"
    assert [p["portfolio"] for p in data["portfolios"]] == ["two_assets", "cash_heavy"]
    starts = [p["configs"][0]["folds"][0]["hodl"]["final_value"] for p in data["portfolios"]]
    assert starts[0] != starts[1]
    assert data["start_robustness"] == {}


def test_a_bad_grid_value_names_the_key_and_the_config(tmp_path: Path) -> None:
    grid = write(tmp_path, "grid.toml", 'min_cash = [0.2, 0.9]\n')
    result = study("--grid", str(grid), "--json")
    assert result.exit_code == 2
    assert "min_cash=0.9" in result.output and "min_cash" in result.output
    unknown = write(tmp_path, "unknown.toml", 'sell_rules = ["any"]\n')
    result = study("--grid", str(unknown), "--json")
    assert result.exit_code == 2
    assert "'sell_rules' is not a setting" in result.output


def test_a_holding_listed_after_the_start_is_named_before_any_backtest() -> None:
    result = CliRunner().invoke(app, ["study", "--candles", str(DEMO), "--from", "2023-01-01",
                                      "--to", "2023-02-01", "--json"])
    assert result.exit_code == 2
    assert ("portfolio seed holds AVAX, whose 1h candles start 2023-01-01 00:00: start the "
            "study on 2023-01-04 or later (its signals warm up on 50 candles)") in \
        " ".join(result.output.split())


def test_the_start_it_names_is_the_earliest_that_works() -> None:
    """50 candles from 2023-01-01 00:00 reach 2023-01-03 02:00: the 3rd is refused, the 4th
    passes the check (and every holding's signals have their history by then)."""
    with pytest.raises(ValueError, match="start the study on 2023-01-04 or later"):
        read_candles(DEMO, build_plan(DEMO, "2023-01-03", "2023-02-01", None, [], None, 2, (0,)))
    read_candles(DEMO, build_plan(DEMO, "2023-01-04", "2023-02-01", None, [], None, 2, (0,)))


def daily_and_hourly(tmp_path: Path) -> Path:
    """BTC and ETH hourly candles and the same candles summed up per UTC day."""
    folder = tmp_path / "candles"
    folder.mkdir()
    for asset in ("BTC", "ETH"):
        hourly = read_candle_dir(DEMO, "1h")[asset]
        hourly.to_csv(folder / f"binance_{asset}_USDT_1h.csv.gz")
        days = hourly.index // 86_400_000 * 86_400_000
        daily = hourly.groupby(days).agg(
            {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
        daily.index.name = "timestamp"
        daily.to_csv(folder / f"binance_{asset}_USDT_1d.csv.gz")
    return folder


def test_timeframe_in_the_grid_reads_that_timeframes_candles(tmp_path: Path) -> None:
    candles = daily_and_hourly(tmp_path)
    grid = write(tmp_path, "grid.toml", 'timeframe = ["1h", "1d"]\n')
    mix = write(tmp_path, "mix.json", json.dumps(TWO_ASSETS))
    result = CliRunner().invoke(app, [
        "study", "--candles", str(candles), "--from", "2024-01-01", "--to", "2024-06-30",
        "--grid", str(grid), "--input", str(mix), "--folds", "2", "--offsets", "",
        "--jobs", "1", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    hourly, daily = (c["folds"][0]["candles"] for c in data["configs"])
    assert hourly == 24 * daily
    assert data["statistics"]["returns"] == "per 1d candle, all folds chained"


def test_the_table_and_the_chart(tmp_path: Path) -> None:
    chart = tmp_path / "study.png"
    grid = write(tmp_path, "grid.toml", GRID)
    # A wide terminal: at 80 columns a long config name may fold onto two lines (by design);
    # this test reads the names whole.
    result = CliRunner().invoke(
        app, ["study", "--candles", str(DEMO), *PERIOD, "--grid", str(grid), "--folds", "2",
              "--offsets", "0,1", "--jobs", "1", "--plot", str(chart)], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "sell_rule=majority" in result.stdout
    assert "buy & hold" in result.stdout
    assert "Walk-forward" in result.stdout and "PBO" in result.stdout
    assert chart.read_bytes()[:4] == b"\x89PNG"


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(  # type: ignore[no-untyped-call]
        host="127.0.0.1", n_workers=2, processes=True, threads_per_worker=1,
        dashboard_address=None,
    ) as running:
        yield running


def plan_and_candles(tmp_path: Path) -> tuple[Any, Any]:
    grid = write(tmp_path, "grid.toml", GRID)
    plan = build_plan(DEMO, *PERIOD[1::2], None, [], grid, 2, (0, 1))
    return plan, read_candles(DEMO, plan)


def test_a_dask_cluster_gives_the_joblib_figures(tmp_path: Path, cluster: LocalCluster) -> None:
    plan, candles = plan_and_candles(tmp_path)
    local = study_report(plan, run_study(plan, candles, jobs=1))
    done: list[Any] = []
    remote = study_report(plan, run_study(plan, candles, scheduler=cluster.scheduler_address,
                                          done=done.append))
    assert remote == local
    assert len(done) == 2 * 2 + 2


def test_loky_workers_get_the_candles_mapped_not_copied(tmp_path: Path) -> None:
    plan, candles = plan_and_candles(tmp_path)
    mapped = memory_mapped(candles, tmp_path)
    arrays = mapped.arrays[("1h", "USDT")]
    assert all(isinstance(a, np.memmap) and not a.flags.writeable for a in arrays.values())
    frame = mapped.frames("1h", "USDT", {"BTC"})["BTC"]
    assert np.shares_memory(frame["close"].to_numpy(), arrays["BTC"])
    two = study_report(plan, run_study(plan, candles, jobs=2))
    one = study_report(plan, run_study(plan, candles, jobs=1))
    assert two == one


def test_a_daily_strategy_in_the_grid_reads_days_as_the_backtest_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Days built from the demo's hours, in a study's workers as in `ballast backtest`."""
    grid = write(tmp_path, "grid.toml", 'strategies = ["rsi,macd,ema,bollinger", '
                 '"rsi,macd,ema,bollinger,trend_ma,trend_score"]\n')
    months = ("--from", "2024-03-01", "--to", "2024-05-31")
    result = CliRunner().invoke(app, [
        "study", "--candles", str(DEMO), *months, "--grid", str(grid), "--folds", "1",
        "--offsets", "", "--jobs", "1", "--json"])
    assert result.exit_code == 0, result.output
    hourly, daily = (c["folds"][0] for c in json.loads(result.stdout)["configs"])
    assert hourly["ballast"] != daily["ballast"]  # the daily votes changed what was done
    monkeypatch.setenv("BALLAST_STRATEGIES", "rsi,macd,ema,bollinger,trend_ma,trend_score")
    backtest = CliRunner().invoke(app, [
        "backtest", "--candles", str(DEMO), *months, "--json"])
    assert backtest.exit_code == 0, backtest.output
    assert daily["ballast"] == json.loads(backtest.stdout)["ballast"]
