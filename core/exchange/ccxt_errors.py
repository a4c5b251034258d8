"""Turning ccxt's exceptions and log lines into Ballast's words, without ever leaking a secret.

`translate` maps a ccxt exception to a `core.exchange.errors` type with a message a trader can
act on; `Redactor` removes API keys and secrets from any text (messages and ccxt's own debug
log, which prints request headers, key included).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from core.exchange.ccxt_loader import ccxt
from core.exchange.errors import (
    AuthenticationFailed,
    BelowMinimum,
    ExchangeError,
    ExchangeUnavailable,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    RateLimited,
)
from core.runtime.logs import redact

_QUERY = re.compile(r"\?\S*")
_URL = re.compile(r"https?://\S+")
# ccxt puts the exchange's JSON error body at the end of its messages.
_JSON_TAIL = re.compile(r"(\{.*\})\s*$", re.DOTALL)
_MIN_SECRET_LENGTH = 4


class Redactor:
    """Replaces each known secret in a text with `***`."""

    def __init__(self, secrets: Iterable[str | None]) -> None:
        self._secrets = sorted({s for s in secrets if s and len(s) >= _MIN_SECRET_LENGTH},
                               key=len, reverse=True)

    def __call__(self, text: str) -> str:
        return redact(text, self._secrets, "***")


class RedactingLogger:
    """A logger for ccxt (it logs request headers at DEBUG) that redacts secrets first."""

    def __init__(self, logger: logging.Logger, redact: Redactor) -> None:
        self._logger = logger
        self._redact = redact

    def _log(self, level: int, msg: object, *args: object) -> None:
        if self._logger.isEnabledFor(level):
            text = str(msg) % args if args else str(msg)
            self._logger.log(level, "%s", self._redact(text))

    def debug(self, msg: object, *args: object, **_: Any) -> None:
        self._log(logging.DEBUG, msg, *args)

    def info(self, msg: object, *args: object, **_: Any) -> None:
        self._log(logging.INFO, msg, *args)

    def warning(self, msg: object, *args: object, **_: Any) -> None:
        self._log(logging.WARNING, msg, *args)

    def error(self, msg: object, *args: object, **_: Any) -> None:
        self._log(logging.ERROR, msg, *args)


def parse_retry_after(headers: Any) -> float | None:
    """Seconds from a `Retry-After` header (seconds or an HTTP date), or None."""
    if not isinstance(headers, dict):
        return None
    value = next((v for k, v in headers.items() if str(k).lower() == "retry-after"), None)
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def exchange_detail(error: BaseException) -> str:
    """What the exchange said, without URLs or query strings: its `msg` and code when known."""
    text = str(error)
    match = _JSON_TAIL.search(text)
    if match:
        try:
            body = json.loads(match.group(1))
        except json.JSONDecodeError:
            body = None
        if isinstance(body, dict) and "msg" in body:
            code = f" (code {body['code']})" if "code" in body else ""
            return f"{body['msg']}{code}"
    text = _URL.sub(lambda m: _QUERY.sub("", m.group(0)), text)
    return " ".join(text.split()[1:]) if " " in text else text


def translate(error: BaseException, exchange: str, action: str, redact: Redactor) -> ExchangeError:
    """The Ballast error for a ccxt exception raised while doing `action` on `exchange`."""
    detail = redact(exchange_detail(error))
    said = f": {detail}" if detail else ""

    def msg(what: str) -> str:
        return redact(f"{exchange} {action}: {what}{said}")

    if isinstance(error, ccxt.OrderNotFound):
        return OrderNotFound(msg("the exchange has no such order"))
    if isinstance(error, ccxt.InsufficientFunds):
        return InsufficientFunds(msg("the account does not hold enough for this order"))
    if isinstance(error, ccxt.AuthenticationError) or "-2015" in detail:
        # ccxt reports Binance's -2015 as a rate limit once a key has worked, because Binance
        # also sends it during a temporary IP ban; a revoked or restricted key sends the same.
        # Retrying cannot fix a revoked key, so it is reported as the key problem it names.
        return AuthenticationFailed(msg(
            "the exchange refused the API key or secret, or the key lacks the permission "
            "(check BALLAST_EXCHANGE_API_KEY / BALLAST_EXCHANGE_API_SECRET and the key's "
            "settings on the exchange)"))
    if isinstance(error, ccxt.DDoSProtection | ccxt.RateLimitExceeded):
        retry_after = getattr(error, "retry_after", None)
        wait = f"; retry after {retry_after:g} s" if retry_after is not None else ""
        return RateLimited(msg(f"rate limited by the exchange{wait}"), retry_after)
    if isinstance(error, ccxt.InvalidNonce):
        return ExchangeError(msg("the exchange refused the request's timestamp; check that "
                                 "this server's clock is synchronised"))
    if isinstance(error, ccxt.RequestTimeout):
        return ExchangeUnavailable(msg("the exchange did not answer in time"))
    if isinstance(error, ccxt.OnMaintenance):
        return ExchangeUnavailable(msg("the exchange is in maintenance"))
    if is_transient(error):
        return ExchangeUnavailable(msg("the exchange could not be reached or failed to answer"))
    if isinstance(error, ccxt.BadSymbol):
        return InvalidOrder(msg("the exchange does not list this market"))
    if "NOTIONAL" in detail:
        return BelowMinimum(msg("the order's value is below the market's minimum"))
    if "LOT_SIZE" in detail:
        return InvalidOrder(msg("the amount breaks the market's lot size (minimum or step)"))
    if isinstance(error, ccxt.InvalidOrder | ccxt.BadRequest):
        return InvalidOrder(msg("the exchange rejected the order"))
    return ExchangeError(msg("the exchange refused the request"))


def http_status(error: BaseException) -> int:
    """The HTTP status of the response that caused a ccxt error (0 when unknown)."""
    status = getattr(error, "http_status", 0)
    return status if isinstance(status, int) else 0


def is_transient(error: BaseException) -> bool:
    """A failure that says nothing about the request's fate: network trouble or a 5xx.

    ccxt maps Binance's 5xx error codes (e.g. -1008 "overloaded") to its network classes only
    for Binance's own hosts, so behind BALLAST_EXCHANGE_API_URL the HTTP status decides.
    """
    return isinstance(error, ccxt.OperationFailed) or http_status(error) >= 500


def instrument_errors(client: Any) -> None:
    """Make a ccxt client attach the response's HTTP status and Retry-After to its errors.

    ccxt raises from `handle_errors` (which sees the response headers) or right after from
    `handle_http_status_code` (which does not). The two run back to back with no await in
    between, so the headers the first keeps belong to the second's response.
    """
    handle_errors = client.handle_errors
    handle_status = client.handle_http_status_code
    last_headers: dict[str, Any] = {}

    def errors(code: Any, reason: Any, url: Any, method: Any, headers: Any, *rest: Any) -> Any:
        last_headers.clear()
        last_headers.update(headers if isinstance(headers, dict) else {})
        try:
            return handle_errors(code, reason, url, method, headers, *rest)
        except ccxt.BaseError as error:
            error.http_status = code
            error.retry_after = parse_retry_after(headers)
            raise

    def status(code: Any, *rest: Any) -> Any:
        try:
            return handle_status(code, *rest)
        except ccxt.BaseError as error:
            error.http_status = code
            error.retry_after = parse_retry_after(last_headers)
            raise

    client.handle_errors = errors
    client.handle_http_status_code = status
