"""Telegram down is one outage, not an error per request: one line when it starts, one when it
ends, no tracebacks; and SIGTERM during it stops `ballast run` within seconds, not after
python-telegram-bot's back-off and our retries (the outbox keeps what was not sent).

The stand-in answers every call, polls included, with 502 while it is down; waits are on its
recorded calls, with timeouts.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from telegram.error import TelegramError

from bot.telegram.app import TelegramBot
from bot.telegram.delivery import PatientRateLimiter
from core.config.settings import Settings, load_settings
from core.engine.service import EngineService
from core.exchange.prices import ManualClock
from core.storage.store import Store
from tests.engine_support import (
    PRICES,
    T0,
    FaultyExchange,
    live_env,
    make_rig,
    paper_account,
)
from tests.fixed_prices import FixedPrices
from tests.standins.binance import BinanceStandIn
from tests.standins.telegram import TelegramStandIn

OWNER = 4242
ACCOUNT = {"USDT": "628", "BTC": "0.0348", "ETH": "1.25", "SOL": "25", "AVAX": "20"}
BINANCE_PRICES = {"BTC/USDT": "91182", "ETH/USDT": "3685", "SOL/USDT": "138.5",
                  "AVAX/USDT": "38"}
START_TIMEOUT = 60.0  # a cold interpreter imports ccxt, pandas-ta and matplotlib
# python-telegram-bot waits 1, 1.5, 2.25, 3.4, 5.1, 7.6 s after failed polls: after the sixth
# it sleeps 7.6 s, which an Updater stopped the default way would wait out.
FAILED_POLLS = 6
STOP_WITHIN = 6.0  # the old way waited out 7.6 s at least


def failed_polls(tg: TelegramStandIn) -> int:
    return len([c for c in tg.calls_to("getUpdates", ok_only=False) if not c.ok])


@asynccontextmanager
async def paper_service(tmp_path: Path) -> AsyncIterator[EngineService]:
    """An engine service on a paper account of 1,000 USDT, its database in `tmp_path`."""
    store = await Store.open(tmp_path / "ballast.db")
    try:
        clock = ManualClock(T0)
        prices = FixedPrices(dict(PRICES))
        paper = await paper_account(store, {"USDT": "1000"}, clock, prices)
        rig = await make_rig(store, clock, prices, FaultyExchange(paper, prices))
        yield EngineService(rig.engine, clock)
    finally:
        await store.close()


async def keep_settings(settings: Settings) -> None:
    """Settings changed in the chat go nowhere in these tests."""


async def test_sigterm_while_telegram_is_down_exits_in_seconds_and_logs_one_line(
    tmp_path: Path,
) -> None:
    async with BinanceStandIn(balances=ACCOUNT, prices=BINANCE_PRICES) as binance, \
            TelegramStandIn() as tg:
        log_file = tmp_path / "ballast.log"
        env = {**os.environ, **live_env(binance, tmp_path / "ballast.db", tg=tg, owner=OWNER,
                                         BALLAST_LOG_FILE=str(log_file))}
        ballast = Path(sys.executable).parent / "ballast"
        process = await asyncio.create_subprocess_exec(
            str(ballast), "run", cwd=tmp_path, env=env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        # Drained as it comes, so a chatty process never blocks on a full pipe.
        output = asyncio.ensure_future(process.communicate())
        try:
            await tg.wait_for_method(
                "sendMessage", lambda c: "Ballast is running" in str(c.params.get("text")),
                timeout=START_TIMEOUT)
            tg.go_down()
            await tg.wait_until(lambda: failed_polls(tg) >= FAILED_POLLS, timeout=40)
            process.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            stdout, stderr = await asyncio.wait_for(output, timeout=60)
            took = time.monotonic() - signalled
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        assert process.returncode == 0, stderr.decode()[-2000:]
        assert took < STOP_WITHIN, f"stopping took {took:.1f} s"
        log = log_file.read_text(encoding="utf-8")
        assert "Traceback" not in log
        assert log.count("Telegram is unreachable") == 1, log[-3000:]
        assert tg.token not in log + stdout.decode() + stderr.decode()


async def test_an_outage_is_logged_once_when_it_starts_and_once_when_it_ends(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    """In process, with the real bot: failed polls and sends are quiet after the first line;
    the first answer after them closes the outage, saying how long it lasted."""
    caplog.set_level(logging.DEBUG)
    async with paper_service(tmp_path) as service, TelegramStandIn() as tg:
        settings = load_settings(env={}, telegram_token=tg.token, telegram_owner_id=OWNER,
                                 telegram_api_url=f"http://127.0.0.1:{tg.port}")
        bot = TelegramBot(settings, service, keep_settings, poll_timeout=5, pump_events=False,
                          rate_limiter=PatientRateLimiter(first_backoff=0.05))
        await bot.start()
        try:
            tg.go_down()
            await tg.wait_until(lambda: failed_polls(tg) >= 3, timeout=20)
            tg.heal()
            tg.push_command(OWNER, "/help")
            await tg.wait_for_method("sendMessage", lambda c: "/portfolio" in str(
                c.params.get("text")), timeout=20)
        finally:
            await bot.stop()
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.telegram.outage"]
    assert len(lines) == 2, lines
    assert lines[0].startswith("Telegram is unreachable (HTTP 502)")
    assert lines[1].startswith("Telegram answers again after")
    assert "requests failed meanwhile" in lines[1]
    assert not [r for r in caplog.records if r.exc_info and r.name.startswith("telegram")]


async def test_a_bot_whose_start_failed_in_an_outage_starts_once_telegram_is_back(
    tmp_path: Path,
) -> None:
    """What `ballast run` does while Telegram is down at start-up: start, fail, stop, try
    again. Stopping gives up on a Telegram that does not answer; starting again must not."""
    async with paper_service(tmp_path) as service, TelegramStandIn() as tg:
        settings = load_settings(env={}, telegram_token=tg.token, telegram_owner_id=OWNER,
                                 telegram_api_url=f"http://127.0.0.1:{tg.port}")
        bot = TelegramBot(settings, service, keep_settings, poll_timeout=5, pump_events=False,
                          rate_limiter=PatientRateLimiter(network_retries=0))
        tg.go_down()
        with pytest.raises(TelegramError):
            await bot.start()
        await bot.stop()
        tg.heal()
        await bot.start()
        try:
            tg.push_command(OWNER, "/help")
            await tg.wait_for_method("sendMessage", lambda c: "/portfolio" in str(
                c.params.get("text")), timeout=20)
        finally:
            await bot.stop()
