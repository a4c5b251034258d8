"""Until BALLAST_TELEGRAM_OWNER_ID is set, the bot answers only with the sender's id and how to
set it — nothing else, to anyone. Over real HTTP against the Bot API stand-in."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bot.telegram.format import visible
from bot.telegram.setup import OwnerSetupBot, owner_id_view
from core.config.settings import load_settings
from tests.standins.telegram import TelegramStandIn
from tests.standins.telegram_wire import Call

NEW_OWNER = 4242
SOMEONE = 777


def sent_to(chat: int) -> Callable[[Call], bool]:
    def match(call: Call) -> bool:
        return str(call.params.get("chat_id")) == str(chat)
    return match


async def test_start_without_an_owner_tells_the_sender_their_id_and_nothing_else(
    tmp_path: Path,
) -> None:
    async with TelegramStandIn() as tg:
        settings = load_settings(env={
            "BALLAST_TELEGRAM_TOKEN": tg.token,
            "BALLAST_TELEGRAM_API_URL": tg.base_url,
            "BALLAST_DB": str(tmp_path / "ballast.db"),
        })
        bot = OwnerSetupBot(settings, poll_timeout=5)
        await bot.start()
        try:
            tg.push_command(NEW_OWNER, "/start")
            first = await tg.wait_for_method("sendMessage", sent_to(NEW_OWNER), timeout=10)
            seen = len(tg.calls)
            for command in ("/portfolio", "/plan", "/settings"):
                tg.push_command(NEW_OWNER, command)
            tg.push_command(SOMEONE, "/start")
            tg.push_callback(NEW_OWNER, "ap:abc123")
            await tg.wait_for_method("sendMessage", sent_to(SOMEONE), timeout=10, after=seen)
            await tg.wait_until(lambda: len([c for c in tg.calls_to("sendMessage")
                                             if sent_to(NEW_OWNER)(c)]) == 4, timeout=10)
            await tg.wait_for_method("answerCallbackQuery", timeout=10)
        finally:
            await bot.stop()

    text = visible(str(first.params["text"]))
    assert "Your Telegram user id is 4242." in text
    assert "BALLAST_TELEGRAM_OWNER_ID=4242" in text
    to_owner = [c for c in tg.calls_to("sendMessage") if sent_to(NEW_OWNER)(c)]
    assert {c.params["text"] for c in to_owner} == {owner_id_view(NEW_OWNER).text}
    to_someone = [c.params["text"] for c in tg.calls_to("sendMessage") if sent_to(SOMEONE)(c)]
    assert to_someone == [owner_id_view(SOMEONE).text]
    # Nothing else was said or shown: no pictures, no edits, no menus, no button answer text.
    methods = {c.method for c in tg.calls}
    assert methods <= {"getMe", "deleteWebhook", "getUpdates", "sendMessage",
                       "answerCallbackQuery"}
    (answer,) = tg.calls_to("answerCallbackQuery")
    assert not answer.params.get("text")


async def test_group_chats_get_no_answer(tmp_path: Path) -> None:
    async with TelegramStandIn() as tg:
        settings = load_settings(env={
            "BALLAST_TELEGRAM_TOKEN": tg.token, "BALLAST_TELEGRAM_API_URL": tg.base_url,
        })
        bot = OwnerSetupBot(settings, poll_timeout=5)
        await bot.start()
        try:
            seen = len(tg.calls)
            update = tg.push_command(NEW_OWNER, "/start", chat_id=-100)
            update["message"]["chat"]["type"] = "group"
            tg.push_command(SOMEONE, "/start")  # a private message after it, as a marker
            await tg.wait_for_method("sendMessage", sent_to(SOMEONE), timeout=10, after=seen)
        finally:
            await bot.stop()
    assert [c for c in tg.calls_to("sendMessage") if sent_to(-100)(c)] == []
