"""Structured logs: one line per event, stderr and a rotating file, secrets never written."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from core.config.settings import load_settings
from core.domain.models import Side, SignalKind, TradeReason
from core.engine.approvals import ApprovalState
from core.engine.events import (
    ApprovalClosed,
    CashBelowMinimum,
    Event,
    EventBus,
    ExchangeRecovered,
    ExchangeTrouble,
    ExecutionFailed,
    OrderResult,
    PlanExecuted,
    PlanProposed,
    SignalChanged,
)
from core.engine.orders import OrderState
from core.ops.event_log import event_lines, log_events
from core.runtime.logs import (
    REDACTED,
    SecretScrubber,
    configure_from_settings,
    configure_logging,
    log_event,
    logfmt_value,
    parse_line,
    redact,
    secrets_of,
)
from core.storage.store import Store
from tests.engine_support import (
    paper_rig,
    plan_of,
    trade,
)

KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
TOKEN = "7123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
T = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.fixture
def logs(tmp_path: Path) -> Iterator[tuple[io.StringIO, Path]]:
    """Ballast's logging with the three secrets, to a string and a file; undone afterwards."""
    stream = io.StringIO()
    log_file = tmp_path / "logs" / "ballast.log"
    root = logging.getLogger()
    level = root.level
    handlers = configure_logging([KEY, SECRET, TOKEN], log_file=log_file, stream=stream)
    yield stream, log_file
    for handler in handlers:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)


def lines_of(stream: io.StringIO, log_file: Path) -> tuple[list[str], list[str]]:
    return stream.getvalue().splitlines(), log_file.read_text().splitlines()


def test_each_event_is_one_parseable_line_in_both_places(
    logs: tuple[io.StringIO, Path],
) -> None:
    stream, log_file = logs
    log = logging.getLogger("ballast.test")
    log_event(log, "order", "sell 0.5 ETH filled", asset="ETH", amount=Decimal("0.5"),
              detail='partly "filled"\nthen done')
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        log.exception("scan failed")
    errors, in_file = lines_of(stream, log_file)
    assert errors == in_file
    assert len(errors) == 2  # the traceback stays on its error's line
    order, error = (parse_line(line) for line in errors)
    assert order["event"] == "order" and order["level"] == "info"
    assert order["msg"] == "sell 0.5 ETH filled"
    assert order["asset"] == "ETH" and order["amount"] == "0.5"
    assert order["detail"] == 'partly "filled"\nthen done'
    assert order["logger"] == "ballast.test"
    assert datetime.fromisoformat(order["at"]).tzinfo is not None
    assert error["event"] == "error" and error["level"] == "error"
    assert "ValueError: boom\nsecond line" in error["exc"]


def test_plain_library_records_are_lines_too(logs: tuple[io.StringIO, Path]) -> None:
    stream, log_file = logs
    logging.getLogger("some.library").warning("retrying %s in %.1fs", "getMe", 0.5)
    (line,) = lines_of(stream, log_file)[0]
    fields = parse_line(line)
    assert fields["event"] == "log" and fields["level"] == "warning"
    assert fields["msg"] == "retrying getMe in 0.5s"


def test_secrets_never_reach_stderr_or_the_file(logs: tuple[io.StringIO, Path]) -> None:
    """Every way a secret could slip in: message, arguments, fields, tracebacks, URLs."""
    stream, log_file = logs
    log = logging.getLogger("ballast.test")
    log.info("key %s secret %s", KEY, SECRET)
    log.info(f"HTTP Request: POST https://api.telegram.org/bot{TOKEN}/getUpdates")
    log.info("encoded: %s", TOKEN.replace(":", "%3A"))
    log.info("only the token's secret half: %s", TOKEN.split(":")[1])
    log_event(log, "order", "signed", signature=SECRET, headers={"X-MBX-APIKEY": KEY})
    try:
        raise RuntimeError(f"auth failed for {KEY}")
    except RuntimeError:
        log.exception("with traceback")
    log.warning("bad format %s %s", KEY)  # a broken call must still not leak
    errors, in_file = lines_of(stream, log_file)
    assert len(errors) == 7 and len(in_file) == 7
    text = stream.getvalue() + log_file.read_text()
    for secret in (KEY, SECRET, TOKEN, TOKEN.split(":")[1], TOKEN.replace(":", "%3A")):
        assert secret not in text
    assert text.count(REDACTED) >= 8
    assert "bot7123456789:[redacted]/getUpdates" in text or f"bot{REDACTED}" in text


def test_the_log_file_rotates(tmp_path: Path) -> None:
    root = logging.getLogger()
    level = root.level
    log_file = tmp_path / "ballast.log"
    handlers = configure_logging([], log_file=log_file, max_bytes=2_000, backups=2,
                                 stream=io.StringIO())
    try:
        for number in range(200):
            log_event(logging.getLogger("ballast.test"), "scan", f"scan {number}", n=number)
    finally:
        for handler in handlers:
            root.removeHandler(handler)
            handler.close()
        root.setLevel(level)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["ballast.log", "ballast.log.1", "ballast.log.2"]
    assert all(p.stat().st_size <= 2_000 for p in tmp_path.iterdir())
    assert parse_line(log_file.read_text().splitlines()[-1])["msg"] == "scan 199"


def test_configuring_again_replaces_only_ballasts_handlers() -> None:
    root = logging.getLogger()
    level = root.level
    other = logging.NullHandler()
    root.addHandler(other)
    first = configure_logging([], stream=io.StringIO())
    second = configure_logging([], stream=io.StringIO())
    try:
        assert other in root.handlers
        assert not set(first) & set(root.handlers)
        assert set(second) <= set(root.handlers)
    finally:
        for handler in [*second, other]:
            root.removeHandler(handler)
            handler.close()
        root.setLevel(level)


def test_settings_name_the_secrets_and_the_log_file(tmp_path: Path) -> None:
    settings = load_settings(env={
        "BALLAST_EXCHANGE_API_KEY": KEY, "BALLAST_EXCHANGE_API_SECRET": SECRET,
        "BALLAST_TELEGRAM_TOKEN": TOKEN, "BALLAST_LOG_FILE": str(tmp_path / "b.log"),
        "BALLAST_LOG_LEVEL": "warning",
    })
    assert sorted(secrets_of(settings)) == sorted([KEY, SECRET, TOKEN])
    root = logging.getLogger()
    level = root.level
    stream = io.StringIO()
    handlers = configure_from_settings(settings, stream=stream)
    try:
        logging.getLogger("x").info("not at warning level")
        logging.getLogger("x").warning("token %s", TOKEN)
    finally:
        for handler in handlers:
            root.removeHandler(handler)
            handler.close()
        root.setLevel(level)
    assert (tmp_path / "b.log").read_text() == stream.getvalue()
    assert stream.getvalue().count("\n") == 1 and TOKEN not in stream.getvalue()
    assert load_settings(env={"BALLAST_LOG_FILE": ""}).log_file is None


def test_scrubber_ignores_empty_and_short_values() -> None:
    scrubber = SecretScrubber(["", "  ", "abc"])
    assert not scrubber
    assert scrubber.scrub("abc def") == "abc def"


def test_redact_replaces_the_longest_secret_first_and_skips_empty_ones() -> None:
    text = "key=abcdef123 part=abcdef url=/bot1:abcdef123/x"
    assert redact(text, ["abcdef", "abcdef123", ""]) == (
        f"key={REDACTED} part={REDACTED} url=/bot1:{REDACTED}/x"
    )
    assert redact("token t0k3n here", ["t0k3n"], "<token>") == "token <token> here"
    assert redact("nothing secret", []) == "nothing secret"


def test_logfmt_values_are_bare_only_when_safe() -> None:
    assert logfmt_value("ETH") == "ETH"
    assert logfmt_value(Decimal("0.5")) == "0.5"
    assert logfmt_value(None) == '""'
    assert logfmt_value("a b") == '"a b"'
    assert logfmt_value("x=1") == '"x=1"'


def test_engine_events_become_the_promised_lines() -> None:
    """Plans, approvals, orders (one line each), errors: each with its event name."""
    sell = trade(Side.SELL, "ETH", "0.5", "3000", TradeReason.RAISE_CASH)
    filled = OrderResult("b-a1-0", "ETH", Side.SELL, Decimal("0.5"), OrderState.FILLED,
                         Decimal("0.5"), Decimal("3000"), Decimal("1.5"), "USDT")
    failed = OrderResult("b-a1-1", "SOL", Side.BUY, Decimal("2"), OrderState.REJECTED, Decimal(0),
                         None, Decimal(0), None, "insufficient balance")
    names: dict[str, Event] = {
        "signal": SignalChanged(T, "ETH", SignalKind.HOLD, SignalKind.SELL, -0.25),
        "plan": PlanProposed(T, "a1", plan_of(sell), T),
        "approval": ApprovalClosed(T, "a1", ApprovalState.REJECTED, "rejected by owner"),
        "alert": CashBelowMinimum(T, Decimal("0.05"), Decimal("0.2")),
        "error": ExchangeTrouble(T, "connection refused"),
        "exchange": ExchangeRecovered(T, T, 3),
    }
    for name, event in names.items():
        ((event_name, _, _, _),) = event_lines(event)
        assert event_name == name
    executed = event_lines(PlanExecuted(T, "a1", (filled,)))
    assert [line[0] for line in executed] == ["order", "approval"]
    assert executed[0][3]["fee"] == Decimal("1.5")
    broken = event_lines(ExecutionFailed(T, "a1", "SOL was rejected", (filled, failed)))
    assert [(line[0], line[1]) for line in broken] == [
        ("order", logging.INFO), ("order", logging.WARNING), ("approval", logging.ERROR)
    ]


async def test_log_events_follows_the_bus(logs: tuple[io.StringIO, Path]) -> None:
    stream, _ = logs
    bus = EventBus()
    subscription = bus.subscribe()
    bus.publish(ExchangeTrouble(T, f"401 for key {KEY}"))
    bus.publish(ExchangeRecovered(T, T, 2))
    task = asyncio.create_task(log_events(subscription))
    await asyncio.sleep(0)  # one turn: the task logs both queued events, then waits for more
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    events = [parse_line(line)["event"] for line in stream.getvalue().splitlines()]
    assert events == ["error", "exchange"]
    assert KEY not in stream.getvalue()


async def test_the_engine_logs_each_scan_and_approval(
    logs: tuple[io.StringIO, Path], tmp_path: Path
) -> None:
    stream, _ = logs
    async with await Store.open(tmp_path / "ballast.db") as store:
        rig = await paper_rig(store, {"USDT": "1000", "ETH": "2"})
        clock = rig.clock
        await rig.engine.scan(clock.now)
        approval = await rig.propose(plan_of(trade(Side.SELL, "ETH", "0.5", "3000",
                                                   TradeReason.RAISE_CASH)))
        await rig.engine.approve(approval.id, "owner", clock.advance(1))
        await rig.engine.approve(approval.id, "owner", clock.advance(1))  # a second tap
    lines = [parse_line(line) for line in stream.getvalue().splitlines()]
    scans = [line for line in lines if line["event"] == "scan"]
    approvals = [line for line in lines if line["event"] == "approval"]
    assert scans and scans[0]["total_value"] == "7000.00"
    assert [(a["ok"], a["by"]) for a in approvals] == [("True", "owner"), ("False", "owner")]
    assert approvals[1]["msg"].endswith("was already executed")


def test_by_default_no_log_file_is_written_into_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(env={})
    assert settings.log_file is None
    root = logging.getLogger()
    level = root.level
    handlers = configure_from_settings(settings, stream=io.StringIO())
    try:
        logging.getLogger("x").warning("something")
    finally:
        for handler in handlers:
            root.removeHandler(handler)
            handler.close()
        root.setLevel(level)
    assert list(tmp_path.iterdir()) == []


async def test_ballast_run_prints_each_event_once(tmp_path: Path) -> None:
    """`ballast run` prints events in words on stdout (`describe`); their `key=value` lines go
    to the log file, not to the console a second time. Other records still reach both."""
    from bot.cli.run import configure_run_logging

    settings = load_settings(env={"BALLAST_LOG_FILE": str(tmp_path / "b.log")})
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handlers = configure_run_logging(settings, stream=stream)
    try:
        bus = EventBus()
        subscription = bus.subscribe()
        bus.publish(ExchangeRecovered(T, T, 2))
        task = asyncio.create_task(log_events(subscription))
        await asyncio.sleep(0)  # one turn: the task logs the queued event, then waits
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        logging.getLogger("ballast.engine").warning("not an event line")
    finally:
        for handler in handlers:
            root.removeHandler(handler)
            handler.close()
        root.setLevel(level)
    console = stream.getvalue().splitlines()
    written = (tmp_path / "b.log").read_text().splitlines()
    assert [parse_line(line)["event"] for line in written] == ["exchange", "log"]
    assert len(console) == 1 and "not an event line" in console[0]


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_a_terminal_reads_one_format_and_a_journal_keeps_key_value_lines() -> None:
    for stream, logfmt in ((Terminal(), False), (io.StringIO(), True)):
        handlers = configure_logging(["s3cret"], stream=stream)
        try:
            log = logging.getLogger("ballast.test.terminal")
            log.warning("binance loading markets: retrying in 0.5 s (key s3cret)")
            log_event(log, "scan", "scan", total_value="12.00")
        finally:
            for handler in handlers:
                logging.getLogger().removeHandler(handler)
        lines = stream.getvalue().splitlines()
        assert "s3cret" not in stream.getvalue()
        if logfmt:
            assert all(" level=" in line for line in lines), lines
        else:
            assert re.fullmatch(r"\d\d:\d\d:\d\d warning: binance loading markets: retrying "
                                r"in 0\.5 s \(key \S+\)", lines[0]), lines
            assert re.fullmatch(r"\d\d:\d\d:\d\d scan total_value=12\.00", lines[1]), lines
