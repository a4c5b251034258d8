"""The Bot API stand-in speaks enough Telegram for the real python-telegram-bot client."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, NetworkError, RetryAfter

from tests.standins.telegram import TelegramStandIn

OWNER = 4242


@pytest.fixture
async def tg() -> AsyncIterator[TelegramStandIn]:
    async with TelegramStandIn() as server:
        yield server


def bot_for(tg: TelegramStandIn) -> Bot:
    return Bot(tg.token, base_url=tg.base_url, base_file_url=tg.base_file_url)


async def test_the_client_sends_edits_and_uploads(tg: TelegramStandIn) -> None:
    async with bot_for(tg) as bot:
        assert bot.username == "ballast_test_bot"
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("OK", callback_data="ap:1")]])
        message = await bot.send_message(OWNER, "<b>hi</b>", parse_mode="HTML",
                                         reply_markup=markup)
        await bot.edit_message_text("done", chat_id=OWNER, message_id=message.message_id)
        photo = await bot.send_photo(OWNER, b"\x89PNG fake", caption="chart")
    [sent, picture] = tg.sent_to(OWNER)
    assert sent.text == "done" and sent.edits == 1 and sent.reply_markup is None
    assert picture.photo == b"\x89PNG fake" and picture.caption == "chart"
    assert photo.photo[0].file_id
    first = tg.calls_to("sendMessage")[0]
    assert first.params["reply_markup"] == {
        "inline_keyboard": [[{"text": "OK", "callback_data": "ap:1"}]]}


async def test_it_refuses_what_telegram_refuses(tg: TelegramStandIn) -> None:
    async with bot_for(tg) as bot:
        with pytest.raises(BadRequest, match="too long"):
            await bot.send_message(OWNER, "x" * 4097)
        big = InlineKeyboardMarkup([[InlineKeyboardButton("X", callback_data="a" * 65)]])
        with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
            await bot.send_message(OWNER, "x", reply_markup=big)
        message = await bot.send_message(OWNER, "same")
        with pytest.raises(BadRequest, match="not modified"):
            await bot.edit_message_text("same", chat_id=OWNER, message_id=message.message_id)


async def test_faults_answer_429_with_retry_after_then_5xx(tg: TelegramStandIn) -> None:
    tg.rate_limit_next(retry_after=3)
    tg.fail_next(2, status=502)
    async with bot_for(tg) as bot:
        with pytest.raises(RetryAfter, match="Retry in 3"):
            await bot.send_message(OWNER, "one")
        for _ in range(2):
            with pytest.raises(NetworkError):
                await bot.send_message(OWNER, "two")
        await bot.send_message(OWNER, "three")
    assert [m.text for m in tg.sent_to(OWNER)] == ["three"]
    assert [c.status for c in tg.calls_to("sendMessage", ok_only=False)] == [429, 502, 502, 200]


async def test_long_poll_holds_until_an_update_arrives_and_honours_offset(
    tg: TelegramStandIn,
) -> None:
    async with bot_for(tg) as bot:
        started = time.monotonic()
        assert await bot.get_updates(timeout=1) == ()
        assert time.monotonic() - started >= 1, "an empty long poll must be held"

        poll = asyncio.create_task(bot.get_updates(timeout=10))
        await tg.wait_until(lambda: tg.polls_waiting == 1)
        tg.push_command(OWNER, "/portfolio")
        [update] = await asyncio.wait_for(poll, 5)
        message = update.message
        assert message is not None and message.from_user is not None
        assert message.text == "/portfolio"
        assert message.from_user.id == OWNER
        assert message.entities[0].type == "bot_command"

        tg.push_callback(OWNER, "ap:abc", message_id=7)
        again = await bot.get_updates(offset=update.update_id, timeout=0)
        assert [u.update_id for u in again] == [update.update_id, update.update_id + 1]
        rest = await bot.get_updates(offset=update.update_id + 1, timeout=0)
        query = rest[0].callback_query
        assert query is not None
        assert query.data == "ap:abc"
        assert query.from_user.id == OWNER
        assert await bot.get_updates(offset=update.update_id + 2, timeout=0) == ()


async def test_wait_for_gives_up_after_its_timeout(tg: TelegramStandIn) -> None:
    with pytest.raises(TimeoutError):
        await tg.wait_for_method("sendMessage", timeout=0.1)


async def test_stopping_answers_a_held_long_poll() -> None:
    tg = TelegramStandIn()
    await tg.start()
    async with bot_for(tg) as bot:
        poll = asyncio.create_task(bot.get_updates(timeout=30))
        await tg.wait_until(lambda: tg.polls_waiting == 1)
        started = time.monotonic()
        await tg.stop()
        assert await asyncio.wait_for(poll, 5) == ()
        assert time.monotonic() - started < 5
