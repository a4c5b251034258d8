"""Structured logs: one line per event, to stderr and a rotating file, with every secret scrubbed.

A line reads `2026-11-24T12:00:00.123Z level=info event=plan logger=core.engine.loop
msg="plan a1b2 proposed" approval=a1b2 trades=2` — one line whatever happened, tracebacks
included (their line breaks are escaped), so `grep event=order ballast.log` finds every order.

Secrets (exchange keys, the bot token) are removed twice: a filter on each handler rewrites the
record's message, arguments and traceback, and the formatter scrubs the finished line again, so
neither a library that logs a URL with the token in it nor an exception quoting a key can leak.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

from pydantic import SecretStr

REDACTED = "[redacted]"
# Shorter strings would scrub ordinary words out of the logs; real keys and tokens are long.
MIN_SECRET_LENGTH = 6
# Libraries whose INFO lines are noise at best; httpx's also name the Bot API URL with the token.
QUIET_LOGGERS = ("httpx", "httpcore", "aiosqlite", "telegram.ext.Updater", "asyncio")
_HANDLER_MARK = "_ballast_handler"
_RECORD_FIELDS = "ballast_fields"
_RECORD_EVENT = "ballast_event"


class SecretScrubber:
    """Replaces every known secret (and its URL-encoded forms) in a text with `[redacted]`."""

    def __init__(self, secrets: Iterable[str]) -> None:
        variants: set[str] = set()
        for secret in secrets:
            for part in _secret_parts(secret):
                variants.update({part, quote(part, safe=""), quote(part)})
        # Longest first, so a secret containing another is replaced whole.
        self._variants = sorted(
            (v for v in variants if len(v) >= MIN_SECRET_LENGTH), key=len, reverse=True
        )

    def __bool__(self) -> bool:
        return bool(self._variants)

    def scrub(self, text: str) -> str:
        """`text` with every secret replaced."""
        return redact(text, self._variants)


def redact(text: str, secrets: Iterable[str], mark: str = REDACTED) -> str:
    """`text` with every non-empty string of `secrets` replaced by `mark`.

    Longest first, so a secret containing another is replaced whole. Which strings count
    (a minimum length, encoded forms) is the caller's choice: `SecretScrubber` for the logs,
    `core.exchange.ccxt_errors.Redactor` for exchange errors, the Telegram app for its token.
    """
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, mark)
    return text


def _secret_parts(secret: str) -> list[str]:
    """The secret, and for a bot token (`123456:AA…`) its secret half on its own too."""
    secret = secret.strip()
    if not secret:
        return []
    parts = [secret]
    _, colon, tail = secret.partition(":")
    if colon and len(tail) >= MIN_SECRET_LENGTH:
        parts.append(tail)
    return parts


def secrets_of(settings: Any) -> list[str]:
    """The secret values in `settings` (every `SecretStr` field that is set)."""
    found = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            found.append(value.get_secret_value())
    return found


class RedactSecrets(logging.Filter):
    """Rewrites each record so its message, arguments and traceback carry no secret."""

    def __init__(self, scrubber: SecretScrubber) -> None:
        super().__init__()
        self.scrubber = scrubber

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the line (or raise at the caller)
            message = f"{record.msg!r} {record.args!r}"
        record.msg = self.scrubber.scrub(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.scrubber.scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = self.scrubber.scrub(record.stack_info)
        fields = getattr(record, _RECORD_FIELDS, None)
        if isinstance(fields, dict):
            setattr(record, _RECORD_FIELDS,
                    {k: self.scrubber.scrub(str(v)) for k, v in fields.items()})
        return True


class KeyValueFormatter(logging.Formatter):
    """Formats a record as one `key=value` line (logfmt), scrubbing secrets from the result."""

    def __init__(self, scrubber: SecretScrubber | None = None) -> None:
        super().__init__()
        self.scrubber = scrubber or SecretScrubber(())

    def format(self, record: logging.LogRecord) -> str:
        at = datetime.fromtimestamp(record.created, UTC)
        pairs: list[tuple[str, object]] = [
            ("level", record.levelname.lower()),
            ("event", event_name(record)),
            ("logger", record.name),
            ("msg", record.getMessage()),
        ]
        fields = getattr(record, _RECORD_FIELDS, None)
        if isinstance(fields, dict):
            pairs.extend(fields.items())
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            pairs.append(("exc", record.exc_text))
        if record.stack_info:
            pairs.append(("stack", record.stack_info))
        line = f"{at:%Y-%m-%dT%H:%M:%S}.{at.microsecond // 1000:03d}Z " + " ".join(
            f"{key}={logfmt_value(value)}" for key, value in pairs
        )
        return self.scrubber.scrub(line)


class TerminalFormatter(KeyValueFormatter):
    """A record as a terminal line in the shape of `ballast run`'s event lines: `18:48:01
    warning: message key=value …` (UTC time; the level named from warning up), scrubbed too.

    A person at a terminal reads one format, not logfmt between the event lines; a journal or
    a file (not a terminal) keeps the `key=value` lines that tools parse."""

    def format(self, record: logging.LogRecord) -> str:
        at = datetime.fromtimestamp(record.created, UTC)
        level = f"{record.levelname.lower()}: " if record.levelno >= logging.WARNING else ""
        parts = [f"{at:%H:%M:%S} {level}{record.getMessage()}"]
        fields = getattr(record, _RECORD_FIELDS, None)
        if isinstance(fields, dict):
            parts.extend(f"{key}={logfmt_value(value)}" for key, value in fields.items())
        line = " ".join(parts)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line += "\n" + record.exc_text
        return self.scrubber.scrub(line)


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except ValueError:  # a closed stream
        return False


def event_name(record: logging.LogRecord) -> str:
    """The record's event: given with `log_event`, else `error` or `log` by level."""
    given = getattr(record, _RECORD_EVENT, None)
    if isinstance(given, str) and given:
        return given
    return "error" if record.levelno >= logging.ERROR else "log"


def logfmt_value(value: object) -> str:
    """A value as logfmt: bare when simple, else quoted with `"`, `\\` and line breaks escaped."""
    text = "" if value is None else str(value)
    if text and all(c.isalnum() or c in "-_.:/+@%,[]" for c in text):
        return text
    escaped = (
        text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    )
    return f'"{escaped}"'


def log_event(
    logger: logging.Logger,
    event: str,
    message: str,
    level: int = logging.INFO,
    **fields: object,
) -> None:
    """Log one structured line: `event=<event>`, the message, and `fields` as key=value pairs."""
    logger.log(level, message, extra={_RECORD_EVENT: event, _RECORD_FIELDS: dict(fields)})


def parse_line(line: str) -> dict[str, str]:
    """Read a log line back into its fields (the timestamp under `at`); for tests and tools."""
    at, _, rest = line.rstrip("\n").partition(" ")
    fields = {"at": at}
    i = 0
    while i < len(rest):
        eq = rest.index("=", i)
        key = rest[i:eq]
        i = eq + 1
        if i < len(rest) and rest[i] == '"':
            i += 1
            chars: list[str] = []
            while rest[i] != '"':
                if rest[i] == "\\":
                    i += 1
                    chars.append({"n": "\n", "r": "\r"}.get(rest[i], rest[i]))
                else:
                    chars.append(rest[i])
                i += 1
            value = "".join(chars)
            i += 1
        else:
            end = rest.find(" ", i)
            end = len(rest) if end < 0 else end
            value = rest[i:end]
            i = end
        fields[key] = value
        i += 1  # the space between pairs
    return fields


def configure_logging(
    secrets: Iterable[str],
    *,
    level: int | str = logging.INFO,
    log_file: Path | None = None,
    max_bytes: int = 5_000_000,
    backups: int = 5,
    stream: TextIO | None = None,
    quiet: Mapping[str, int] | None = None,
    console_skip: Iterable[str] = (),
) -> list[logging.Handler]:
    """Send the root logger's records to `stream` (stderr) and a rotating `log_file`: as
    `key=value` lines, but as `TerminalFormatter` lines when `stream` is a terminal.

    Records of the loggers named in `console_skip` (and their children) go to the file only:
    for a console that already shows them in its own words (`ballast run`'s event lines).
    Calling it again replaces the handlers it installed before (nothing else's). Returns the
    handlers, so a caller can close them.
    """
    scrubber = SecretScrubber(secrets)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_MARK, False):
            root.removeHandler(handler)
            handler.close()
    console = logging.StreamHandler(stream or sys.stderr)
    skipped = tuple(console_skip)
    if skipped:
        console.addFilter(lambda record: not any(
            record.name == name or record.name.startswith(name + ".") for name in skipped))
    handlers: list[logging.Handler] = [console]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(
            logging.handlers.RotatingFileHandler(
                log_file, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
            )
        )
    for handler in handlers:
        handler.addFilter(RedactSecrets(scrubber))
        handler.setFormatter(KeyValueFormatter(scrubber))
        setattr(handler, _HANDLER_MARK, True)
        root.addHandler(handler)
    if _is_terminal(console.stream):
        console.setFormatter(TerminalFormatter(scrubber))
    root.setLevel(level)
    for name, quiet_level in (quiet or dict.fromkeys(QUIET_LOGGERS, logging.WARNING)).items():
        logging.getLogger(name).setLevel(quiet_level)
    return handlers


def configure_from_settings(settings: Any, *, verbose: bool = False,
                            stream: TextIO | None = None,
                            console_skip: Iterable[str] = ()) -> list[logging.Handler]:
    """`configure_logging` with the secrets, level and log file named in `settings`."""
    level = logging.DEBUG if verbose else settings.log_level
    return configure_logging(
        secrets_of(settings),
        level=level,
        log_file=settings.log_file,
        max_bytes=settings.log_max_bytes,
        backups=settings.log_backups,
        stream=stream,
        console_skip=console_skip,
    )

