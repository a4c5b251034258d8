"""`ballast run` with a bot token, as a real process: the engine and the bot start, the owner
gets a start-up message naming mode and exchange, commands are answered, and SIGTERM stops
everything cleanly (the bot acknowledges its last updates, the process exits 0)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from bot.telegram.format import visible
from tests.engine_support import live_env
from tests.standins.binance import BinanceStandIn
from tests.standins.telegram import TelegramStandIn, shown_to

OWNER = 4242
ACCOUNT = {"USDT": "628", "BTC": "0.0348", "ETH": "1.25", "SOL": "25", "AVAX": "20"}
PRICES = {"BTC/USDT": "91182", "ETH/USDT": "3685", "SOL/USDT": "138.5", "AVAX/USDT": "38"}
START_TIMEOUT = 60.0  # a cold interpreter imports ccxt, pandas-ta and matplotlib



async def test_ballast_run_serves_telegram_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    async with BinanceStandIn(balances=ACCOUNT, prices=PRICES) as binance, \
            TelegramStandIn() as tg:
        env = {**os.environ, **live_env(binance, tmp_path / "ballast.db", tg=tg, owner=OWNER,
                                         BALLAST_LOG_FILE=str(tmp_path / "ballast.log"))}
        ballast = Path(sys.executable).parent / "ballast"
        process = await asyncio.create_subprocess_exec(
            str(ballast), "run", cwd=tmp_path, env=env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        try:
            hello = await tg.wait_for_method("sendMessage", shown_to(OWNER, "Ballast is running"),
                                             timeout=START_TIMEOUT)
            assert "Mode live on binance" in visible(str(hello.params["text"]))
            assert {c["command"] for c in tg.commands} >= {"portfolio", "plan", "settings"}

            seen = len(tg.calls)
            tg.push_command(OWNER, "/portfolio")
            answer = await tg.wait_for_method("sendMessage", shown_to(OWNER, "Portfolio"),
                                              after=seen,
                                              timeout=30)
            assert "ETH" in visible(str(answer.params["text"]))

            process.send_signal(signal.SIGTERM)
            stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        assert process.returncode == 0, stderr.decode()[-2000:]
        polls = tg.calls_to("getUpdates")
        assert polls[-1].params.get("timeout") in ("0", 0, None), "updates acknowledged on stop"
        assert tg.token not in stdout.decode() + stderr.decode()


async def start_ballast(env: dict[str, str], cwd: Path) -> asyncio.subprocess.Process:
    ballast = Path(sys.executable).parent / "ballast"
    return await asyncio.create_subprocess_exec(
        str(ballast), "run", cwd=cwd, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )


async def stop_ballast(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, stderr.decode()[-2000:]


async def test_the_owner_hears_why_ballast_stopped_and_what_it_missed(tmp_path: Path) -> None:
    async with BinanceStandIn(balances=ACCOUNT, prices=PRICES) as binance, \
            TelegramStandIn() as tg:
        # Plans expire a second after they are proposed: the one left waiting at the stop is
        # missed while Ballast is away.
        env = {**os.environ, **live_env(binance, tmp_path / "ballast.db", tg=tg, owner=OWNER,
                                         BALLAST_APPROVAL_TTL="1",
                                         BALLAST_TIMEZONE="Europe/Berlin")}
        first = await start_ballast(env, tmp_path)
        try:
            await tg.wait_for_method("sendMessage", shown_to(OWNER, "Ballast is running"),
                                     timeout=START_TIMEOUT)
            tg.push_command(OWNER, "/plan")
            await tg.wait_for_method("sendMessage", shown_to(OWNER, "Plan"), timeout=30)
            seen = len(tg.calls)
            first.send_signal(signal.SIGTERM)
            bye = await tg.wait_for_method("sendMessage", shown_to(OWNER, "Ballast stopped"),
                                           after=seen, timeout=30)
        finally:
            await stop_ballast(first)
        said = " ".join(visible(str(bye.params["text"])).split())
        assert "Why: SIGTERM" in said and ("CET" in said or "CEST" in said), said

        seen = len(tg.calls)
        second = await start_ballast(env, tmp_path)
        try:
            hello = await tg.wait_for_method("sendMessage", shown_to(OWNER, "Ballast is running"),
                                             after=seen, timeout=START_TIMEOUT)
        finally:
            await stop_ballast(second)
        said = " ".join(visible(str(hello.params["text"])).split())
        assert "Away " in said and "Stopped by SIGTERM" in said, said
        assert "1 plan expired unanswered" in said, said
