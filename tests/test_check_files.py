"""`ballast check` looks at the files beside the settings: a `.env` holding the keys that others
may read, the database's health, and the settings changed in the chat with every value's
source. The real command, against the Binance stand-in."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from bot.cli import app
from core.storage.chat_settings import ChatSettingsRepo
from core.storage.store import Store
from tests.standins.binance import BinanceStandIn

KEY, SECRET = "k3y-files-5521", "s3cret-files-9034"


async def ballast(args: list[str], env: dict[str, str]) -> Result:
    """Run the real `ballast` app in a thread, so the stand-in keeps serving on this loop."""
    full_env: dict[str, Any] = {"BALLAST_SETTINGS": None, "BALLAST_EXCHANGE_API_KEY": None,
                                "BALLAST_EXCHANGE_API_SECRET": None, "COLUMNS": "300", **env}
    return await asyncio.to_thread(CliRunner().invoke, app, args, env=full_env)


@pytest.fixture(autouse=True)
def _here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # ./.env and ./ballast.db are this test's own


@pytest.fixture
async def standin() -> AsyncIterator[BinanceStandIn]:
    async with BinanceStandIn(api_key=KEY, api_secret=SECRET, balances={"USDT": "50"},
                              prices={"BTC/USDT": "30000"}) as server:
        yield server


def findings(result: Result) -> dict[str, list[dict[str, str]]]:
    by_check: dict[str, list[dict[str, str]]] = {}
    for finding in json.loads(result.output):
        by_check.setdefault(finding["check"], []).append(finding)
    return by_check


async def test_a_dotenv_with_keys_open_to_others_is_a_problem(
    tmp_path: Path, standin: BinanceStandIn,
) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text(f"BALLAST_EXCHANGE_API_KEY={KEY}\nBALLAST_EXCHANGE_API_SECRET={SECRET}\n",
                      encoding="utf-8")
    os.chmod(dotenv, 0o666)
    env = {"BALLAST_EXCHANGE_API_URL": standin.url}
    result = await ballast(["check"], env)
    assert result.exit_code == 1, result.output
    assert "✗ secrets: .env holds BALLAST_EXCHANGE_API_KEY, BALLAST_EXCHANGE_API_SECRET" \
        in result.output
    assert "mode 0666" in result.output and "chmod 600 .env" in result.output
    assert SECRET not in result.output

    os.chmod(dotenv, 0o640)  # group-readable is still open to others
    assert (await ballast(["check"], env)).exit_code == 1

    os.chmod(dotenv, 0o600)
    result = await ballast(["check"], env)
    assert result.exit_code == 0, result.output
    assert "✓ secrets: .env is readable by its owner only" in result.output


async def test_a_dotenv_without_secrets_may_be_readable(
    tmp_path: Path, standin: BinanceStandIn,
) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("BALLAST_MIN_CASH=0.22\n", encoding="utf-8")
    os.chmod(dotenv, 0o644)
    result = await ballast(["check", "--json"], {"BALLAST_EXCHANGE_API_URL": standin.url})
    assert result.exit_code == 0, result.output
    assert "secrets" not in findings(result)


async def test_check_shows_each_setting_s_source_with_the_chat_s_changes(
    tmp_path: Path, standin: BinanceStandIn,
) -> None:
    store = await Store.open(tmp_path / "ballast.db")
    try:
        await ChatSettingsRepo(store).remember("stop_loss", "0.08", datetime.now(UTC),
                                               "telegram")
    finally:
        await store.close()
    settings_file = tmp_path / "ballast.toml"
    settings_file.write_text("[policy]\nmax_position = 0.28\n", encoding="utf-8")
    result = await ballast(["check", "--json"], {
        "BALLAST_EXCHANGE_API_URL": standin.url, "BALLAST_MIN_CASH": "0.22",
        "BALLAST_SETTINGS": str(settings_file)})
    assert result.exit_code == 0, result.output
    sources = [f["message"] for f in findings(result)["sources"]]
    assert "from the chat (kept in the database): stop_loss = 0.08" in sources
    assert any(line.startswith("from the environment: ") and "min_cash = 0.22" in line
               for line in sources)
    assert "from the settings file: max_position = 0.28" in sources
    assert any(line.endswith("more at their defaults") for line in sources)
    [database] = findings(result)["database"]
    assert database["severity"] == "ok" and "is whole" in database["message"]


async def test_check_names_a_damaged_database(tmp_path: Path, standin: BinanceStandIn) -> None:
    (tmp_path / "ballast.db").write_bytes(b"not a database at all" * 500)
    result = await ballast(["check", "--json"], {"BALLAST_EXCHANGE_API_URL": standin.url})
    assert result.exit_code == 1, result.output
    [database] = findings(result)["database"]
    assert database["severity"] == "problem"
    assert "is not a SQLite database" in database["message"]


async def test_check_warns_of_a_never_sell_asset_the_exchange_does_not_list(
    standin: BinanceStandIn,
) -> None:
    result = await ballast(["check", "--json"], {"BALLAST_EXCHANGE_API_URL": standin.url,
                                                 "BALLAST_NEVER_SELL": "BTC,BTCC"})
    assert result.exit_code == 0, result.output
    [warning] = findings(result)["never_sell"]
    assert warning["severity"] == "warning"
    assert warning["message"].startswith("BTCC: no USDT market on binance")
