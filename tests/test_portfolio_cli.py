"""`ballast portfolio`: paper account priced by the Binance stand-in, or by a candle directory."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from bot.cli import app
from core.config.settings import load_settings
from core.domain.models import Side
from core.exchange.base import OrderRequest
from core.exchange.factory import build_exchange
from core.exchange.paper_markets import MARKETS_DIR
from core.storage.store import Store
from tests.standins.binance import BinanceStandIn

DEMO = MARKETS_DIR.parent / "demo"
PRICES = {
    "BTC/USDT": "91182", "ETH/USDT": "2988.49", "SOL/USDT": "137.87", "AVAX/USDT": "13.654",
    "BNB/USDT": "600", "XRP/USDT": "0.5", "ADA/USDT": "0.4", "LINK/USDT": "15",
}
HOLDING_KEYS = {"free", "locked", "price", "value", "allocation", "cost_basis", "pnl", "signal"}


@pytest.fixture
async def standin() -> AsyncIterator[BinanceStandIn]:
    async with BinanceStandIn(prices=PRICES) as server:
        yield server


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A clean environment: no BALLAST_ variables or .env from the developer's machine."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("BALLAST_"):
            monkeypatch.delenv(name)
    return {"BALLAST_DB": str(tmp_path / "ballast.db")}


async def invoke(args: list[str], env: dict[str, str]) -> Result:
    """Run the command in a worker thread: it runs its own event loop, ours serves the stand-in."""
    return await asyncio.to_thread(CliRunner().invoke, app, args, env=env)


def as_json(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


async def test_paper_seed_portfolio_priced_by_the_exchange(
    standin: BinanceStandIn, env: dict[str, str]
) -> None:
    env["BALLAST_EXCHANGE_API_URL"] = standin.url
    data = as_json(await invoke(["portfolio", "--json"], env))
    assert set(data) == {"quote", "total_value", "cash", "holdings", "dust", "unpriced"}
    assert data["quote"] == "USDT"
    assert data["cash"] == {"value": 677.0, "allocation": 0.0534}
    assert data["total_value"] == pytest.approx(12681.02, abs=0.01)
    assert list(data["holdings"]) == ["ETH", "SOL", "BTC", "AVAX"]  # largest first
    btc = data["holdings"]["BTC"]
    assert set(btc) == HOLDING_KEYS
    assert btc == {
        "free": 0.03482, "locked": 0.0, "price": 91182.0, "value": 3174.96,
        "allocation": 0.2504, "cost_basis": None, "pnl": None, "signal": "HOLD",
    }
    assert data["holdings"]["ETH"]["locked"] == 0.143
    assert data["dust"] == [] and data["unpriced"] == []
    # Every price in one batch; the paper account never touches the private endpoints.
    assert standin.count("GET /api/v3/ticker/24hr") == 1
    assert standin.count("GET /api/v3/account") == 0


async def test_cost_basis_and_pnl_after_a_paper_buy(
    standin: BinanceStandIn, env: dict[str, str], tmp_path: Path
) -> None:
    """A position Ballast built from nothing has a cost basis; the seed's holdings do not."""
    start = tmp_path / "start.json"
    start.write_text(json.dumps({"balances": {"USDT": {"free": 1000}, "BTC": {"free": 0.01}}}))
    env |= {"BALLAST_EXCHANGE_API_URL": standin.url, "BALLAST_PAPER_PORTFOLIO": str(start)}
    settings = load_settings(env=env)
    async with await Store.open(settings.db) as store:
        exchange = await build_exchange(settings, store)
        await exchange.create_order(OrderRequest("LINK/USDT", Side.BUY, Decimal("10"), "b1"))
        await exchange.close()
    standin.set_price("LINK/USDT", "16")
    data = as_json(await invoke(["portfolio", "--json"], env))
    link = data["holdings"]["LINK"]
    assert link["cost_basis"] == 15.015  # 150 USDT + 0.15 fee for 10 LINK
    assert link["pnl"] == 9.85  # 160 − 150.15
    assert data["holdings"]["BTC"]["cost_basis"] is None
    assert data["cash"]["value"] == 849.85


async def test_priced_from_a_candle_directory_at_a_time(env: dict[str, str]) -> None:
    data = as_json(await invoke(
        ["portfolio", "--json", "--candles", str(DEMO), "--at", "2024-03-01T00:00:00Z"], env
    ))
    # BTC/USDT 1h candle opening 2024-02-29 23:00 UTC closed at 61130.98 (real Binance data).
    expected = close_at(DEMO / "binance_BTC_USDT_1h.csv.gz", 1_709_247_600_000)
    assert data["holdings"]["BTC"]["price"] == expected == 61130.98
    assert data["unpriced"] == []


async def test_candle_directory_defaults_to_its_last_close(env: dict[str, str]) -> None:
    data = as_json(await invoke(["portfolio", "--json", "--candles", str(DEMO)], env))
    lines = gzip.decompress((DEMO / "binance_SOL_USDT_1h.csv.gz").read_bytes()).splitlines()
    assert data["holdings"]["SOL"]["price"] == float(lines[-1].split(b",")[4])


async def test_readable_table_shows_limits_and_cash(env: dict[str, str]) -> None:
    result = await invoke(["portfolio", "--candles", str(DEMO), "--at", "2024-03-01"], env)
    assert result.exit_code == 0, result.output
    assert "Portfolio in USDT" in result.stdout
    cells = result.stdout.split()
    assert "<25%" in cells  # the seed holds ~5% cash, below the default min_cash
    assert ">30%" in cells  # ETH (38.5%) above max_position
    assert "limits: position 5%–30%, cash 25%–60%" in result.stdout  # max_cash: decisions.md §6
    assert "unknown" in result.stdout  # no cost basis for the seed's holdings


@pytest.mark.parametrize(
    ("extra_env", "args", "message"),
    [
        ({"BALLAST_MIN_CASH": "0.9"}, [], "BALLAST_MIN_CASH = 0.9"),
        ({"BALLAST_MODE": "live"}, [], "BALLAST_EXCHANGE_API_KEY"),
        ({"BALLAST_PAPER_PORTFOLIO": "/nonexistent.json"}, ["--candles", str(DEMO)],
         "BALLAST_PAPER_PORTFOLIO file /nonexistent.json does not exist"),
        ({}, ["--at", "2024-03-01"], "--at needs --candles"),
        ({}, ["--candles", "/nonexistent-dir"], "/nonexistent-dir"),
        ({}, ["--candles", str(DEMO), "--at", "March"], "--at 'March'"),
    ],
)
async def test_settings_errors_exit_2_with_the_message(
    env: dict[str, str], extra_env: dict[str, str], args: list[str], message: str
) -> None:
    result = await invoke(["portfolio", *args], env | extra_env)
    assert result.exit_code == 2
    assert message in " ".join(result.stderr.split())
    assert result.stdout == ""


async def test_exchange_down_exits_1_naming_the_exchange(env: dict[str, str]) -> None:
    env["BALLAST_EXCHANGE_API_URL"] = "http://127.0.0.1:9"  # nothing listens on the discard port
    result = await invoke(["portfolio", "--json"], env)
    assert result.exit_code == 1
    assert "exchange" in result.stderr and result.stdout == ""


def close_at(path: Path, open_ms: int) -> float:
    for line in gzip.decompress(path.read_bytes()).splitlines()[1:]:
        fields = line.split(b",")
        if int(fields[0]) == open_ms:
            return float(fields[4])
    raise AssertionError(f"no candle opening at {open_ms} in {path}")


async def test_live_account_with_cost_basis_rebuilt_from_trade_history(
    standin: BinanceStandIn, env: dict[str, str]
) -> None:
    """Live mode reads the real account; a holding its trade history explains gets a basis."""
    standin.set_balance("USDT", "1000")
    standin.set_balance("XRP", "50")  # deposited: no trades explain it
    env |= {"BALLAST_MODE": "live", "BALLAST_EXCHANGE_API_URL": standin.url,
            "BALLAST_EXCHANGE_API_KEY": standin.api_key,
            "BALLAST_EXCHANGE_API_SECRET": standin.api_secret}
    settings = load_settings(env=env)
    async with await Store.open(settings.db) as store:
        exchange = await build_exchange(settings, store)
        await exchange.create_order(OrderRequest("SOL/USDT", Side.BUY, Decimal("2"), "live-1"))
        await exchange.close()
    data = as_json(await invoke(["portfolio", "--json"], env))
    sol = data["holdings"]["SOL"]
    # Binance takes the 0.1% fee in SOL: 1.998 SOL for 275.74 USDT.
    assert sol["free"] == 1.998
    assert sol["cost_basis"] == pytest.approx(275.74 / 1.998, abs=1e-8)
    assert data["holdings"]["XRP"]["cost_basis"] is None
    assert data["cash"]["value"] == 724.26
    assert standin.count("GET /api/v3/account") == 1


async def test_signals_match_ballast_signals_at_the_same_time(env: dict[str, str]) -> None:
    at = "2024-03-01T00:00:00Z"
    portfolio = as_json(await invoke(["portfolio", "--json", "--candles", str(DEMO), "--at", at],
                                     env))
    signals = as_json(await invoke(["signals", "--json", "--candles", str(DEMO), "--at", at],
                                   env))
    shown = {asset: h["signal"] for asset, h in portfolio["holdings"].items()}
    assert shown == {asset: signals[asset]["signal"] for asset in shown}
    assert set(shown.values()) != {"HOLD"}  # real signals, not the placeholder


def _daily_candles(directory: Path) -> Path:
    """The demo's hourly candles as daily ones (the files `--timeframe 1d` reads)."""
    import pandas as pd

    directory.mkdir()
    for path in DEMO.glob("binance_*_1h.csv.gz"):
        hourly = pd.read_csv(path)
        day = hourly["timestamp"] // 86_400_000 * 86_400_000
        daily = hourly.groupby(day).agg(
            timestamp=("timestamp", "first"), open=("open", "first"), high=("high", "max"),
            low=("low", "min"), close=("close", "last"), volume=("volume", "sum"))
        daily["timestamp"] = daily.index
        name = path.name.replace("_1h.csv.gz", "_1d.csv")
        daily.to_csv(directory / name, index=False)
    return directory


async def test_signals_are_read_on_the_timeframe_prices_come_from(
    env: dict[str, str], tmp_path: Path
) -> None:
    """`--timeframe 1d` prices on daily candles and reads the signals on them too, as
    `ballast signals --timeframe 1d` does, and the table says so."""
    daily = _daily_candles(tmp_path / "daily")
    at = "2024-03-01T00:00:00Z"
    args = ["--candles", str(daily), "--timeframe", "1d", "--at", at]
    portfolio = as_json(await invoke(["portfolio", "--json", *args], env))
    signals = as_json(await invoke(["signals", "--json", *args], env))
    shown = {asset: h["signal"] for asset, h in portfolio["holdings"].items()}
    assert shown == {asset: signals[asset]["signal"] for asset in shown}
    assert set(shown.values()) != {"HOLD"}
    table = await invoke(["portfolio", *args], env)
    assert table.exit_code == 0, table.output
    assert "signals on 1d candles" in " ".join(table.stdout.split())
