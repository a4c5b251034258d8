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
            final_value: float = 1000.0, hodl_final: float = 1000.0) -> dict[str, Any]:
    return {
        "ballast": {"sharpe": sharpe, "max_drawdown": drawdown, "fees_paid": fees,
                    "total_return": total_return, "final_value": final_value},
        "hodl": {"sharpe": 0.92, "max_drawdown": -0.833, "final_value": hodl_final},
    }


def test_less_money_is_said_first_even_when_the_ride_was_steadier() -> None:
    # The demo backtest's figures: steadier and shallower, but 526 USDT short of holding.
    text = verdict(summary(1.77, -0.306, fees=34.58, total_return=2.875, final_value=15_296.1,
                           hodl_final=15_822.22), "USDT")
    assert text.startswith("You'd have ended with 526 USDT less than by holding (15,296 "
                           "against 15,822), with a drawdown 53 points shallower")
    assert "beat" not in text
    assert "Risk-adjusted, Ballast did better than holding (Sharpe 1.77 against 0.92)." in text
    assert text.endswith("Fees paid: 34.58 USDT (0.9% of the starting value).")


def test_more_money_and_a_deeper_fall() -> None:
    # Started at 2,000: final 3,000 after +50%; 100 of fees is 5% of the start.
    text = verdict(summary(0.5, -0.9, fees=100.0, total_return=0.5, final_value=3000.0,
                           hodl_final=2400.0), "USDT")
    assert text == ("You'd have ended with 600 USDT more than by holding (3,000 against 2,400), "
                    "with a drawdown 7 points deeper (−90.0% against −83.3%). Risk-adjusted, "
                    "Ballast did worse than holding (Sharpe 0.50 against 0.92). Fees paid: "
                    "100.00 USDT (5.0% of the starting value).")


def test_the_same_money_and_the_same_fall() -> None:
    assert verdict(summary(0.92, -0.833), "EUR") == (
        "You'd have ended with about what holding left (1,000 EUR), with a drawdown as deep "
        "as holding's (−83.3% against −83.3%). Risk-adjusted, Ballast did as well as holding "
        "(Sharpe 0.92 against 0.92). No fees paid.")


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("BALLAST_"):
            monkeypatch.delenv(name)


VERDICT = re.compile(r"You'd have ended with .* than by holding .*"
                     r"(No fees paid|Fees paid: [\d,.]+ USDT \([\d.]+% of the starting value\))\.$")


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
    assert "Sharpe" not in sentence and "Risk-adjusted figures are n/a over 3 days." in sentence
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


@pytest.mark.usefixtures("clean_env")
def test_the_demo_backtest_names_the_money_it_left_behind() -> None:
    result = CliRunner().invoke(app, ["backtest", "--candles", str(DEMO)])
    assert result.exit_code == 0, result.output
    ending = last_words(result.stdout)
    # The figures of today's defaults (docs/decisions.md §6) on the demo's candles.
    assert "You'd have ended with 2,993 USDT less than by holding (12,829 against 15,822), " \
        "with a drawdown 15 points shallower (−30.1% against −44.6%)." in ending
    assert "beat holding" not in ending


def test_cagr_under_a_year_reads_n_a() -> None:
    from rich.console import Console

    from bot.cli.backtest import summary_table

    row = {"final_value": 9_000.0, "total_return": -0.1, "cagr": -0.663, "sharpe": -1.0,
           "sortino": -1.0, "max_drawdown": -0.2, "trades": 1, "fees_paid": 1.0,
           "turnover": 0.1, "avg_cash": 0.2}
    for days, shown in ((30, False), (400, True)):
        console = Console(record=True, width=120)
        console.print(summary_table({"ballast": row, "hodl": row, "calendar": row}, "t",
                                    days=days))
        text = console.export_text()
        assert ("-66.3%" in text) is shown
        assert ("-1.00" in text) is True  # Sharpe over 30 days still stands


def test_a_small_fee_share_is_not_rounded_to_zero() -> None:
    text = verdict(summary(1.0, -0.2, fees=7.69, total_return=0.0, final_value=15_000.0), "USDT")
    assert text.endswith("Fees paid: 7.69 USDT (0.05% of the starting value).")
