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
        await tg.wait_for_method("sendMessage", shown_to(OWNER, "✅ never_sell"),
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


async def test_switching_a_preset_in_the_chat_applies_its_values_and_says_what_stays_on_top(
    tmp_path: Path,
) -> None:
    async with ballast(tmp_path, BALLAST_MIN_CASH="0.22") as app:
        tg = app.tg
        tg.push_command(OWNER, "/settings stop_loss 0.08")
        await tg.wait_for_method("sendMessage", shown_to(OWNER, "✅ stop_loss"),
                                 timeout=20)
        tg.push_command(OWNER, "/settings preset seed-literal")
        call = await tg.wait_for_method("sendMessage", shown_to(OWNER, "Preset seed-literal"),
                                        timeout=20)
        said = " ".join(visible(str(call.params["text"])).split())  # as read, not as wrapped
        assert "min_cash = 0.22 (env)" in said and "stop_loss = 0.08 (chat)" in said

        seed = app.running.engine.settings
        assert seed.preset == "seed-literal"
        # The seed's rules, not only its name ...
        assert (seed.sizing, seed.plan_on, seed.rebalance_interval) == (
            "all_or_nothing", "interval", 300)
        assert seed.sell_rule == "any" and seed.trim_band == 0
        # ... under what the owner set beside it.
        assert str(seed.min_cash) == "0.22" and str(seed.stop_loss) == "0.08"

        tg.push_command(OWNER, "/settings preset default")
        await tg.wait_for_method("sendMessage", shown_to(OWNER, "Preset default"), timeout=20)
        back = app.running.engine.settings
        assert (back.preset, back.sizing, back.plan_on) == ("default", "conviction",
                                                            "candle_close")
        assert back.sell_rule != "any" and back.trim_band > 0
        assert str(back.min_cash) == "0.22" and str(back.stop_loss) == "0.08"


async def test_a_preset_chosen_in_the_chat_holds_after_a_restart(tmp_path: Path) -> None:
    async with ballast(tmp_path) as app:
        app.tg.push_command(OWNER, "/settings preset seed-literal")
        await app.tg.wait_for_method("sendMessage", shown_to(OWNER, "Preset seed-literal"),
                                     timeout=20)
        ledger = app.running.ledger
        assert ledger is not None and set(ledger.chat) == {"preset"}, "only the choice is kept"
        # A new process in all but name, from the same environment: the database carries the
        # choice over, with the preset's values.
        env = live_env(app.binance, tmp_path / "ballast.db", tg=app.tg, owner=OWNER)
        again = await start_engine(load_settings(env=env), env=env)
        try:
            restarted = again.engine.settings
            assert restarted.preset == "seed-literal"
            assert (restarted.sizing, restarted.plan_on) == ("all_or_nothing", "interval")
            assert restarted == app.running.engine.settings
        finally:
            await again.close()
