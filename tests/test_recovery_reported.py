"""Start-up recovery's outcome reaches the owner in the plan's own message (issue 12 case 4).

Telegram and Binance stand-ins over real HTTP. The owner approves; the order is carried out
but its answer and every lookup fail, so the plan message says "Executing…" when Ballast stops.
The next Ballast starts as `ballast run` does (recovery as the engine loop's first step, after
the bot subscribed), finds the order filled, finishes the plan, and edits that same message.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.telegram.app import TelegramBot
from bot.telegram.delivery import PatientRateLimiter
from bot.telegram.format import visible
from core.config.settings import Settings, load_settings
from core.engine.approvals import ApprovalState
from core.engine.wiring import start_engine
from tests.engine_support import live_env
from tests.standins.binance import BinanceStandIn
from tests.standins.telegram import TelegramStandIn

OWNER = 4242
ACCOUNT = {"USDT": "628", "BTC": "0.0348", "ETH": "1.25", "SOL": "25", "AVAX": "20"}
PRICES = {"BTC/USDT": "91182", "ETH/USDT": "3685", "SOL/USDT": "138.5", "AVAX/USDT": "38"}


async def test_an_order_settled_by_recovery_edits_the_plan_message(tmp_path: Path) -> None:
    async with BinanceStandIn(balances=ACCOUNT, prices=PRICES) as binance, \
            TelegramStandIn() as tg:
        settings = load_settings(env=live_env(binance, tmp_path / "ballast.db", tg=tg,
                                              owner=OWNER, BALLAST_LOG_FILE=""))

        async def keep(changed: Settings) -> None:
            return None

        def bot_for(running: object) -> TelegramBot:
            return TelegramBot(settings, running.service, keep,  # type: ignore[attr-defined]
                               rate_limiter=PatientRateLimiter(first_backoff=0.05),
                               poll_timeout=5)

        running = await start_engine(settings)
        bot = bot_for(running)
        await bot.start()
        try:
            tg.push_command(OWNER, "/plan")
            proposed = await tg.wait_for_method(
                "sendMessage", lambda c: "Approve" in str(c.params.get("reply_markup")),
                timeout=30)
            [message] = [m for m in tg.sent_to(OWNER) if m.text == proposed.params["text"]]
            # The first order is carried out, but its answer and every lookup of it fail.
            binance.fail_next("POST /api/v3/order", "error_after_accept", status=503)
            binance.fail_next("GET /api/v3/order", "server_error", times=100, status=503)
            tg.press_button(OWNER, message, "Approve")
            await tg.wait_for_method("editMessageText",
                                     lambda c: "Executing" in str(c.params["text"]), timeout=30)
            [approval] = await running.engine.approvals.recent(1)
            for _ in range(300):  # until the execution pass gave up looking the order up
                if (binance.count("GET /api/v3/order") >= 8
                        and not running.engine.executor.is_running(approval.id)):
                    break
                await asyncio.sleep(0.1)
            approval = await running.engine.approvals.get(approval.id) or approval
            assert approval.state is ApprovalState.EXECUTING
            assert binance.count("POST /api/v3/order") == 1
        finally:
            await bot.stop()
            await running.close()
        binance.faults.clear()

        # Restart as `ballast run` does: the bot listens before recovery runs.
        running = await start_engine(settings, recover=False)
        bot = bot_for(running)
        await bot.start()
        try:
            seen = len(tg.calls)
            await running.engine.housekeeping(running.service.clock())
            edit = await tg.wait_for_method(
                "editMessageText", lambda c: "executed" in visible(str(c.params["text"])),
                after=seen, timeout=30)
            assert edit.params["message_id"] in (message.message_id, str(message.message_id))
            done = await running.engine.approvals.get(approval.id)
            assert done is not None and done.state is ApprovalState.DONE
        finally:
            await bot.stop()
            await running.close()
        assert all(len(v) == 1 for v in binance.orders_by_client_id().values())
        [shown] = [m for m in tg.sent_to(OWNER) if m.message_id == message.message_id]
        assert "executed" in visible(shown.text or "")
