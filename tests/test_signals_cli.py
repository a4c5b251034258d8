"""`ballast signals --candles DIR --timeframe TF --at T [--json]` (docs/formats.md)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from core.config.rules import SignalSettings
from core.market.candles import read_candle_file
from core.signals import compute_signal

FIXTURES = Path(__file__).parent / "fixtures" / "candles"
AT_MS = 1_709_251_200_000  # 2024-03-01T00:00:00Z


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    # Settings come from the environment and .env: keep the developer's own out of the test.
    for name in list(os.environ):
        if name.startswith("BALLAST_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return CliRunner()


def run(runner: CliRunner, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["signals", *args])
    return result.exit_code, result.stdout, result.stderr


def squash(text: str) -> str:
    """Text without whitespace: error messages are wrapped to the terminal's width."""
    return "".join(text.split())


def test_json_matches_the_spec_shape_and_the_library(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The seed's rules: BTC's one SELL vote (RSI 80.7 > 70) makes it SELL.
    monkeypatch.setenv("BALLAST_PRESET", "seed-literal")
    code, out, _ = run(runner, "--candles", str(FIXTURES), "--timeframe", "1d",
                       "--at", "2024-03-01T00:00:00Z", "--json")
    assert code == 0
    data = json.loads(out)
    assert sorted(data) == ["AVAX", "BTC", "ETH"]
    btc = data["BTC"]
    assert set(btc) == {"signal", "score", "votes", "indicators"}
    assert set(btc["indicators"]) == {"rsi_14", "macd", "macd_signal", "ema_20", "ema_50",
                                      "bb_upper", "bb_lower"}
    assert all(set(v) == {"strategy", "vote", "reason"} for v in btc["votes"])
    expected = compute_signal("BTC", read_candle_file(FIXTURES / "binance_BTC_USDT_1d.csv.gz"),
                              SignalSettings(preset="seed-literal", timeframe="1d"), AT_MS)
    assert btc["signal"] == expected.signal == "SELL"
    assert btc["score"] == expected.score
    assert btc["votes"] == [{"strategy": v.strategy, "vote": v.vote, "reason": v.reason}
                            for v in expected.votes]
    assert btc["indicators"] == pytest.approx(expected.indicators, rel=1e-12)
    assert btc["votes"][0]["reason"].startswith("RSI(14) 80.7 > 70")


def test_short_history_is_hold_with_its_reason_in_the_output(runner: CliRunner) -> None:
    code, out, _ = run(runner, "--candles", str(FIXTURES), "--timeframe", "1d",
                       "--at", "2024-03-01T00:00:00Z", "--json")
    assert code == 0
    avax = json.loads(out)["AVAX"]  # 40 daily candles: too few for EMA(50)
    ema = next(v for v in avax["votes"] if v["strategy"] == "ema")
    assert ema == {"strategy": "ema", "vote": 0,
                   "reason": "EMA(20/50) needs 50 contiguous closed candles, has 40 "
                             "(history starts 2024-01-21 00:00 UTC)"}
    assert "ema_50" not in avax["indicators"]


def test_at_is_the_close_so_the_candle_opening_then_is_not_used(runner: CliRunner) -> None:
    """At 2024-03-01T00:00Z the 03-01 candle has just opened: the 02-29 candle is the last."""
    base = ["--candles", str(FIXTURES), "--timeframe", "1d", "--json"]
    _, at_midnight, _ = run(runner, *base, "--at", "2024-03-01T00:00:00Z")
    _, later_that_day, _ = run(runner, *base, "--at", "2024-03-01T23:59:59+00:00")
    _, next_day, _ = run(runner, *base, "--at", "2024-03-02")
    assert at_midnight == later_that_day
    assert json.loads(next_day)["BTC"] != json.loads(at_midnight)["BTC"]


def test_readable_table_without_json(runner: CliRunner) -> None:
    code, out, _ = run(runner, "--candles", str(FIXTURES), "--timeframe", "1d",
                       "--at", "2024-03-01T00:00:00Z")
    assert code == 0
    assert "Signals as of 2024-03-01 00:00 UTC" in out
    assert "2024-02-29 00:00 UTC" in out  # the candle the signals stand on
    for word in ("BTC", "ETH", "AVAX", "SELL", "RSI(14) 80.7 > 70"):
        assert word in out
    assert not out.lstrip().startswith("{")


def test_hourly_candles_with_a_gap(runner: CliRunner) -> None:
    code, out, _ = run(runner, "--candles", str(FIXTURES), "--timeframe", "1h",
                       "--at", "2020-12-21T19:00:00Z", "--json")
    assert code == 0
    btc = json.loads(out)["BTC"]
    assert btc["signal"] == "HOLD" and btc["indicators"] == {}
    hourly = [v for v in btc["votes"] if not v["strategy"].startswith("trend_")]
    assert len(hourly) == 4
    assert all("gap: 4 candles missing" in v["reason"] for v in hourly)
    # The daily trend family (a default, docs/decisions.md §6) reads the fixtures' 1d file,
    # which starts years later, and says so.
    daily = [v for v in btc["votes"] if v["strategy"].startswith("trend_")]
    assert [(v["vote"], v["reason"]) for v in daily] == [
        (0, "no closed candle at or before 2020-12-21 19:00 UTC")] * 2


def test_past_candles_without_at_are_read_at_their_end_said_once(runner: CliRunner) -> None:
    """A directory of history (2022-12 → 2024-03) read now: as of its last close, not as of
    a present it does not reach (every vote was once 'latest closed candle … is missing')."""
    code, out, err = run(runner, "--candles", str(FIXTURES), "--timeframe", "1d", "--json")
    assert code == 0
    _, at_the_end, _ = run(runner, "--candles", str(FIXTURES), "--timeframe", "1d", "--json",
                           "--at", "2024-04-01T00:00:00Z")  # BTC's last candle: 2024-03-31
    assert out == at_the_end
    data = json.loads(out)
    assert "is missing" not in json.dumps([data["BTC"], data["ETH"]])  # AVAX ends a month early
    assert squash(err) == squash("The candles end 2024-04-01 00:00 UTC: signals as of then "
                                 "(--at chooses another time).")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--candles", "/no/such/dir", "--timeframe", "1d"], "does not exist"),
        (["--candles", str(FIXTURES), "--timeframe", "4h"], "no candle files for timeframe 4h"),
        (["--candles", str(FIXTURES), "--timeframe", "7x"], "unknown timeframe '7x'"),
        (["--candles", str(FIXTURES), "--timeframe", "1d", "--at", "last tuesday"],
         "--at 'last tuesday': expected a day like 2024-12-31"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(
    runner: CliRunner, args: list[str], message: str
) -> None:
    code, out, err = run(runner, *args)
    assert code == 2
    assert out == ""
    assert squash(message) in squash(err)


def test_an_empty_directory_is_refused(runner: CliRunner, tmp_path: Path) -> None:
    empty = tmp_path / "candles"
    empty.mkdir()
    code, _, err = run(runner, "--candles", str(empty), "--timeframe", "1d")
    assert code == 2 and squash("no candle files for timeframe 1d") in squash(err)


def test_a_broken_file_is_named(runner: CliRunner, tmp_path: Path) -> None:
    folder = tmp_path / "candles"
    folder.mkdir()
    shutil.copy(FIXTURES / "binance_BTC_USDT_1d.csv.gz", folder)
    (folder / "binance_ETH_USDT_1d.csv").write_text("date,price\n2024-01-01,1\n")
    code, _, err = run(runner, "--candles", str(folder), "--timeframe", "1d")
    assert code == 2
    assert squash("binance_ETH_USDT_1d.csv: header is 'date,price'") in squash(err)


def test_settings_choose_the_strategies(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BALLAST_STRATEGIES", "rsi,bollinger")
    monkeypatch.setenv("BALLAST_RSI_OVERBOUGHT", "85")
    code, out, _ = run(runner, "--candles", str(FIXTURES), "--timeframe", "1d",
                       "--at", "2024-03-01T00:00:00Z", "--json")
    assert code == 0
    btc = json.loads(out)["BTC"]
    assert [v["strategy"] for v in btc["votes"]] == ["rsi", "bollinger"]
    assert btc["votes"][0] == {"strategy": "rsi", "vote": 0,
                               "reason": "RSI(14) 80.7 within 30–85"}
    monkeypatch.setenv("BALLAST_STRATEGIES", "rsi,moon")
    code, _, err = run(runner, "--candles", str(FIXTURES), "--timeframe", "1d")
    assert code == 2 and squash("'moon': unknown strategy") in squash(err)


def test_a_sell_at_a_score_of_zero_says_which_rule_made_it(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BALLAST_PRESET", "seed-literal")  # the seed's rule: one SELL vote sells
    demo = Path(__file__).resolve().parent.parent / "core" / "data" / "demo"
    code, out, err = run(runner, "--candles", str(demo), "--at", "2024-03-05T00:00:00Z")
    assert code == 0, err
    btc = out[out.index("│ BTC"):out.index("│ ETH")]
    assert "SELL" in btc and "+0.00" in btc
    assert "SELL:1of4strategiesvoteSELL;sell_rule=any:oneSELLvotesells" in squash(
        btc.replace("│", ""))


def test_a_daily_strategy_beside_hourly_ones_shows_its_votes_and_indicators(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Hourly RSI with the daily trend family: the same JSON from the 1d files as from days
    built out of the 1h files, with the daily reasons in words and their indicators."""
    both = FIXTURES.parent / "candles_2023q1"
    hours = tmp_path / "hours"
    hours.mkdir()
    for asset in ("BTC", "ETH"):
        shutil.copy(both / f"binance_{asset}_USDT_1h.csv.gz", hours)
    monkeypatch.setenv("BALLAST_STRATEGIES", "rsi,trend_ma,trend_score")
    monkeypatch.setenv("BALLAST_TREND_MA_DAYS", "20")
    monkeypatch.setenv("BALLAST_TREND_LOOKBACKS", "5,10,20")
    outputs = []
    for folder in (both, hours):
        code, out, err = run(runner, "--candles", str(folder), "--at", "2023-04-22T05:30:00Z",
                             "--json")
        assert code == 0, err
        outputs.append(json.loads(out))
    assert outputs[0] == outputs[1]
    btc = outputs[0]["BTC"]
    assert set(btc) == {"signal", "score", "votes", "indicators"}
    votes = {v["strategy"]: v for v in btc["votes"]}
    assert votes["trend_ma"]["vote"] == -1
    assert votes["trend_ma"]["reason"] == "price 6.0% below its 20-day average 28989.5"
    assert votes["trend_score"]["reason"] == ("0 of 3 lookbacks up (5d −10.0%, 10d −9.7%, "
                                              "20d −4.2%)")
    assert {"rsi_14", "ma_20d", "ma_20d_gap", "return_20d", "trend_share"} <= set(
        btc["indicators"])
