"""The sentence `ballast backtest` and `ballast demo` end with: beat holding, and at what cost."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.cli import app
from core.backtest.verdict import verdict

DEMO = Path(__file__).resolve().parent.parent / "core" / "data" / "demo"


def summary(sharpe: float, drawdown: float, fees: float = 0.0, total_return: float = 0.0,
            final_value: float = 1000.0) -> dict[str, Any]:
    return {
        "ballast": {"sharpe": sharpe, "max_drawdown": drawdown, "fees_paid": fees,
                    "total_return": total_return, "final_value": final_value},
        "hodl": {"sharpe": 0.92, "max_drawdown": -0.833},
    }


def test_better_sharpe_and_shallower_drawdown_beat_holding() -> None:
    # Started at 2,000: final 3,000 after +50%; 100 of fees is 5% of the start.
    text = verdict(summary(1.1, -0.4, fees=100.0, total_return=0.5, final_value=3000.0), "USDT")
    assert text == ("Ballast beat holding, risk-adjusted (Sharpe 1.10 vs 0.92, max drawdown "
                    "-40.0% vs -83.3%), and paid 100.00 USDT in fees (5.0% of the starting "
                    "value).")


def test_worse_on_both_did_not_beat_holding() -> None:
    # The figures: −89.2% over 2021–2024 from 3,035, fees 12,933.
    text = verdict(summary(-0.94, -0.968, fees=12_933.0, total_return=-0.892,
                           final_value=3035 * 0.108), "USDT")
    assert text.startswith("Ballast did not beat holding (Sharpe -0.94 vs 0.92, max drawdown "
                           "-96.8% vs -83.3%)")
    assert text.endswith("paid 12,933.00 USDT in fees (426.1% of the starting value).")


def test_one_of_two_is_partly() -> None:
    assert verdict(summary(1.0, -0.9), "USDT") == (
        "Ballast only partly beat holding (better Sharpe 1.00 vs 0.92, but worse max drawdown "
        "-90.0% vs -83.3%), and paid no fees.")
    assert verdict(summary(0.5, -0.5), "USDT").startswith(
        "Ballast only partly beat holding (better max drawdown -50.0% vs -83.3%, but worse "
        "Sharpe 0.50 vs 0.92)")


def test_equal_to_holding_counts_as_beating_it() -> None:
    assert verdict(summary(0.92, -0.833), "EUR").startswith("Ballast beat holding")


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("BALLAST_"):
            monkeypatch.delenv(name)


VERDICT = re.compile(r"Ballast (beat|only partly beat|did not beat) holding.*"
                     r"(no fees|in fees \([\d.]+% of the starting value\))\.$")


def last_words(output: str) -> str:
    """The output's end with the terminal's line wrapping undone."""
    return " ".join(output.split())


@pytest.mark.usefixtures("clean_env")
def test_backtest_and_demo_end_with_the_verdict() -> None:
    runner = CliRunner()
    backtest = runner.invoke(app, ["backtest", "--candles", str(DEMO), "--from", "2024-03-01",
                                   "--to", "2024-03-02"])
    assert backtest.exit_code == 0, backtest.output
    assert VERDICT.search(last_words(backtest.stdout))
    demo = runner.invoke(app, ["demo", "--days", "1", "--no-full", "--quiet"])
    assert demo.exit_code == 0, demo.output
    assert VERDICT.search(last_words(demo.stdout))


def test_a_short_period_compares_returns_not_annualised_figures() -> None:
    from bot.cli.backtest import summary_table
    from core.backtest.verdict import verdict

    def row(total: float, sharpe: float, drawdown: float) -> dict[str, float | int]:
        return {"final_value": 10_000 * (1 + total), "total_return": total, "cagr": -0.999,
                "sharpe": sharpe, "sortino": sharpe, "max_drawdown": drawdown, "trades": 1,
                "fees_paid": 0.0, "turnover": 0.1, "avg_cash": 0.2}

    summary = {"ballast": row(-0.01, -22.01, -0.02), "hodl": row(-0.03, -30.0, -0.04),
               "calendar": row(-0.02, -25.0, -0.03)}
    sentence = verdict(summary, "USDT", days=3)
    assert "Sharpe" not in sentence and "return −1.0% vs −3.0% over 3 days" in sentence.replace(
        "-", "−")
    assert "Sharpe -22.01" in verdict(summary, "USDT", days=400)

    from rich.console import Console

    console = Console(record=True, width=120)
    console.print(summary_table(summary, "short", days=3))
    text = console.export_text().replace("│", " ")
    assert "-99.9%" not in text and "-22.01" not in text
    assert [line.split()[:4] for line in text.splitlines() if line.split()[:1] in (
        ["CAGR"], ["Sharpe"], ["Sortino"])] == [[name, "n/a", "n/a", "n/a"] for name in (
            "CAGR", "Sharpe", "Sortino")]
    console = Console(record=True, width=120)
    console.print(summary_table(summary, "long", days=400))
    assert "-99.9%" in console.export_text()
