"""Before an owner is set: the bot tells whoever writes to it their own Telegram user id.

Until `BALLAST_TELEGRAM_OWNER_ID` is set nobody may use Ballast, so no portfolio, plan or
setting can be seen; the one thing the bot says — to anyone, in a private chat — is the
sender's own id and how to make it the owner. That is how a new owner finds their id.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from telegram import Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationBuilder, ContextTypes, TypeHandler

from bot.telegram.app import ALLOWED_UPDATES, HideUpdateContents, api_urls
from bot.telegram.views import View
from core.config.settings import Settings, SettingsError
from core.runtime.logs import log_event

log = logging.getLogger(__name__)


def owner_id_view(user_id: int) -> View:
    """Your id, and the one line that makes you the owner."""
    return View("\n".join([
        f"Your Telegram user id is <code>{user_id}</code>.",
        "",
        "To make this bot yours, put this line",
        f"<code>BALLAST_TELEGRAM_OWNER_ID={user_id}</code>",
        "in Ballast's environment file (.env)",
        "and restart Ballast.",
        "",
        "Until then this bot shows nothing else.",
    ]))


class OwnerSetupBot:
    """The bot while no owner is configured: answers each private message with the sender's id."""

    def __init__(self, settings: Settings, *, poll_timeout: int = 10) -> None:
        if settings.telegram_token is None:
            raise SettingsError("telegram_token: not set (BALLAST_TELEGRAM_TOKEN)")
        HideUpdateContents.install()
        self.poll_timeout = poll_timeout
        builder = ApplicationBuilder().token(settings.telegram_token.get_secret_value())
        if settings.telegram_api_url:
            base_url, base_file_url = api_urls(settings.telegram_api_url)
            builder = builder.base_url(base_url).base_file_url(base_file_url)
        self.application: Application[Any, Any, Any, Any, Any, Any] = builder.build()
        self.application.add_handler(TypeHandler(Update, self._tell_id))

    async def _tell_id(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        user = update.effective_user
        query = update.callback_query
        try:
            if query is not None:
                await query.answer()  # no data behind any button until there is an owner
                return
            chat = update.effective_chat
            if user is None or chat is None or chat.type != "private":
                return
            # Who, not what: the text of the message is never looked at or logged.
            log_event(log, "setup", "told a user their id (no owner is set yet)",
                      user=user.id)
            await context.bot.send_message(chat.id, owner_id_view(user.id).text,
                                           parse_mode=ParseMode.HTML)
        except TelegramError as error:
            log.warning("could not answer in setup mode: %s", type(error).__name__)

    async def start(self) -> None:
        """Connect and poll for messages."""
        app = self.application
        await app.initialize()
        await app.start()
        if app.updater is None:
            raise RuntimeError("the Telegram application was built without an updater")
        await app.updater.start_polling(timeout=self.poll_timeout,
                                        allowed_updates=ALLOWED_UPDATES)

    async def stop(self) -> None:
        """Stop polling and close the connection."""
        app = self.application
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
        await app.shutdown()


async def serve_owner_setup(settings: Settings, stop: asyncio.Event) -> None:
    """Run the setup bot until `stop` is set (what `ballast run` does without an owner id)."""
    bot = OwnerSetupBot(settings)
    log_event(log, "setup", "BALLAST_TELEGRAM_OWNER_ID is not set: the bot only tells each "
              "person who writes to it their user id; set it and restart", logging.WARNING)
    await bot.start()
    try:
        await stop.wait()
    finally:
        await bot.stop()
