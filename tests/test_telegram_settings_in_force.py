"""The chat's settings are the ones plans obey (issue 21 findings 4 and 5), end to end: the
owner's phone (the Bot API stand-in) → python-telegram-bot → the real engine → the Binance
stand-in, with chat changes applied as `ballast run` applies them. Nothing sleeps."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from bot.telegram.app import TelegramBot
from bot.telegram.delivery import PatientRateLimiter
from bot.telegram.format import visible
from core.config.settings import load_settings
from core.engine.approvals import ApprovalState
from core.engine.wiring import RunningEngine, start_engine
from tests.engine_support import live_env
from tests.standins.binance import BinanceStandIn
from tests.standins.telegram import TelegramStandIn, shown_to

OWNER = 4242
# Short of cash and over max_position on ETH, like the seed portfolio: a plan sells ETH.
ACCOUNT = {"USDT": "628", "BTC": "0.0348", "ETH": "1.25", "SOL": "25", "AVAX": "20"}
PRICES = {"BTC/USDT": "91182", "ETH/USDT": "3685", "SOL/USDT": "138.5", "AVAX/USDT": "38"}
ORDERS = "POST /api/v3/order"


@dataclass
class App:
    running: RunningEngine
    bot: TelegramBot
    tg: TelegramStandIn
    binance: BinanceStandIn


@asynccontextmanager
async def ballast(tmp_path: Path, **extra: str) -> AsyncIterator[App]:
    """Ballast as `ballast run` wires it: the engine, and the bot applying chat changes."""
    async with BinanceStandIn(balances=ACCOUNT, prices=PRICES) as binance, \
            TelegramStandIn() as tg:
        env = live_env(binance, tmp_path / "ballast.db", tg=tg, owner=OWNER, **extra)
        running = await start_engine(load_settings(env=env), env=env)
        bot = TelegramBot(running.engine.settings, running.service, running.change_settings,
                          rate_limiter=PatientRateLimiter(first_backoff=0.05), poll_timeout=5,
                          ledger=running.ledger)
        await bot.start()
        try:
            yield App(running, bot, tg, binance)
        finally:
            await bot.stop()
            await running.close()


async def test_never_sell_set_after_a_plan_stops_its_sell(tmp_path: Path) -> None:
    async with ballast(tmp_path) as app:
        tg = app.tg
        tg.push_command(OWNER, "/plan")
        call = await tg.wait_for_method(
            "sendMessage", lambda c: "Approve" in str(c.params.get("reply_markup")), timeout=30)
        [message] = [m for m in tg.sent_to(OWNER) if m.text == call.params["text"]]
        assert "SELL" in visible(str(message.text)) and "ETH" in visible(str(message.text))

        tg.push_command(OWNER, "/settings never_sell ETH,SOL,BTC,AVAX")
        await tg.wait_for_method("sendMessage", shown_to(OWNER, "Changed never_sell"),
                                 timeout=20)
        tg.press_button(OWNER, message, "Approve")
        await tg.wait_until(lambda: len(tg.calls_to("answerCallbackQuery")) == 1)
        # Whatever the tap did, the plan's message ends saying how it ended.
        await tg.wait_until(lambda: any(
            word in visible(str(message.text)).lower()
            for word in ("executed", "failed", "superseded")), timeout=30)

        assert app.binance.count(ORDERS) == 0, visible(str(message.text))
        # The owner was told why: the old plan's message says the settings superseded it.
        assert "settings changed" in visible(str(message.text))
        [old] = [a for a in await app.running.engine.approvals.recent()
                 if a.state is ApprovalState.SUPERSEDED]
        assert old.reason is not None and "never_sell" in old.reason
