"""The owner's phone (issue 23): a reject that sticks, the plan kept under its outcome, alerts
at their level, times in the owner's zone, cash words that match the policy.

Over real HTTP: python-telegram-bot against the Bot API stand-in, a real engine on a real SQLite
file with the paper exchange behind it, on a manual clock. Waits are on recorded calls."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.telegram.app import TelegramBot
from bot.telegram.format import visible
from core.domain.models import Side, SignalKind, TradeReason
from core.engine.events import PlanProposed, SignalChanged
from core.engine.service import EngineService
from core.exchange.prices import ManualClock
from core.storage.store import Store
from tests.engine_support import (
    Rig,
    order_count,
    paper_rig,
    plan_of,
    trade,
)
from tests.standins.telegram import TelegramStandIn, sent_to
from tests.standins.telegram_wire import Call, SentMessage
from tests.test_telegram_bot import OWNER, has_buttons, start_bot

SELL_ETH = trade(Side.SELL, "ETH", "0.5", "3000", TradeReason.RAISE_CASH)


@dataclass
class Phone:
    tg: TelegramStandIn
    rig: Rig
    service: EngineService
    bot: TelegramBot
    store: Store

    @property
    def clock(self) -> ManualClock:
        return self.rig.clock


async def open_phone(tmp_path: Path, account: dict[str, str], **settings: Any
                     ) -> AsyncIterator[Phone]:
    store = await Store.open(tmp_path / "ballast.db")
    rig = await paper_rig(store, account, **settings)
    clock = rig.clock
    service = EngineService(rig.engine, clock)
    async with TelegramStandIn() as tg:
        bot = await start_bot(tg, service, [], **settings)
        try:
            yield Phone(tg, rig, service, bot, store)
        finally:
            await bot.stop()
    await store.close()


@pytest.fixture
async def phone(tmp_path: Path) -> AsyncIterator[Phone]:
    async for opened in open_phone(tmp_path, {"USDT": "1000", "BTC": "0.1", "ETH": "2"}):
        yield opened


@pytest.fixture
async def berlin(tmp_path: Path) -> AsyncIterator[Phone]:
    async for opened in open_phone(tmp_path, {"USDT": "1000", "BTC": "0.1", "ETH": "2"},
                                   timezone="Europe/Berlin"):
        yield opened


async def plan_message(phone: Phone) -> SentMessage:
    """Ask for a plan (selling 0.5 ETH) and return the message carrying its buttons."""
    phone.rig.next_plan = plan_of(SELL_ETH)
    seen = len(phone.tg.calls)
    phone.tg.push_command(OWNER, "/plan")
    call = await phone.tg.wait_for_method("sendMessage", has_buttons, after=seen)
    [message] = [m for m in phone.tg.sent_to(OWNER) if m.text == call.params["text"]]
    return message


def labels(message: SentMessage) -> list[str]:
    return [b["text"] for row in (message.reply_markup or {}).get("inline_keyboard", [])
            for b in row]


def rang(call: Call) -> bool:
    return str(call.params.get("disable_notification", "false")).lower() != "true"


def replies_to(call: Call) -> int | None:
    raw = call.params.get("reply_parameters")
    if raw is None:
        return None
    found = json.loads(raw) if isinstance(raw, str) else raw
    return int(found["message_id"])


# -- 1. Reject sticks -------------------------------------------------------------------------


async def test_a_rejected_trade_stays_quiet_until_its_snooze_ends(phone: Phone) -> None:
    message = await plan_message(phone)
    phone.tg.press_button(OWNER, message, "Reject")
    await phone.tg.wait_for_method("editMessageText", lambda c: "rejected" in str(c.params["text"]))
    assert "Approve" not in labels(message)
    assert any("week" in label for label in labels(message)), labels(message)

    # /plan right after: the same sell is not proposed again; it says until when it is snoozed.
    seen = len(phone.tg.calls)
    phone.tg.push_command(OWNER, "/plan")
    call = await phone.tg.wait_for_method("sendMessage", sent_to(OWNER, "Nothing new"),
                                          after=seen)
    text = visible(str(call.params["text"]))
    assert "SELL ETH" in text and "until 25 Nov 12:00 UTC" in text, text
    assert "Approve" not in str(call.params.get("reply_markup"))
    assert await phone.service.pending() == []
    # Nor does the next automatic plan bring it back.
    assert (await phone.rig.engine.plan(phone.clock.now, on_demand=False)).approval is None

    # A day later (the default snooze) it may be proposed again.
    phone.clock.advance(86400 + 1)
    again = await plan_message(phone)
    assert "SELL 0.5 ETH" in visible(str(again.text))


async def test_reject_offers_other_snooze_lengths_and_a_material_change_ends_it(
    phone: Phone,
) -> None:
    message = await plan_message(phone)
    phone.tg.press_button(OWNER, message, "Reject")
    await phone.tg.wait_for_method("editMessageText", lambda c: "rejected" in str(c.params["text"]))
    phone.tg.press_button(OWNER, message, "1 week")
    await phone.tg.wait_for_method("editMessageText",
                                   lambda c: "1 Dec 12:00 UTC" in str(c.params["text"]))
    phone.clock.advance(2 * 86400)
    assert (await phone.service.plan_now()).approval is None, "still snoozed after 2 days"

    # The price moved 10% since the reject (more than snooze_price_move): proposed again.
    moved = trade(Side.SELL, "ETH", "0.5", "3300", TradeReason.RAISE_CASH)
    phone.rig.next_plan = plan_of(moved)
    proposal = await phone.service.plan_now()
    assert proposal.approval is not None and proposal.approval.plan.trades == (moved,)


async def test_a_new_signal_kind_ends_the_snooze(phone: Phone) -> None:
    from core.domain.models import AssetSignal

    phone.rig.signals = {"ETH": AssetSignal("ETH", SignalKind.HOLD, 0.0, ())}
    await phone.rig.engine.scan(phone.clock.now)
    message = await plan_message(phone)
    phone.tg.press_button(OWNER, message, "Reject")
    await phone.tg.wait_for_method("editMessageText", lambda c: "rejected" in str(c.params["text"]))
    assert (await phone.service.plan_now()).approval is None
    phone.rig.signals = {"ETH": AssetSignal("ETH", SignalKind.SELL, -0.6, ())}
    assert (await phone.service.plan_now()).approval is not None


# -- 9. The chat keeps what was proposed --------------------------------------------------------


async def test_reject_keeps_the_plan_and_says_who_and_when(phone: Phone) -> None:
    message = await plan_message(phone)
    phone.tg.press_button(OWNER, message, "Reject")
    await phone.tg.wait_for_method("editMessageText", lambda c: "rejected" in str(c.params["text"]))
    text = visible(str(message.text))
    assert "SELL 0.5 ETH" in text, "the plan's lines stay"
    assert "Plan rejected by you" in text and "at 24 Nov 12:00 UTC" in text
    assert "telegram:" not in text
    assert "Snoozed until 25 Nov 12:00 UTC" in " ".join(text.split())


async def test_execution_keeps_the_plan_and_reports_the_money_in_a_reply_that_rings(
    phone: Phone,
) -> None:
    message = await plan_message(phone)
    phone.tg.press_button(OWNER, message, "Approve")
    await phone.tg.wait_for_method("editMessageText", lambda c: "executed" in str(c.params["text"]))
    assert await order_count(phone.store) == 1
    text = visible(str(message.text))
    assert "SELL 0.5 ETH" in text and "Plan executed" in text and "0.5 of 0.5" in text
    reply = await phone.tg.wait_for_method("sendMessage", lambda c: replies_to(c) is not None)
    assert replies_to(reply) == message.message_id
    assert "executed" in str(reply.params["text"]) and rang(reply)


async def test_expiry_keeps_the_plan(phone: Phone) -> None:
    message = await plan_message(phone)
    phone.clock.advance(phone.rig.engine.settings.approval_ttl + 1)
    await phone.rig.engine.housekeeping(phone.clock.now)
    await phone.tg.wait_for_method("editMessageText", lambda c: "expired" in str(c.params["text"]))
    text = visible(str(message.text))
    assert "SELL 0.5 ETH" in text and "Plan expired" in text and "Approve" not in labels(message)


# -- 3. Alert levels ----------------------------------------------------------------------------


async def test_signal_flips_stay_quiet_cash_is_silent_and_plans_ring(phone: Phone) -> None:
    flip = SignalChanged(phone.clock.now, "ETH", SignalKind.HOLD, SignalKind.BUY, 0.3)
    phone.rig.engine.bus.publish(flip)
    # The scan finds cash (8.3%) under min_cash − cash_band: a silent note.
    await phone.rig.engine.scan(phone.clock.now)
    cash = await phone.tg.wait_for_method("sendMessage", sent_to(OWNER, "is below"))
    assert not rang(cash)
    phone.rig.engine.bus.publish(PlanProposed(phone.clock.now, "p1", plan_of(SELL_ETH),
                                              phone.clock.now))
    plan = await phone.tg.wait_for_method("sendMessage", has_buttons)
    assert rang(plan)
    texts = [visible(str(m.text)) for m in phone.tg.sent_to(OWNER)]
    assert not any("HOLD → BUY" in t for t in texts), "a signal flip waits for the summary"


# -- 8. Time zone -------------------------------------------------------------------------------


async def test_every_time_is_in_the_owners_zone(berlin: Phone) -> None:
    message = await plan_message(berlin)
    assert "Expires 24 Nov 13:10 CET" in visible(str(message.text))  # T0 is 12:00 UTC
    berlin.tg.press_button(OWNER, message, "Approve")
    await berlin.tg.wait_for_method("editMessageText",
                                    lambda c: "executed" in str(c.params["text"]))
    assert "at 24 Nov 13:00 CET" in visible(str(message.text))
    for command, header in (("/history", "History"), ("/status", "Status")):
        seen = len(berlin.tg.calls)
        berlin.tg.push_command(OWNER, command)
        call = await berlin.tg.wait_for_method("sendMessage", sent_to(OWNER, header),
                                               after=seen)
        text = visible(str(call.params["text"]))
        assert "24 Nov 13:00 CET" in text, text
        assert "UTC" not in text, text


# -- 5. Promises kept ---------------------------------------------------------------------------


@pytest.fixture
async def cash_within_band(tmp_path: Path) -> AsyncIterator[Phone]:
    # 2,640 of 12,000 is 22% cash: under the 25% minimum, but within its 5% band, where the
    # policy waits.
    async for opened in open_phone(tmp_path, {"USDT": "2640", "BTC": "0.1", "ETH": "1.4533"}):
        yield opened


async def test_cash_within_its_band_is_not_flagged(cash_within_band: Phone) -> None:
    phone = cash_within_band
    await phone.rig.engine.scan(phone.clock.now)
    phone.tg.push_command(OWNER, "/portfolio")
    call = await phone.tg.wait_for_method("sendMessage", sent_to(OWNER, "Portfolio"))
    text = visible(str(call.params["text"]))
    assert "Cash 2,640.00 USDT · 22.0%" in text
    assert "Under " not in text and "below" not in text
    assert not any("is below" in str(m.text) for m in phone.tg.sent_to(OWNER))


async def test_cash_under_the_band_says_what_the_policy_will_do(phone: Phone) -> None:
    phone.tg.push_command(OWNER, "/portfolio")
    call = await phone.tg.wait_for_method("sendMessage", sent_to(OWNER, "Portfolio"))
    assert "Under 20%: next plan sells to 25%" in visible(str(call.params["text"]))
    alert = await phone.tg.wait_for_method("sendMessage", sent_to(OWNER, "is below"))
    words = " ".join(visible(str(alert.params["text"])).split())
    assert "Cash 8.3% is below 20% (the 25% minimum less its band)" in words
    assert "The next plan will sell to bring cash back to 25%" in words
    settings = phone.rig.engine.settings
    assert settings.min_cash - settings.cash_band == Decimal("0.2")
