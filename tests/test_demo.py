"""`ballast demo`: the real engine over bundled candles, printing what Telegram would show."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from core.backtest.demo import DEMO_CANDLES, demo_candles


@pytest.fixture(autouse=True)
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("BALLAST_"):
            monkeypatch.delenv(name)


def test_the_bundled_candles_ship_inside_the_package() -> None:
    assert demo_candles() == DEMO_CANDLES
    assert DEMO_CANDLES.parent.parent.name == "core"  # packaged with `core`, found from a wheel
    files = sorted(p.name for p in DEMO_CANDLES.glob("*.csv.gz"))
    assert files == sorted(f"binance_{a}_USDT_1h.csv.gz"
                           for a in ("BTC", "ETH", "SOL", "AVAX", "BNB", "XRP", "ADA", "LINK"))
    assert sum(p.stat().st_size for p in DEMO_CANDLES.glob("*.csv.gz")) < 4_000_000


def test_the_demo_prints_alerts_plans_fills_and_the_summary(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The environment must not change the demo: it ignores settings and needs no keys.
    monkeypatch.setenv("BALLAST_MODE", "live")
    monkeypatch.setenv("BALLAST_MIN_CASH", "0.5")
    result = CliRunner().invoke(app, ["demo", "--days", "1", "--no-full"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    # the seed portfolio starts with ~4% cash: the reserve alert (the default 25% min_cash, not
    # BALLAST_MIN_CASH), then a plan that raises cash
    assert "Cash 4.3% is below 20% (the 25%" in out
    assert re.search(r"📝 Plan \w+\nAuto-approved: executing now\.", out)
    assert re.search(r"✅ Plan \w+ executed", out)
    assert re.search(r"SELL [\d.]+ (ETH|BTC|SOL|AVAX)", out)
    assert "fee" in out
    assert "Mon 2024-12-30" not in out and "Tue 2024-12-31 00:00 UTC · Telegram" in out
    for label in ("The engine's run, 2024-12-31 → 2025-01-01", "Buy & hold", "Calendar"):
        assert label in out
    assert "<b>" not in out  # Telegram's HTML is shown as the owner reads it
    # After the run, why cash is where it is (core.policy.reserve.cash_reason).
    assert re.search(r"\nCash [\d.]+%: (within the reserve|below|just under|above|nothing|no "
                     r"holding)", out)


def test_quiet_prints_only_the_summary() -> None:
    result = CliRunner().invoke(app, ["demo", "--days", "1", "--no-full", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "Telegram" not in result.stdout
    assert "The engine's run" in result.stdout


def test_after_the_first_plan_each_plan_and_execution_reads_as_one_line() -> None:
    wide = {"COLUMNS": "250"}
    # The defaults of docs/decisions.md §6 trade rarely: the last 60 days of 2024 hold three
    # plans (two days held none after the first), and the demo runs on the defaults only.
    days = "60"
    result = CliRunner().invoke(app, ["demo", "--days", days, "--no-full"], env=wide)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.count("📝 Plan") == 1 and out.count("✅ Plan") == 1  # the first, in full
    plans = re.findall(r"^\w{3} [\d-]+ [\d:]+ · plan \w+: (?:SELL|BUY) .+$", out, re.MULTILINE)
    executions = re.findall(r"^\w{3} [\d-]+ [\d:]+ · plan \w+ executed: \d+ of \d+ orders "
                            r"filled, fees [\d.,]+ USDT$", out, re.MULTILINE)
    assert plans and len(executions) == len(plans)
    every = CliRunner().invoke(app, ["demo", "--days", days, "--no-full", "--every-message"],
                               env=wide)
    assert every.stdout.count("📝 Plan") == len(plans) + 1
    # Each later plan and its fills take a few lines in full, one line each here.
    saved = len(every.stdout.splitlines()) - len(out.splitlines())
    assert saved >= 3 * len(plans), (saved, len(plans))


def test_plot_writes_the_chart_of_the_last_run_shown(tmp_path: Path) -> None:
    chart = tmp_path / "demo.png"
    result = CliRunner().invoke(
        app, ["demo", "--days", "1", "--no-full", "--quiet", "--plot", str(chart)])
    assert result.exit_code == 0, result.output
    assert f"Chart written to {chart}" in result.stdout.replace("\n", "")
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_30_day_demo_rings_at_most_once_a_day_without_a_decision() -> None:
    # Before alert levels: 98 messages, every one ringing, 82 of them signal flips.
    result = CliRunner().invoke(app, ["demo", "--days", "30", "--no-full", "--quiet"],
                                env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    found = re.search(r"On the phone: (\d+) messages rang \((\d+) of (\d+) plans; (\d+) asking "
                      r"for no decision, ([\d.]+) a day\), (\d+) arrived silently, (\d+) went "
                      r"into the daily summary", result.stdout)
    assert found, result.stdout
    rang, loud_plans, plans, no_decision, per_day, _silent, summary = found.groups()
    assert int(plans) > 0 and loud_plans == plans, "every plan rings"
    assert float(per_day) <= 1.0 and int(no_decision) <= 30
    assert int(summary) > int(rang), "the signal flips wait for the daily summary"
