"""`ballast backtest` on the bundled candles: the JSON (docs/formats.md), the table, the chart,
errors."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from bot.cli import app

DEMO = Path(__file__).resolve().parent.parent / "core" / "data" / "demo"
TRADING = {"final_value", "total_return", "cagr", "sharpe", "sortino", "max_drawdown",
           "trades", "fees_paid", "turnover", "avg_cash"}
HODL = {"final_value", "total_return", "cagr", "sharpe", "sortino", "max_drawdown"}
WHATIF = {
    "quote": "USDT",
    "balances": {"BTC": {"free": "0.05", "locked": 0}, "ETH": {"free": 1.5, "locked": 0.1},
                 "USDT": {"free": 600, "locked": 0}, "USDC": {"free": 28, "locked": 0}},
    "prices": {"BTC": 91182},
    "signals": {"ETH": {"signal": "SELL", "score": -0.25}},
    "positions": {"BTC": {"cost_basis": 85000, "last_buy": "2026-11-23T10:00:00Z",
                          "last_sell": None}},
    "watchlist": ["SOL", "LINK"],
    "settings": {"min_cash": 0.2},
    "now": "2026-11-24T00:00:00Z",
}


@pytest.fixture(autouse=True)
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No BALLAST_ variables or .env from the developer's machine."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("BALLAST_"):
            monkeypatch.delenv(name)


def portfolio_file(tmp_path: Path, **changes: Any) -> Path:
    path = tmp_path / "portfolio.json"
    path.write_text(json.dumps({**WHATIF, **changes}))
    return path


def run(*args: str) -> Result:
    return CliRunner().invoke(app, ["backtest", "--candles", str(DEMO), *args])


def test_json_has_the_spec_shape(tmp_path: Path) -> None:
    result = run("--timeframe", "1h", "--from", "2024-03-01", "--to", "2024-03-03",
                 "--input", str(portfolio_file(tmp_path)), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"ballast", "hodl", "calendar", "period"}
    assert set(data["ballast"]) == TRADING
    assert set(data["hodl"]) == HODL
    assert set(data["calendar"]) == TRADING
    assert data["period"] == {"from": "2024-03-01T00:00:00Z", "to": "2024-03-04T00:00:00Z",
                              "candles": 72}
    for figures in (data["ballast"], data["hodl"], data["calendar"]):
        assert all(isinstance(value, int | float) for value in figures.values())
    assert isinstance(data["ballast"]["trades"], int)
    assert data["ballast"]["max_drawdown"] <= 0


def test_the_files_policy_settings_are_applied(tmp_path: Path) -> None:
    path = portfolio_file(tmp_path, settings={"fee_rate": 0})
    result = run("--from", "2024-03-01", "--to", "2024-03-02", "--input", str(path), "--json")
    data = json.loads(result.stdout)
    assert data["ballast"]["trades"] > 0
    assert data["ballast"]["fees_paid"] == 0


def test_the_table_and_the_chart(tmp_path: Path) -> None:
    chart = tmp_path / "chart.png"
    result = run("--from", "2024-03-01", "--to", "2024-03-02", "--plot", str(chart))
    assert result.exit_code == 0, result.output
    for label in ("Ballast", "Buy & hold", "Calendar", "Max drawdown", "Average cash"):
        assert label in result.stdout
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"balances": {"BTC": {"free": "lots"}}}, "balances.BTC.free"),
        ({"settings": {"min_cashh": 0.2}}, "settings.min_cashh"),
        ({"settings": {"min_cash": 0.5}}, "portfolio.json: settings.min_cash = 0.5: must be ≤"),
        ({"positions": {"BTC": {"cost_basis": -1}}}, "positions.BTC.cost_basis"),
        ({"balances": {"DOGE": {"free": 10}}}, "DOGE"),
        ({"pricez": {}}, "pricez"),
    ],
)
def test_invalid_input_exits_non_zero_naming_the_field(
    tmp_path: Path, changes: dict[str, Any], named: str
) -> None:
    result = run("--from", "2024-03-01", "--to", "2024-03-02",
                 "--input", str(portfolio_file(tmp_path, **changes)), "--json")
    assert result.exit_code != 0
    assert named in " ".join(result.stderr.split())
    assert result.stdout == ""


def test_a_period_without_candles_is_refused() -> None:
    result = run("--from", "2026-01-01", "--to", "2026-02-01", "--json")
    assert result.exit_code != 0
    assert "no candles between 2026-01-01" in result.stderr


def test_a_bad_date_is_named() -> None:
    result = run("--from", "March 1st", "--json")
    assert result.exit_code != 0
    assert "--from 'March 1st'" in result.stderr
