"""Telegram unreachable: the engine keeps scanning, alerts wait in the outbox and arrive in
order, each once — across a restart too. The real bot over HTTP against the Bot API stand-in."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from pydantic import SecretStr
from telegram.error import BadRequest, NetworkError, TelegramError

from bot.cli.operations import refused_for_good
from bot.telegram.app import TelegramBot
from bot.telegram.delivery import PatientRateLimiter
from bot.telegram.format import visible
from core.config.settings import Settings
from core.engine.events import CashBelowMinimum, ExchangeRecovered, ExchangeTrouble
from core.engine.service import EngineService
from core.ops.outbox import Courier, Letter, Outbox, decode, post_events
from core.storage.store import Store
from tests.engine_support import paper_rig
from tests.standins.telegram import TelegramStandIn

OWNER = 4242
ACCOUNT = {"USDT": "1000", "BTC": "0.1", "ETH": "2"}  # cash 8.3%: below the minimum


def bot_for(settings: Settings, service: EngineService, tg: TelegramStandIn) -> TelegramBot:
    async def apply(changed: Settings) -> None:
        return None

    patched = settings.model_copy(update={
        "telegram_token": SecretStr(tg.token), "telegram_api_url": tg.base_url,
        "telegram_owner_id": OWNER,
    })
    return TelegramBot(patched, service, apply, pump_events=False, poll_timeout=1,
                       rate_limiter=PatientRateLimiter(network_retries=0))


def texts(tg: TelegramStandIn) -> list[str]:
    return [visible(str(c.params["text"])) for c in tg.calls_to("sendMessage")
            if str(c.params.get("chat_id")) == str(OWNER)]


async def test_alerts_wait_out_a_telegram_outage_and_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "ballast.db"
    store = await Store.open(path)
    rig = await paper_rig(store, ACCOUNT, watchlist="BTC,ETH,SOL")
    clock = rig.clock
    service = EngineService(rig.engine, clock)
    outbox = Outbox(store)
    recorder = asyncio.create_task(post_events(service.subscribe(), outbox, clock))

    async with TelegramStandIn() as first_telegram:
        bot = bot_for(rig.engine.settings, service, first_telegram)
        await bot.start()
        failed = asyncio.Condition()
        failures = 0

        async def deliver(letter: Letter) -> None:
            nonlocal failures
            try:
                await bot.deliver(letter)
            except TelegramError:
                async with failed:
                    failures += 1
                    failed.notify_all()
                raise

        courier = Courier(outbox, deliver, clock, is_permanent=refused_for_good,
                          first_pause=0.05, max_pause=0.2)
        # Telegram stops answering every message from here on.
        first_telegram.fail_next(count=10_000, status=502, methods={"sendMessage"})
        stop = asyncio.Event()
        delivering = asyncio.create_task(courier.run(stop))

        # The engine scans on regardless: cash alert, an exchange outage and its recovery.
        await rig.engine.tick(clock.now)
        rig.exchange.down = True
        await rig.engine.tick(clock.advance(30))
        rig.exchange.down = False
        await rig.engine.tick(clock.advance(30))
        assert rig.engine.latest is not None and rig.engine.latest.at == clock.now

        async with asyncio.timeout(10):
            while True:  # all three alerts stored, and the courier tried and failed twice
                outbox.arrived.clear()
                if await outbox.count() >= 3:
                    break
                await outbox.arrived.wait()
            async with failed:
                await failed.wait_for(lambda: failures >= 2)
        stop.set()
        await delivering
        with contextlib.suppress(TelegramError):
            await bot.stop()
        assert texts(first_telegram) == []  # nothing got through …
    recorder.cancel()
    waiting = [decode(p.kind, p.text) for p in await outbox.waiting()]
    assert [type(letter) for letter in waiting] == [
        CashBelowMinimum, ExchangeTrouble, ExchangeRecovered
    ]  # … and nothing was lost
    await store.close()

    # A new Ballast on the same database; Telegram answers again.
    async with TelegramStandIn() as telegram, await Store.open(path) as reopened:
        bot = bot_for(rig.engine.settings, service, telegram)
        await bot.start()
        try:
            courier = Courier(Outbox(reopened), bot.deliver, clock,
                              is_permanent=refused_for_good)
            assert await courier.deliver_waiting()
            assert await courier.deliver_waiting()  # a second pass sends nothing again
        finally:
            await bot.stop()
        received = texts(telegram)
    assert len(received) == 3
    assert "Cash 8.3%" in received[0]
    assert "Exchange trouble" in received[1]
    assert "Exchange back" in received[2]
    async with await Store.open(path) as last:
        assert await Outbox(last).count() == 0
        assert await Outbox(last).count("delivered") == 3


async def test_a_short_hiccup_delays_alerts_without_reordering_them(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "ballast.db") as store, TelegramStandIn() as tg:
        rig = await paper_rig(store, ACCOUNT, watchlist="BTC,ETH,SOL")
        clock = rig.clock
        service = EngineService(rig.engine, clock)
        outbox = Outbox(store)
        bot = bot_for(rig.engine.settings, service, tg)
        await bot.start()
        tg.fail_next(count=3, status=502, methods={"sendMessage"})
        for number in range(4):
            await outbox.post(ExchangeTrouble(clock.now, f"outage number {number}"), clock.now)
            await outbox.post(ExchangeRecovered(clock.advance(60), clock.now, number), clock.now)
        stop = asyncio.Event()
        courier = Courier(outbox, bot.deliver, clock, is_permanent=refused_for_good,
                          first_pause=0.01, max_pause=0.05)
        delivering = asyncio.create_task(courier.run(stop))
        try:
            await tg.wait_until(lambda: len(texts(tg)) == 8, timeout=10)
        finally:
            stop.set()
            await delivering
            await bot.stop()
    received = texts(tg)
    expected = [part for n in range(4) for part in (f"outage number {n}", "Exchange back")]
    assert len(received) == len(expected)
    for text, part in zip(received, expected, strict=True):
        assert part in text
    assert len(tg.calls_to("sendMessage", ok_only=False)) == 8 + 3  # three refused, retried


def test_which_failures_are_retried() -> None:
    assert not refused_for_good(NetworkError("502 Bad Gateway"))
    assert refused_for_good(BadRequest("Can't parse entities"))
    assert refused_for_good(KeyError("a formatting bug"))
