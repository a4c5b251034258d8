"""Is the bot token one Telegram accepts? Asked once with `getMe`, before anything relies on it.

With a wrong token (`BALLAST_TELEGRAM_TOKEN=999:WRONG`) `ballast check` used to show ✓ and
`ballast run` planned for ever while logging `InvalidToken … retry_in=40`: the owner never saw a
plan. Now `ballast check` asks Telegram and names the fix, and `ballast run` stops at start.
"""

from __future__ import annotations

from telegram import Bot
from telegram.error import InvalidToken, TelegramError

from bot.telegram.app import api_urls
from core.config.settings import Settings
from core.exchange.check import Finding, Severity
from core.runtime.logs import redact

REFUSED = ("Telegram refused BALLAST_TELEGRAM_TOKEN (401 Unauthorized): copy the token again "
           "from @BotFather (/mybots → your bot → API Token); a token revoked there stops "
           "working at once")


class TokenRefused(Exception):
    """Telegram does not know the bot token (revoked, mistyped, or another bot's)."""


async def ask_telegram(settings: Settings) -> str:
    """The bot's @username if Telegram accepts the token; `TokenRefused` if it does not.

    Other failures (Telegram unreachable) raise `TelegramError`: they say nothing of the token.
    """
    if settings.telegram_token is None:
        raise TokenRefused("BALLAST_TELEGRAM_TOKEN is not set")
    token = settings.telegram_token.get_secret_value()
    # python-telegram-bot's own api.telegram.org unless BALLAST_TELEGRAM_API_URL names another.
    urls = api_urls(settings.telegram_api_url) if settings.telegram_api_url else None
    bot = Bot(token) if urls is None else Bot(token, base_url=urls[0], base_file_url=urls[1])
    try:
        async with bot:  # initialize() is the getMe call
            return f"@{bot.username}"
    except InvalidToken:
        raise TokenRefused(REFUSED) from None


async def telegram_finding(settings: Settings) -> Finding:
    """`ballast check`'s line on the bot token."""
    try:
        name = await ask_telegram(settings)
    except TokenRefused as error:
        return Finding("telegram", Severity.PROBLEM, str(error))
    except TelegramError as error:
        secret = settings.telegram_token.get_secret_value() if settings.telegram_token else ""
        text = redact(f"{type(error).__name__}: {error}", [secret], "<token>")
        return Finding("telegram", Severity.WARNING,
                       f"Telegram did not answer ({text}); the token was not checked")
    return Finding("telegram", Severity.OK, f"Telegram accepts the token of {name}")
