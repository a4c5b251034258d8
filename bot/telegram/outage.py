"""Telegram being unreachable is an outage, not an error per request.

While the Bot API cannot be reached, python-telegram-bot fails every long poll and every send;
by default it logs each failed poll with a full traceback (650 KB of log in 20 minutes) and
our rate limiter logged each retry. Here every request goes through `WatchedRequest`, which
tells one `Outage` whether Telegram answered: the outage is logged once when it starts and
once when it ends, with how long it lasted and how many requests failed.

Shutting down during an outage should not wait for a server that does not answer:
`Outage.give_up()` makes further requests fail at once (the outbox keeps what was not sent).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.request import HTTPXRequest, RequestData

log = logging.getLogger(__name__)

# A 5xx answer means Telegram's side is down, as much as a connection that fails.
_SERVER_ERROR = 500


class Outage:
    """Whether Telegram answers, logged as one line when it stops and one when it is back."""

    def __init__(self, redact: Callable[[str], str] = lambda text: text,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._redact = redact
        self._clock = clock
        self.since: float | None = None
        self.failures = 0
        self.giving_up = False
        self.token_refused = False
        # Called once when Telegram first refuses the token (the bot holds planning).
        self.on_token_refused: Callable[[], None] | None = None

    @property
    def down(self) -> bool:
        """Whether the last request failed for want of Telegram."""
        return self.since is not None

    def failed(self, reason: str) -> None:
        """A request got no answer (or a 5xx): the first one of an outage is logged."""
        self.failures += 1
        if self.since is None:
            self.since = self._clock()
            log.warning("Telegram is unreachable (%s); retrying quietly, messages wait in the "
                        "outbox", self._redact(reason))

    def answered(self) -> None:
        """A request got an answer: an outage, if there was one, is over."""
        if self.since is None:
            return
        lasted = self._clock() - self.since
        log.info("Telegram answers again after %.0f s (%d requests failed meanwhile)",
                    lasted, self.failures)
        self.since = None
        self.failures = 0

    def refused_token(self) -> None:
        """Telegram answered 401: the token was revoked (or replaced). Said once, not per poll."""
        if self.token_refused:
            return
        self.token_refused = True
        log.error("Telegram refused the bot token (revoked at @BotFather?): no new plans are "
                  "made, since none could reach you; set BALLAST_TELEGRAM_TOKEN to the bot's "
                  "current token and restart Ballast")
        if self.on_token_refused is not None:
            self.on_token_refused()

    def give_up(self) -> None:
        """Shutting down: during an outage, fail further requests at once instead of waiting
        for connections and timeouts."""
        self.giving_up = True

    def carry_on(self) -> None:
        """Starting (again, after a start that failed): requests go out as usual."""
        self.giving_up = False


class WatchedRequest(HTTPXRequest):
    """python-telegram-bot's httpx transport, reporting each request's fate to an `Outage`."""

    def __init__(self, outage: Outage, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.outage = outage

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        """Send one request; a network failure or a 5xx counts towards the outage."""
        if self.outage.giving_up and self.outage.down:
            raise NetworkError("stopping during an outage: not waiting for Telegram")
        try:
            code, payload = await super().do_request(
                url, method, request_data, read_timeout, write_timeout, connect_timeout,
                pool_timeout,
            )
        except NetworkError as error:  # TimedOut included
            self.outage.failed(f"{type(error).__name__}: {error}")
            raise
        if code == HTTPStatus.UNAUTHORIZED:
            self.outage.refused_token()
        elif code >= _SERVER_ERROR:
            self.outage.failed(f"HTTP {code}")
        else:
            self.outage.answered()
        return code, payload


def polling_error(outage: Outage) -> Callable[[TelegramError], None]:
    """The Updater's `error_callback`: network trouble is the outage's to log (once); any other
    polling error (another process polling with the same token, say) is one line each time,
    never a traceback."""

    def on_error(error: TelegramError) -> None:
        if isinstance(error, NetworkError | InvalidToken):
            return  # the outage, or the refused token, was logged once already
        log.warning("polling Telegram failed: %s: %s", type(error).__name__, error)

    return on_error


class QuietNetworkErrors(logging.Filter):
    """Drops the traceback from python-telegram-bot's log records about network errors (its
    last `get_updates` on shutdown logs one): the message and the error's name stay, as a
    warning — the outage is not Ballast's error, and its start was logged already."""

    LOGGERS = ("telegram.ext.Updater", "telegram.ext.Application", "telegram.ext.ExtBot")

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, NetworkError | InvalidToken):  # a refused token is logged by Outage
            record.msg = f"{record.getMessage()} ({type(exc).__name__}: {exc})"
            record.args = None
            record.exc_info = None
            record.exc_text = None
            if record.levelno > logging.WARNING:
                record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True

    @classmethod
    def install(cls) -> None:
        """Attach the filter to python-telegram-bot's loggers (once)."""
        for name in cls.LOGGERS:
            logger = logging.getLogger(name)
            if not any(isinstance(f, cls) for f in logger.filters):
                logger.addFilter(cls())
