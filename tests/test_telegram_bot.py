"""The bot over real HTTP: python-telegram-bot against the Bot API stand-in, a real engine on a
real SQLite file with the paper exchange behind it. Every wait is on a recorded call, with a
timeout; nothing sleeps."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.telegram.app import TelegramBot, api_urls
from bot.telegram.callbacks import Action, encode
from bot.telegram.delivery import PatientRateLimiter
from bot.telegram.format import visible
from core.config.settings import Settings, load_settings
from core.domain.models import Side, TradeReason
from core.engine.events import CashBelowMinimum
from core.engine.service import EngineService
from core.exchange.prices import ManualClock
from core.ops.outbox import Courier, Outbox
from core.ops.watchdog import ScansFailing
from core.storage.store import Store
from tests.engine_support import (
    Rig,
    make_rig,
    order_count,
    paper_rig,
    plan_of,
    trade,
)
from tests.standins.telegram import TelegramStandIn, sent_to, shown_to
from tests.standins.telegram_wire import Call, SentMessage
from tests.telegram_builders import started_bot

OWNER = 4242
STRANGER = 666
SECRET_TEXT = "my seed phrase is hunter2"
ACCOUNT = {"USDT": "1000", "BTC": "0.1", "ETH": "2"}
SELL_ETH = trade(Side.SELL, "ETH", "0.5", "3000", TradeReason.RAISE_CASH)


@dataclass
class World:
    tg: TelegramStandIn
    rig: Rig
    service: EngineService
    bot: TelegramBot
    store: Store
    applied: list[Settings]

    @property
    def clock(self) -> ManualClock:
        return self.rig.clock


def bot_settings(tg: TelegramStandIn, **overrides: Any) -> Settings:
    return load_settings(env={}, telegram_token=tg.token, telegram_owner_id=OWNER,
                         telegram_api_url=f"http://127.0.0.1:{tg.port}", **overrides)


async def start_bot(tg: TelegramStandIn, service: EngineService, applied: list[Settings],
                    **overrides: object) -> TelegramBot:
    return await started_bot(bot_settings(tg, **overrides), service, applied)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    store = await Store.open(tmp_path / "ballast.db")
    rig = await paper_rig(store, ACCOUNT)
    clock = rig.clock
    service = EngineService(rig.engine, clock)
    applied: list[Settings] = []
    async with TelegramStandIn() as tg:
        world = World(tg, rig, service, await start_bot(tg, service, applied), store, applied)
        try:
            yield world
        finally:
            await world.bot.stop()
    await store.close()



async def plan_message(world: World) -> SentMessage:
    """Ask for a plan and return the message carrying its buttons."""
    world.rig.next_plan = plan_of(SELL_ETH)
    world.tg.push_command(OWNER, "/plan")
    call = await world.tg.wait_for_method("sendMessage", has_buttons)
    [message] = [m for m in world.tg.sent_to(OWNER) if m.text == call.params["text"]]
    return message


def button_data(message: SentMessage, label: str) -> str:
    for row in (message.reply_markup or {})["inline_keyboard"]:
        for button in row:
            if label in button["text"]:
                return str(button["callback_data"])
    raise LookupError(label)


def has_buttons(call: Call) -> bool:
    return "Approve" in str(call.params.get("reply_markup"))


async def test_setup_registers_the_command_menu_and_honours_the_api_url(world: World) -> None:
    names = [c["command"] for c in world.tg.commands]
    assert {"start", "help", "portfolio", "plan", "signals", "history", "pause", "resume",
            "status", "settings"} <= set(names)
    assert api_urls("http://h:8081/") == ("http://h:8081/bot", "http://h:8081/file/bot")
    assert api_urls("http://h:8081/bot") == ("http://h:8081/bot", "http://h:8081/file/bot")


async def test_portfolio_from_the_owner_answers_with_the_holdings(world: World) -> None:
    world.tg.push_command(OWNER, "/portfolio")
    call = await world.tg.wait_for_method("sendMessage", sent_to(OWNER, "Portfolio"))
    text = str(call.params["text"])
    assert "12,000.00 USDT" in text
    assert "BTC" in text and "ETH" in text
    assert call.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "ca"


async def test_a_stranger_is_refused_sees_no_data_and_is_logged_without_text(
    world: World, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    for command in ("/portfolio", "/status", "/history", "/pause", SECRET_TEXT):
        world.tg.push_text(STRANGER, command)
    world.tg.push_command(OWNER, "/status")
    await world.tg.wait_for_method("sendMessage", sent_to(OWNER, "Status"))
    to_stranger = [c for c in world.tg.calls_to("sendMessage") if sent_to(STRANGER)(c)]
    assert len(to_stranger) == 5
    assert all(c.params["text"] == "Sorry, this is a private bot." for c in to_stranger)
    assert not await world.service.engine.is_paused(), "a stranger's /pause did nothing"
    refusals = [r for r in caplog.records if "refused update" in r.getMessage()]
    assert len(refusals) == 5 and all(str(STRANGER) in r.getMessage() for r in refusals)
    assert SECRET_TEXT not in caplog.text
    assert "/portfolio" not in " ".join(r.getMessage() for r in refusals)


async def test_plan_approve_executes_and_the_message_shows_the_fills(world: World) -> None:
    message = await plan_message(world)
    assert "SELL 0.5 ETH" in visible(str(message.text))
    world.tg.press_button(OWNER, message, "Approve")
    await world.tg.wait_for_method(
        "editMessageText", lambda c: "executed" in str(c.params["text"]))
    assert await order_count(world.store) == 1
    assert message.reply_markup is None, "buttons are gone after execution"
    text = visible(str(message.text))
    assert "SELL ETH filled" in text
    assert "0.5 of 0.5" in text
    assert "@ 3,000.00 = 1,500.00" in text
    assert "fee 1.50 USDT" in text
    answered = world.tg.calls_to("answerCallbackQuery")
    assert answered and answered[0].at <= world.tg.calls_to("editMessageText")[0].at


async def test_a_stranger_pressing_approve_executes_nothing(world: World) -> None:
    message = await plan_message(world)
    world.tg.press_button(STRANGER, message, "Approve")
    await world.tg.wait_for_method(
        "answerCallbackQuery", lambda c: c.params.get("text") == "Sorry, this is a private bot.")
    world.tg.push_command(OWNER, "/status")
    await world.tg.wait_for_method("sendMessage", sent_to(OWNER, "Status"))
    assert await order_count(world.store) == 0
    assert message.reply_markup is not None, "the owner can still decide"
    assert [a.id for a in await world.service.pending()] != []


async def test_a_double_tap_executes_once(world: World) -> None:
    message = await plan_message(world)
    world.tg.press_button(OWNER, message, "Approve")
    world.tg.press_button(OWNER, message, "Approve")
    await world.tg.wait_until(lambda: len(world.tg.calls_to("answerCallbackQuery")) == 2)
    await world.tg.wait_for_method(
        "editMessageText", lambda c: "executed" in str(c.params["text"]))
    world.tg.push_command(OWNER, "/status")
    await world.tg.wait_for_method("sendMessage", sent_to(OWNER, "Status"))
    assert await order_count(world.store) == 1
    assert "executed" in str(message.text), "the second tap did not overwrite the result"
    assert len(world.bot.handlers.turns) == 0, "a decided plan keeps no lock"


async def test_a_tap_after_expiry_executes_nothing_and_says_so(world: World) -> None:
    message = await plan_message(world)
    world.clock.advance(world.rig.engine.settings.approval_ttl + 1)
    world.tg.press_button(OWNER, message, "Approve")
    await world.tg.wait_for_method("editMessageText", lambda c: "expired" in str(c.params["text"]))
    assert await order_count(world.store) == 0
    assert message.reply_markup is None


async def test_a_tap_after_a_restart_executes_once(world: World) -> None:
    message = await plan_message(world)
    approve = button_data(message, "Approve")
    world.tg.press_button(OWNER, message, "Approve")
    await world.tg.wait_for_method(
        "editMessageText", lambda c: "executed" in str(c.params["text"]))
    await world.bot.stop()
    # A new bot and a new engine on the same database: nothing in memory survives.
    rig = await make_rig(world.store, world.clock, world.rig.prices, world.rig.exchange)
    service = EngineService(rig.engine, world.clock)
    world.bot = await start_bot(world.tg, service, world.applied)
    seen = len(world.tg.calls)
    # The owner's other phone still shows the old buttons.
    world.tg.push_callback(OWNER, approve, message.message_id)
    await world.tg.wait_for_method("answerCallbackQuery", after=seen)
    world.tg.push_command(OWNER, "/status")
    await world.tg.wait_for_method("sendMessage", sent_to(OWNER, "Status"), after=seen)
    assert await order_count(world.store) == 1


async def test_forged_and_unknown_buttons_do_nothing(world: World) -> None:
    message = await plan_message(world)
    for data in ("ap:0000000000", "ap:../../etc", "zz:1", "ap:" + "a" * 60):
        world.tg.push_callback(OWNER, data, message.message_id, OWNER)
    await world.tg.wait_until(lambda: len(world.tg.calls_to("answerCallbackQuery")) == 4)
    world.tg.push_command(OWNER, "/status")
    await world.tg.wait_for_method("sendMessage", sent_to(OWNER, "Status"))
    assert await order_count(world.store) == 0
    assert message.edits == 0 and message.reply_markup is not None


async def test_reject_closes_the_plan(world: World) -> None:
    message = await plan_message(world)
    world.tg.press_button(OWNER, message, "Reject")
    await world.tg.wait_for_method("editMessageText", lambda c: "rejected" in str(c.params["text"]))
    assert await order_count(world.store) == 0
    assert "Approve" not in str(message.reply_markup), "only snooze lengths are offered"


async def test_telegram_429_and_5xx_delay_messages_but_lose_none(world: World) -> None:
    world.tg.rate_limit_next(1, retry_after=1, methods={"sendMessage"})
    world.tg.fail_next(2, status=502, methods={"sendMessage"})
    # /portfolio scans; the scan finds cash below its minimum, which is an alert as well.
    world.tg.push_command(OWNER, "/portfolio")
    await world.tg.wait_for_method("sendMessage", sent_to(OWNER, "Portfolio"), timeout=10)
    await world.tg.wait_for_method("sendMessage", sent_to(OWNER, "is below"), timeout=10)
    statuses = [c.status for c in world.tg.calls_to("sendMessage", ok_only=False)]
    assert statuses == [429, 502, 502, 200, 200]
    texts = [str(m.text) for m in world.tg.sent_to(OWNER)]
    assert len([t for t in texts if "Portfolio" in t]) == 1
    assert len([t for t in texts if "is below" in t]) == 1


async def test_chart_buttons_and_command_send_pictures(world: World) -> None:
    world.tg.push_callback(OWNER, encode(Action.CHART_ALLOCATION))
    first = await world.tg.wait_for_method("sendPhoto")
    assert first.files["photo"].startswith(b"\x89PNG")
    assert "cash" in str(first.params["caption"])
    world.tg.push_command(OWNER, "/chart value")
    # Too few snapshots yet: said in words, not an empty plot.
    await world.tg.wait_for_method("sendMessage", sent_to(OWNER, "No value chart yet"))
    portfolio = (await world.service.portfolio()).portfolio
    now = datetime.now(UTC)
    for hours in range(6, 0, -1):
        await world.service.engine.state.add_snapshot(portfolio, now - timedelta(hours=hours))
    world.tg.push_command(OWNER, "/chart value")
    second = await world.tg.wait_for_method("sendPhoto", sent_to(OWNER, "Value"))
    assert second.files["photo"].startswith(b"\x89PNG")


async def test_the_owner_confirms_a_changed_balance_with_the_alerts_button(
    world: World,
) -> None:
    engine = world.rig.engine
    await engine.tick(world.clock.now)  # the gate's reference
    async with world.store.transaction():  # a deposit of 5000 USDT
        await world.store.conn.execute(
            "UPDATE paper_balances SET free = '6000' WHERE asset = 'USDT'")
    await engine.tick(world.clock.now)
    assert engine.planning_on_hold is not None

    world.tg.push_callback(OWNER, encode(Action.CONFIRM_ACCOUNT))

    await world.tg.wait_for_method("sendMessage", sent_to(OWNER, "Confirmed"))
    assert engine.planning_on_hold is None
    await engine.tick(world.clock.now)
    assert engine.planning_on_hold is None, "the deposit is the reference now"


async def test_settings_change_is_validated_like_start_up(world: World) -> None:
    world.tg.push_command(OWNER, "/settings min_cash 0.22")
    await world.tg.wait_for_method("sendMessage", sent_to(OWNER, "min_cash 25% → <b>22%</b>"))
    assert world.applied[-1].min_cash == Decimal("0.22")
    world.tg.push_command(OWNER, "/settings min_cash 0.5")
    refused = await world.tg.wait_for_method("sendMessage", sent_to(OWNER, "Not changed"))
    assert "min_cash" in str(refused.params["text"])
    assert len(world.applied) == 1
    seen = len(world.tg.calls)
    world.tg.push_command(OWNER, "/settings telegram_token x")
    refused = await world.tg.wait_for_method("sendMessage", sent_to(OWNER, "Not changed"),
                                             after=seen)
    assert "telegram_token" in str(refused.params["text"])
    seen = len(world.tg.calls)
    world.tg.push_command(OWNER, "/settings cash_floor 0.1")
    refused = await world.tg.wait_for_method("sendMessage", sent_to(OWNER, "Not changed"),
                                             after=seen)
    assert "cash_floor" in visible(str(refused.params["text"]))
    assert len(world.applied) == 1
    world.tg.push_command(OWNER, "/settings")
    shown = await world.tg.wait_for_method("sendMessage", shown_to(OWNER, "Settings"))
    assert re.search(r"min_cash\*? +22%", visible(str(shown.params["text"])))
    assert "telegram_token" not in str(shown.params["text"])
    assert "cash_floor" not in str(shown.params["text"])


async def test_pause_resume_status_signals_history_help(world: World) -> None:
    for command, expected in (("/pause", "Paused"), ("/status", "paused"),
                              ("/resume", "Resumed"), ("/signals", "Signals"),
                              ("/history", "History"), ("/help", "/portfolio"),
                              ("/start", "Ballast")):
        seen = len(world.tg.calls)
        world.tg.push_command(OWNER, command)
        await world.tg.wait_for_method("sendMessage", sent_to(OWNER, expected), after=seen)
    assert not await world.service.engine.is_paused()


async def test_a_courier_retries_what_telegram_refused_and_each_letter_arrives_once(
    world: World,
) -> None:
    await world.bot.stop()

    async def keep(settings: Settings) -> None:
        return None

    world.bot = TelegramBot(bot_settings(world.tg), world.service, keep,
                            rate_limiter=PatientRateLimiter(network_retries=0),
                            poll_timeout=5, pump_events=False)
    await world.bot.start()
    outbox = Outbox(world.store)
    courier = Courier(outbox, world.bot.deliver, world.clock)
    now = world.clock.now
    await outbox.post(CashBelowMinimum(now, Decimal("0.05"), Decimal("0.2")), now)
    await outbox.post(ScansFailing(now, now, "exchange unreachable"), now)
    world.tg.fail_next(2, status=502, methods={"sendMessage"})
    assert not await courier.deliver_waiting(), "Telegram is down: the letter waits"
    assert not await courier.deliver_waiting()
    assert await courier.deliver_waiting()
    assert await courier.deliver_waiting()
    texts = [visible(str(m.text)) for m in world.tg.sent_to(OWNER)]
    assert len(texts) == 2
    assert "Cash 5.0% is below the 20% minimum." in texts[0]
    assert "Scans are failing" in texts[1]
    assert await outbox.count() == 0


async def test_plan_again_shows_the_waiting_plan_and_an_empty_plan_says_why(
    world: World,
) -> None:
    message = await plan_message(world)
    seen = len(world.tg.calls)
    world.tg.push_command(OWNER, "/plan")
    again = await world.tg.wait_for_method("sendMessage", has_buttons, after=seen)
    assert "still waits for your decision" in visible(str(again.params["text"]))
    assert button_data(message, "Approve") in str(again.params["reply_markup"])
    world.rig.next_plan = plan_of()
    world.tg.push_command(OWNER, "/plan")
    await world.tg.wait_for_method("sendMessage", sent_to(OWNER, "Nothing to do"), after=seen)


async def test_approve_after_prices_drifted_replans_instead_of_trading(world: World) -> None:
    message = await plan_message(world)
    world.rig.prices.set("ETH/USDT", Decimal("3300"))  # +10%: beyond max_price_drift
    seen = len(world.tg.calls)
    world.tg.press_button(OWNER, message, "Approve")
    await world.tg.wait_for_method(
        "editMessageText", lambda c: "superseded" in str(c.params["text"]), after=seen)
    replacement = await world.tg.wait_for_method("sendMessage", has_buttons, after=seen)
    assert "Replaces plan" in visible(str(replacement.params["text"]))
    assert "prices moved" in visible(str(message.text))
    assert message.reply_markup is None
    assert await order_count(world.store) == 0


async def test_an_exchange_outage_is_said_plainly(world: World) -> None:
    world.rig.exchange.down = True
    world.tg.push_command(OWNER, "/portfolio")
    answer = await world.tg.wait_for_method("sendMessage", sent_to(OWNER, "not answering"))
    assert "Portfolio" not in str(answer.params["text"])


GROUPS = {"group": -4001, "supergroup": -1001234567890, "channel": -1009876543210}


async def test_the_owner_in_a_group_or_channel_is_answered_nothing_there(
    world: World, caplog: pytest.LogCaptureFixture,
) -> None:
    """The owner's commands outside the private chat show nothing there and change nothing;
    the owner is told, in the private chat, once per chat, to use it."""
    caplog.set_level(logging.WARNING)
    for kind, chat in GROUPS.items():
        world.tg.push_command(OWNER, "/portfolio" if kind != "supergroup" else "/pause",
                              chat_id=chat, chat_type=kind)
    await world.tg.wait_until(
        lambda: len([c for c in world.tg.calls_to("sendMessage")
                     if sent_to(OWNER, "only in your private chat")(c)]) == len(GROUPS))
    for chat in GROUPS.values():
        assert not [c for c in world.tg.calls if str(c.params.get("chat_id")) == str(chat)]
    assert not await world.service.engine.is_paused(), "the owner's /pause in a group did nothing"
    ignored = [r.getMessage() for r in caplog.records if "ignored update" in r.getMessage()]
    assert len(ignored) == len(GROUPS)
    assert all("private chat" in line for line in ignored)


async def test_approve_pressed_in_a_group_executes_nothing(world: World) -> None:
    """A plan's buttons seen in a group (a forwarded copy, a shared screen): the owner's tap
    there is answered with where to go, and the plan waits, unexecuted."""
    message = await plan_message(world)
    seen = len(world.tg.calls)
    world.tg.press_button(OWNER, message, "Approve", chat_id=GROUPS["supergroup"],
                          chat_type="supergroup")
    answer = await world.tg.wait_for_method("answerCallbackQuery", after=seen)
    assert "private chat" in str(answer.params.get("text"))
    assert await order_count(world.store) == 0
    assert message.reply_markup is not None, "the owner can still decide in the private chat"
    assert [a.id for a in await world.service.pending()] != []
    # The same button in the private chat still works.
    world.tg.press_button(OWNER, message, "Approve")
    await world.tg.wait_for_method(
        "editMessageText", lambda c: "executed" in str(c.params["text"]), after=seen)
    assert await order_count(world.store) == 1


async def test_never_sell_refuses_what_is_no_symbol_and_warns_of_unlisted_or_unheld_ones(
    world: World,
) -> None:
    """A typo in never_sell would silently protect nothing: text that is no symbol is refused
    quoting what was written; a symbol the exchange does not list, or one not held, is said."""
    world.tg.push_command(OWNER, "/settings never_sell BTC/USDT")
    refused = await world.tg.wait_for_method("sendMessage", sent_to(OWNER, "Not changed"))
    assert "'BTC/USDT' is not an asset symbol" in visible(str(refused.params["text"]))
    assert world.applied == []
    seen = len(world.tg.calls)
    world.tg.push_command(OWNER, "/settings never_sell btc,ETHH,sol")
    await world.tg.wait_for_method("sendMessage", sent_to(OWNER, "✅ never_sell"), after=seen)
    warning = await world.tg.wait_for_method("sendMessage", sent_to(OWNER, "no USDT market"),
                                             after=seen)
    text = " ".join(visible(str(warning.params["text"])).split())  # wrapped for a phone
    assert text.startswith("⚠️ ETHH: no USDT market")
    assert "Not in your portfolio now: SOL" in text
    assert "BTC" not in text, "BTC is listed and held"
    assert world.applied[-1].never_sell == ("BTC", "ETHH", "SOL")
