"""The outbox: alerts wait in SQLite while delivery fails, then arrive in order, each once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from core.domain.models import Side, SignalKind, TradeReason
from core.engine.approvals import ApprovalState
from core.engine.events import (
    ApprovalClosed,
    CashBelowMinimum,
    EventBus,
    ExchangeRecovered,
    ExchangeTrouble,
    ExecutionFailed,
    OrderResult,
    PlanExecuted,
    PlanProposed,
    SignalChanged,
    SuspectData,
    SuspectDataCleared,
    TradingPaused,
)
from core.engine.orders import OrderState
from core.exchange.prices import ManualClock
from core.ops.backup import BackupsResumed, BackupTrouble
from core.ops.outbox import (
    LETTER_KINDS,
    SET_ASIDE,
    CodecError,
    Courier,
    Letter,
    Outbox,
    decode,
    encode,
    post_events,
)
from core.ops.summary import DailySummary, HoldingLine, SignalLine, TradeLine
from core.ops.watchdog import ScansFailing, ScansResumed
from core.storage.store import Store
from tests.engine_support import plan_of, trade

T = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
D = Decimal

RESULT = OrderResult("bl-a1-0", "ETH", Side.SELL, D("0.5"), OrderState.FILLED, D("0.5"),
                     D("3000.1"), D("1.50005"), "USDT", "")
SAMPLES: list[Letter] = [
    SignalChanged(T, "ETH", SignalKind.HOLD, SignalKind.SELL, -0.25, ("RSI(14) 78.4 > 70",)),
    PlanProposed(T, "a1", plan_of(trade(Side.SELL, "ETH", "0.5", "3000", TradeReason.RAISE_CASH)),
                 T + timedelta(minutes=10), auto=False, replaces="a0", reason="prices moved"),
    PlanExecuted(T, "a1", (RESULT,)),
    ExecutionFailed(T, "a1", "SOL rejected", (RESULT, OrderResult(
        "bl-a1-1", "SOL", Side.BUY, D("2"), OrderState.REJECTED, D(0), None, D(0), None,
        "no funds"))),
    ApprovalClosed(T, "a1", ApprovalState.EXPIRED, "no decision before it expired"),
    CashBelowMinimum(T, D("0.0497"), D("0.20")),
    ExchangeTrouble(T, "connection refused"),
    ExchangeRecovered(T, T - timedelta(minutes=5), 4),
    SuspectData(T, ("ETH has no usable price (was 3685)", "the USDT balance vanished")),
    SuspectDataCleared(T, T - timedelta(minutes=3)),
    DailySummary(
        at=T, quote="USDT", total_value=D("12632.5"), value_before=D("12000"),
        value_since=T - timedelta(days=1), cash_value=D("628"), cash_allocation=D("0.0497"),
        holdings=(HoldingLine("BTC", D("3175"), D("0.2513"), SignalKind.BUY),
                  HoldingLine("DOGE", D("20"), D("0.0016"), None)),
        trades=(TradeLine(T, "sell", "ETH", D("0.5"), D("3000"), D("1500"), D("1.5"), "USDT",
                          D("1.5")),),
        fees=D("1.5"), signals=(SignalLine("ETH", SignalKind.SELL, -0.25, True),), holds=3,
        attention=("Plan a1 waits for your decision.",),
    ),
    ScansFailing(T, T - timedelta(minutes=20), "boom"),
    ScansResumed(T, T - timedelta(minutes=20)),
    BackupTrouble(T, "the daily backup failed: database or disk is full"),
    BackupsResumed(T, T - timedelta(hours=2)),
    TradingPaused(T, "orders this database did not send are on the account: sell 0.5 ETH/USDT"),
]


def test_every_kind_of_letter_survives_the_database_exactly() -> None:
    assert {type(sample) for sample in SAMPLES} == set(LETTER_KINDS), (
        "a new kind of letter needs a sample here"
    )
    for sample in SAMPLES:
        kind, text = encode(sample)
        assert kind == type(sample).__name__
        assert decode(kind, text) == sample


def test_what_the_outbox_cannot_carry_is_refused_early() -> None:
    with pytest.raises(CodecError, match="not a kind of letter"):
        encode("hello")  # type: ignore[arg-type]
    with pytest.raises(CodecError, match="unknown letter kind"):
        decode("Telegram", "{}")
    with pytest.raises(CodecError, match="no longer reads"):
        decode("ExchangeTrouble", '{"at": "yesterday", "message": "x"}')


class Channel:
    """A delivery channel the test can break: records what got through, in order."""

    def __init__(self) -> None:
        self.received: list[Letter] = []
        self.down = False
        self.refuse: set[str] = set()
        self.attempts = 0

    async def deliver(self, letter: Letter) -> None:
        self.attempts += 1
        if self.down:
            raise ConnectionError("Telegram unreachable")
        if isinstance(letter, ExchangeTrouble) and letter.message in self.refuse:
            raise ValueError("message is malformed")
        self.received.append(letter)


def trouble(number: int) -> ExchangeTrouble:
    return ExchangeTrouble(T + timedelta(seconds=number), f"outage {number}")


def courier(outbox: Outbox, channel: Channel, clock: ManualClock | None = None) -> Courier:
    return Courier(outbox, channel.deliver, clock or ManualClock(T),
                   is_permanent=lambda error: isinstance(error, ValueError),
                   permanent_attempts=2)


async def test_letters_arrive_in_the_order_posted_each_once(store: Store) -> None:
    outbox = Outbox(store)
    channel = Channel()
    numbers = [await outbox.post(trouble(n), T) for n in range(5)]
    assert numbers == sorted(numbers)
    assert await courier(outbox, channel).deliver_waiting()
    assert channel.received == [trouble(n) for n in range(5)]
    assert await courier(outbox, channel).deliver_waiting()
    assert len(channel.received) == 5
    assert await outbox.count() == 0 and await outbox.count("delivered") == 5
    assert not await outbox.mark_delivered(numbers[0], T)  # already delivered: no second time


async def test_while_delivery_fails_nothing_is_lost_and_nothing_overtakes(store: Store) -> None:
    outbox = Outbox(store)
    channel = Channel()
    carrier = courier(outbox, channel)
    channel.down = True
    for n in range(3):
        await outbox.post(trouble(n), T)
    assert not await carrier.deliver_waiting()
    assert not await carrier.deliver_waiting()
    assert channel.attempts == 2  # only the first letter was tried, and it stays first
    assert await outbox.count() == 3
    assert carrier.pause() == 2.0  # backing off: 1 s after the first failure, 2 s now …
    channel.down = False
    await outbox.post(trouble(3), T)
    assert await carrier.deliver_waiting()
    assert channel.received == [trouble(n) for n in range(4)]
    assert carrier.failures == 0 and carrier.pause() == 1.0


def test_pauses_double_up_to_a_ceiling(store: Store) -> None:
    carrier = Courier(Outbox(store), Channel().deliver, ManualClock(T), first_pause=1.0,
                      max_pause=60.0)
    pauses = []
    for failures in range(9):
        carrier.failures = failures
        pauses.append(carrier.pause())
    assert pauses == [1.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]


async def test_a_letter_refused_for_good_is_set_aside_not_blocking(store: Store) -> None:
    outbox = Outbox(store)
    channel = Channel()
    channel.refuse = {"outage 1"}
    carrier = courier(outbox, channel)
    for n in range(3):
        await outbox.post(trouble(n), T)
    assert not await carrier.deliver_waiting()  # first refusal: maybe a fluke, try again later
    assert channel.received == [trouble(0)]
    assert await carrier.deliver_waiting()  # second refusal: set aside, the rest goes on
    assert channel.received == [trouble(0), trouble(2)]
    assert await outbox.count(SET_ASIDE) == 1 and await outbox.count() == 0


async def test_an_unreadable_letter_is_set_aside(store: Store) -> None:
    outbox = Outbox(store)
    await store.conn.execute(
        "INSERT INTO outbox (created_at, kind, payload, state) VALUES (?, 'Gone', '{}', 'waiting')",
        ("2026-11-24T12:00:00.000000Z",),
    )
    await outbox.post(trouble(1), T)
    channel = Channel()
    assert await courier(outbox, channel).deliver_waiting()
    assert channel.received == [trouble(1)]
    assert await outbox.count(SET_ASIDE) == 1


async def test_waiting_letters_survive_a_restart_and_arrive_once(tmp_path: Path) -> None:
    """Telegram down, Ballast stops with alerts waiting; the next Ballast delivers them once."""
    path = tmp_path / "ballast.db"
    first_channel = Channel()
    first_channel.down = True
    async with await Store.open(path) as first:
        outbox = Outbox(first)
        for n in range(4):
            await outbox.post(trouble(n), T)
        await outbox.mark_delivered((await outbox.waiting())[0].id, T)  # one got out before
        assert not await courier(outbox, first_channel).deliver_waiting()

    second_channel = Channel()
    async with await Store.open(path) as second:
        assert await courier(Outbox(second), second_channel).deliver_waiting()
    assert second_channel.received == [trouble(1), trouble(2), trouble(3)]

    third_channel = Channel()
    async with await Store.open(path) as third:
        assert await courier(Outbox(third), third_channel).deliver_waiting()
    assert third_channel.received == []


async def test_engine_events_are_posted_as_they_happen(store: Store) -> None:
    bus = EventBus()
    outbox = Outbox(store)
    engine_events = SAMPLES[:8]
    subscription = bus.subscribe()
    task = asyncio.create_task(post_events(subscription, outbox, ManualClock(T)))
    for sample in engine_events:
        bus.publish(sample)  # type: ignore[arg-type]
    async with asyncio.timeout(5):
        while True:
            outbox.arrived.clear()
            if await outbox.count() >= len(engine_events):
                break
            await outbox.arrived.wait()
    task.cancel()
    posted = await outbox.waiting()
    assert [decode(p.kind, p.text) for p in posted] == engine_events


async def test_the_courier_runs_until_stopped_and_wakes_for_new_letters(store: Store) -> None:
    outbox = Outbox(store)
    stop = asyncio.Event()
    delivered: list[Letter] = []
    got_first = asyncio.Event()

    async def deliver(letter: Letter) -> None:
        delivered.append(letter)
        got_first.set()
        if len(delivered) == 2:
            stop.set()

    carrier = Courier(outbox, deliver, ManualClock(T), idle_check=3600)
    runner = asyncio.create_task(carrier.run(stop))
    await outbox.post(trouble(1), T)
    await asyncio.wait_for(got_first.wait(), 5)
    await outbox.post(trouble(2), T)  # wakes the idle courier at once (idle_check is an hour)
    await asyncio.wait_for(runner, 5)
    assert delivered == [trouble(1), trouble(2)]


async def test_delivered_letters_are_pruned_waiting_ones_kept(store: Store) -> None:
    outbox = Outbox(store)
    for n in range(3):
        await outbox.post(trouble(n), T)
    first = (await outbox.waiting())[0]
    await outbox.mark_delivered(first.id, T)
    assert await outbox.prune(T + timedelta(days=31)) == 1
    assert await outbox.count() == 2
