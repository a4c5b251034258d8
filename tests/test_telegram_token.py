"""A bot token Telegram refuses (issue 23, item 2): `ballast check` asks Telegram and names the
fix, `ballast run` stops at start with exit 2, and a token revoked while running stops new
plans and says so in the log once. Over the Bot API stand-in, which answers a token it does not
know with 401 as Telegram does."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from telegram.error import InvalidToken

from bot.telegram.token import telegram_finding
from core.config.settings import load_settings
from core.engine.events import PlanProposed
from core.exchange.check import Severity
from tests.engine_support import live_env, plan_of
from tests.standins.binance import BinanceStandIn
from tests.standins.telegram import TelegramStandIn
from tests.test_telegram_bot import OWNER, World, world

__all__ = ["world"]  # the fixture, shared with the bot's own tests

START_TIMEOUT = 60.0  # a cold interpreter imports ccxt, pandas-ta and matplotlib


@pytest.fixture
async def tg() -> AsyncIterator[TelegramStandIn]:
    async with TelegramStandIn() as standin:
        yield standin


async def test_check_asks_telegram_and_names_the_fix(tg: TelegramStandIn) -> None:
    api = f"http://127.0.0.1:{tg.port}"
    wrong = load_settings(env={}, telegram_token="999:WRONG", telegram_owner_id=OWNER,
                          telegram_api_url=api)
    finding = await telegram_finding(wrong)
    assert finding.severity is Severity.PROBLEM
    assert "refused BALLAST_TELEGRAM_TOKEN" in finding.message
    assert "@BotFather" in finding.message and "WRONG" not in finding.message
    right = load_settings(env={}, telegram_token=tg.token, telegram_owner_id=OWNER,
                          telegram_api_url=api)
    finding = await telegram_finding(right)
    assert finding.severity is Severity.OK and f"@{tg.bot_username}" in finding.message


async def test_run_stops_at_start_with_exit_2_on_a_refused_token(
    tg: TelegramStandIn, tmp_path: Path,
) -> None:
    async with BinanceStandIn(balances={"USDT": "1000"}, prices={"BTC/USDT": "50000"}) as bn:
        env = {**os.environ, **live_env(bn, tmp_path / "ballast.db", tg=tg, owner=OWNER,
                                         BALLAST_TELEGRAM_TOKEN="999:WRONG")}
        ballast = Path(sys.executable).parent / "ballast"
        process = await asyncio.create_subprocess_exec(
            str(ballast), "run", cwd=tmp_path, env=env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        try:
            stdout, stderr = await asyncio.wait_for(process.communicate(),
                                                    timeout=START_TIMEOUT)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        assert process.returncode == 2, stderr.decode()[-2000:]
        said = " ".join(stderr.decode().split())
        assert "refused BALLAST_TELEGRAM_TOKEN" in said and "@BotFather" in said
        assert "WRONG" not in stdout.decode() + stderr.decode()
        assert bn.count("GET /api/v3/account") == 0, "nothing ran"


async def test_a_token_revoked_while_running_stops_new_plans_and_is_logged_once(
    world: World, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    engine = world.rig.engine
    assert await engine.plan_due(world.clock.now)
    world.tg.token = "123456:REVOKED"  # @BotFather revoked it: every request now gets 401
    letter = PlanProposed(world.clock.now, "p1", plan_of(), world.clock.now)
    for _ in range(3):
        with pytest.raises(InvalidToken):
            await world.bot.deliver(letter)
    assert not await engine.plan_due(world.clock.now), "no plan nobody could see"
    said = [r.getMessage() for r in caplog.records if "refused the bot token" in r.getMessage()]
    assert len(said) == 1, said
    assert "restart" in said[0]
