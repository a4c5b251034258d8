"""Getting messages to the owner: rate limits, Telegram hiccups, long texts, plan messages.

`PatientRateLimiter` is python-telegram-bot's `AIORateLimiter` (flood limits, `retry_after`)
that also waits out 5xx answers and dropped connections a few times with backoff, so an alert
sent while Telegram is having a bad minute arrives a little later instead of never.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from telegram import Bot, Message
from telegram.constants import ParseMode
from telegram.error import BadRequest, NetworkError
from telegram.ext import AIORateLimiter

from bot.telegram.format import CAPTION_LIMIT, split_message
from bot.telegram.outage import Outage
from bot.telegram.views import View
from core.runtime.retry import backoff_delay

log = logging.getLogger(__name__)

JSONDict = dict[str, Any]


class PatientRateLimiter(AIORateLimiter):
    """`AIORateLimiter` plus bounded retries with backoff on 5xx and network errors."""

    def __init__(
        self,
        *,
        network_retries: int = 5,
        first_backoff: float = 0.5,
        max_backoff: float = 30.0,
        flood_retries: int = 5,
    ) -> None:
        super().__init__(max_retries=flood_retries)
        self._network_retries = network_retries
        self._first_backoff = first_backoff
        self._max_backoff = max_backoff
        # Set by the bot: no retries once it is stopping during an outage.
        self.outage: Outage | None = None

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | JSONDict | list[JSONDict]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | JSONDict | list[JSONDict]:
        """Send through the flood limiter; on a 5xx or lost connection wait and try again."""
        attempt = 0
        while True:
            try:
                return await super().process_request(
                    callback, args, kwargs, endpoint, data, rate_limit_args
                )
            except BadRequest:
                raise  # our request is wrong: sending it again cannot help
            except NetworkError as error:
                attempt += 1
                # The first wait is `first_backoff` as given; then doubling, capped.
                delay = self._first_backoff if attempt == 1 else backoff_delay(
                    attempt, self._first_backoff, self._max_backoff)
                if attempt > self._network_retries or (
                        self.outage is not None and self.outage.giving_up):
                    raise
                # Debug only: an outage is logged once, by `Outage`, not once per retry.
                log.debug("Telegram %s failed (%s); retrying in %.1fs", endpoint,
                          type(error).__name__, delay)
                await asyncio.sleep(delay)


@dataclass(frozen=True, slots=True)
class MessageRef:
    """Where a bot message lives, to edit it later."""

    chat_id: int
    message_id: int


async def send_view(
    bot: Bot, chat_id: int, view: View, *, silent: bool = False, reply_to: int | None = None,
) -> Message:
    """Send `view`, split into several messages if it is too long; buttons go on the last.

    Only the last part may ring, and not even that one when `silent`; `reply_to` quotes a
    message (the plan an execution report belongs to)."""
    parts = split_message(view.text)
    message: Message | None = None
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        message = await bot.send_message(
            chat_id, part, parse_mode=ParseMode.HTML,
            reply_markup=view.buttons if last else None,
            disable_notification=silent or not last,
            reply_to_message_id=reply_to if index == 0 else None,
        )
    if message is None:  # split_message never returns an empty list
        raise ValueError("nothing to send")
    return message


async def edit_view(bot: Bot, where: MessageRef, view: View) -> None:
    """Replace a message's text and buttons; an unchanged or vanished message is left alone."""
    text = split_message(view.text)[0]
    try:
        # Without reply_markup Telegram drops the old buttons, which is what a result wants.
        await bot.edit_message_text(
            text, chat_id=where.chat_id, message_id=where.message_id,
            parse_mode=ParseMode.HTML, reply_markup=view.buttons,
        )
    except BadRequest as error:
        if "not modified" in str(error).lower():
            return
        if "not found" in str(error).lower():
            log.info("message %s to edit is gone", where.message_id)
            return
        raise


async def send_picture(bot: Bot, chat_id: int, png: bytes, caption: str) -> Message:
    """Send a PNG chart with a short HTML caption."""
    return await bot.send_photo(chat_id, png, caption=caption[:CAPTION_LIMIT],
                                parse_mode=ParseMode.HTML)
