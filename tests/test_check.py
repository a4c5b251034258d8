"""`ballast check`: settings and, read-only, the exchange and its keys, against the stand-in."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from bot.cli import app
from core.config.settings import Settings, load_settings
from core.exchange.ccxt_exchange import CcxtExchange
from core.exchange.ccxt_retry import RetryPolicy
from core.exchange.check import (
    Finding,
    Severity,
    check_exchange,
    check_settings,
    has_problems,
)
from tests.standins.binance import BinanceStandIn

KEY, SECRET = "k3y-check-4410", "s3cret-check-8823"


async def instant(_: float) -> None:
    """No waiting between retries."""


def settings(**env: str) -> Settings:
    return load_settings(env={f"BALLAST_{k.upper()}": v for k, v in env.items()})


def by_check(findings: list[Finding]) -> dict[str, Finding]:
    return {f.check: f for f in findings}


@pytest.fixture
async def standin() -> AsyncIterator[BinanceStandIn]:
    async with BinanceStandIn(api_key=KEY, api_secret=SECRET, balances={"USDT": "50"},
                              prices={"BTC/USDT": "30000"}) as server:
        yield server


async def run_checks(standin: BinanceStandIn, config: Settings, *, key: str | None = KEY,
                     secret: str | None = SECRET) -> list[Finding]:
    exchange = CcxtExchange("binance", api_key=key, api_secret=secret, api_url=standin.url,
                            quote=config.quote, retry=RetryPolicy(attempts=2), sleep=instant)
    try:
        return await check_exchange(exchange, config)
    finally:
        await exchange.close()


@pytest.mark.parametrize(("env", "words"), [
    ({"mode": "live"}, "BALLAST_MODE=live needs BALLAST_EXCHANGE_API_KEY"),
    ({"exchange_api_key": "k"}, "BALLAST_EXCHANGE_API_SECRET is not set"),
    ({"mode": "live", "exchange_api_key": "k", "exchange_api_secret": "s", "approval": "auto"},
     "BALLAST_ALLOW_LIVE_AUTO"),
    ({"paper_portfolio": "live"}, "needs read-only exchange keys"),
    ({"paper_portfolio": "/nowhere/start.json"}, "no such file"),
    ({"telegram_token": "123:abc"}, "BALLAST_TELEGRAM_OWNER_ID is not set"),
])
def test_settings_problems_are_named(env: dict[str, str], words: str) -> None:
    findings = check_settings(settings(**env))
    assert has_problems(findings)
    assert any(words in f.message for f in findings if f.severity is Severity.PROBLEM)


def test_default_settings_only_warn_about_telegram() -> None:
    findings = check_settings(settings())
    assert not has_problems(findings)
    assert [f.severity for f in findings] == [Severity.WARNING]


async def test_paper_mode_without_keys_checks_public_access_only(
        standin: BinanceStandIn) -> None:
    findings = await run_checks(standin, settings(), key=None, secret=None)
    assert not has_problems(findings)
    found = by_check(findings)
    assert "binance answers (30 spot markets)" in found["connectivity"].message
    assert found["markets"].severity is Severity.OK
    assert "no API keys" in found["keys"].message
    assert {r.path for r in standin.requests} == {"/api/v3/time", "/api/v3/exchangeInfo"}


async def test_good_keys_that_cannot_withdraw_pass(standin: BinanceStandIn) -> None:
    findings = await run_checks(standin, settings(mode="live"))
    assert not has_problems(findings), findings
    found = by_check(findings)
    assert found["keys"].message == "the API key is accepted; 1 assets hold a balance"
    assert found["trading"].severity is Severity.OK
    assert found["withdrawals"].message == "withdrawals are disabled (API key restrictions)"


async def test_a_key_that_can_withdraw_is_a_loud_problem(standin: BinanceStandIn) -> None:
    standin.permissions.withdrawals_enabled = True
    found = by_check(await run_checks(standin, settings()))
    assert found["withdrawals"].severity is Severity.PROBLEM
    assert "DANGER: this key can WITHDRAW" in found["withdrawals"].message


async def test_without_the_key_restrictions_endpoint_the_account_flags_are_used(
        standin: BinanceStandIn) -> None:
    standin.permissions.api_restrictions = False
    standin.permissions.withdrawals_enabled = True
    found = by_check(await run_checks(standin, settings()))
    assert found["withdrawals"].severity is Severity.PROBLEM
    assert "(account)" in found["withdrawals"].message


async def test_a_key_that_cannot_trade_is_a_problem_in_live_mode_only(
        standin: BinanceStandIn) -> None:
    standin.permissions.can_trade = False
    live = by_check(await run_checks(standin, settings(mode="live")))
    paper = by_check(await run_checks(standin, settings()))
    assert live["trading"].severity is Severity.PROBLEM
    assert paper["trading"].severity is Severity.WARNING


async def test_a_wrong_secret_is_reported_without_the_secret(standin: BinanceStandIn) -> None:
    wrong = "wr0ng-s3cret-0000"
    found = by_check(await run_checks(standin, settings(), secret=wrong))
    assert found["keys"].severity is Severity.PROBLEM
    assert "refused the API key or secret" in found["keys"].message
    assert wrong not in found["keys"].message and KEY not in found["keys"].message


async def test_a_quote_without_markets_is_a_problem(standin: BinanceStandIn) -> None:
    found = by_check(await run_checks(standin, settings(quote="USD"), key=None, secret=None))
    assert found["markets"].severity is Severity.PROBLEM
    assert "no spot markets against USD; set BALLAST_QUOTE to one it has (USDT" in (
        found["markets"].message)


async def test_watchlist_assets_without_a_market_are_named(standin: BinanceStandIn) -> None:
    found = by_check(await run_checks(standin, settings(watchlist="BTC,PEPE,WIF"), key=None,
                                      secret=None))
    assert found["markets"].severity is Severity.WARNING
    assert "PEPE, WIF" in found["markets"].message


async def test_a_skewed_clock_is_a_warning() -> None:
    async with BinanceStandIn(clock_ms=lambda: 1_700_000_000_000) as stale:
        found = by_check(await run_checks(stale, settings(), key=None, secret=None))
    assert found["clock"].severity is Severity.WARNING
    assert "ahead of binance's" in found["clock"].message


async def test_an_unreachable_exchange_is_a_problem() -> None:
    async with BinanceStandIn() as gone:
        url = gone.url
    exchange = CcxtExchange("binance", api_url=url, retry=RetryPolicy(attempts=1))
    try:
        findings = await check_exchange(exchange, settings())
    finally:
        await exchange.close()
    assert [(f.check, f.severity) for f in findings] == [("connectivity", Severity.PROBLEM)]
    assert "cannot reach binance" in findings[0].message


# ---- the command ------------------------------------------------------------------------------

async def ballast(args: list[str], env: dict[str, str]) -> Result:
    """Run the real `ballast` app in a thread, so the stand-in keeps serving on this loop."""
    runner = CliRunner()
    full_env: dict[str, Any] = {"BALLAST_SETTINGS": None, **env}
    return await asyncio.to_thread(runner.invoke, app, args, env=full_env)


@pytest.fixture(autouse=True)
def _no_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # load_settings reads ./.env: keep the developer's out


async def test_check_command_passes_on_a_sound_setup(standin: BinanceStandIn) -> None:
    result = await ballast(["check", "--json"], {
        "BALLAST_EXCHANGE_API_URL": standin.url, "BALLAST_EXCHANGE_API_KEY": KEY,
        "BALLAST_EXCHANGE_API_SECRET": SECRET})
    assert result.exit_code == 0, result.output
    findings = json.loads(result.output)
    assert {f["check"] for f in findings} >= {"settings", "connectivity", "keys", "withdrawals"}
    assert KEY not in result.output and SECRET not in result.output


async def test_check_command_fails_on_a_withdrawing_key(standin: BinanceStandIn) -> None:
    standin.permissions.withdrawals_enabled = True
    result = await ballast(["check"], {
        "BALLAST_EXCHANGE_API_URL": standin.url, "BALLAST_EXCHANGE_API_KEY": KEY,
        "BALLAST_EXCHANGE_API_SECRET": SECRET})
    assert result.exit_code == 1
    assert "✗ withdrawals: DANGER" in result.output


async def test_check_command_names_an_invalid_setting() -> None:
    result = await ballast(["check"], {"BALLAST_MIN_CASH": "2"})
    assert result.exit_code == 2
    assert "BALLAST_MIN_CASH = '2'" in result.output


async def test_check_command_names_an_unknown_exchange() -> None:
    result = await ballast(["check"], {"BALLAST_EXCHANGE": "binanse"})
    assert result.exit_code == 1
    assert "BALLAST_EXCHANGE = 'binanse'" in result.output


async def test_a_copied_env_example_with_only_the_token_names_the_missing_owner(
    standin: BinanceStandIn, tmp_path: Path
) -> None:
    """Getting started, step 1: `cp .env.example .env`, set the token, `ballast check`."""
    example = (Path(__file__).parent.parent / ".env.example").read_text()
    assert "\nBALLAST_TELEGRAM_OWNER_ID=\n" in example  # left empty, as a newcomer has it
    (tmp_path / ".env").write_text(
        example.replace("\nBALLAST_TELEGRAM_TOKEN=\n", "\nBALLAST_TELEGRAM_TOKEN=123:abc\n"))
    result = await ballast(["check"], {"BALLAST_EXCHANGE_API_URL": standin.url})
    assert result.exit_code == 1, result.output
    assert "✗ settings: BALLAST_TELEGRAM_OWNER_ID is not set" in result.output
    assert "Input should be" not in result.output
