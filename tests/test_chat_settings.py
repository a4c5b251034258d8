"""Settings changed in the chat persist: `/settings stop_loss 0.08` through the real bot and the
real engine (`start_engine`, live mode against the Binance stand-in), then a restart on the same
database file, and the value holds — shown with where it comes from."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from bot.telegram.app import TelegramBot
from bot.telegram.delivery import PatientRateLimiter
from bot.telegram.format import visible
from core.config.settings import load_settings
from core.engine.wiring import RunningEngine, start_engine
from core.storage.chat_settings import Source, StoredSetting, apply_stored, base_sources
from tests.engine_support import live_env
from tests.standins.binance import BinanceStandIn
from tests.standins.telegram import TelegramStandIn, shown_to

OWNER = 4242
ACCOUNT = {"USDT": "628", "BTC": "0.0348", "ETH": "1.25", "SOL": "25", "AVAX": "20"}
PRICES = {"BTC/USDT": "91182", "ETH/USDT": "3685", "SOL/USDT": "138.5", "AVAX/USDT": "38"}


@dataclass
class App:
    running: RunningEngine
    bot: TelegramBot


def environment(binance: BinanceStandIn, tg: TelegramStandIn, db: Path) -> dict[str, str]:
    return live_env(binance, db, tg=tg, owner=OWNER, BALLAST_MIN_CASH="0.22")


@asynccontextmanager
async def app(env: dict[str, str]) -> AsyncIterator[App]:
    """Ballast as `ballast run` wires it: the engine, and the bot applying chat changes."""
    running = await start_engine(load_settings(env=env), env=env)
    bot = TelegramBot(running.engine.settings, running.service, running.change_settings,
                      rate_limiter=PatientRateLimiter(first_backoff=0.05), poll_timeout=5,
                      pump_events=False, ledger=running.ledger)
    await bot.start()
    try:
        yield App(running, bot)
    finally:
        await bot.stop()
        await running.close()



async def test_a_setting_changed_in_the_chat_holds_after_a_restart(tmp_path: Path) -> None:
    async with BinanceStandIn(balances=ACCOUNT, prices=PRICES) as binance, \
            TelegramStandIn() as tg:
        env = environment(binance, tg, tmp_path / "ballast.db")
        async with app(env) as first:
            assert first.running.engine.settings.stop_loss is None
            tg.push_command(OWNER, "/settings stop_loss 0.08")
            await tg.wait_for_method("sendMessage", shown_to(OWNER, "✅ stop_loss"),
                                     timeout=20)
            assert first.running.engine.settings.stop_loss == Decimal("0.08")

        # A new process in all but name: nothing in memory survives, the database does.
        async with app(env) as second:
            settings = second.running.engine.settings
            assert settings.stop_loss == Decimal("0.08")
            assert settings.policy.stop_loss == Decimal("0.08"), "the plans use it"
            assert settings.min_cash == Decimal("0.22")
            seen = len(tg.calls)
            tg.push_command(OWNER, "/settings")
            shown = await tg.wait_for_method("sendMessage", shown_to(OWNER, "Settings"), after=seen,
                                             timeout=20)
            text = visible(str(shown.params["text"]))
            # Changed in the chat: starred; from the environment or the defaults: not.
            assert re.search(r"stop_loss\* +8%", text), text
            assert re.search(r"min_cash +22%", text) and re.search(r"max_position +30%", text)
            assert "* changed here" in text

            # Back to the server's value: the chat's row is gone, across restarts too.
            seen = len(tg.calls)
            tg.push_command(OWNER, "/settings stop_loss reset")
            await tg.wait_for_method("sendMessage", shown_to(OWNER, "✅ stop_loss"),
                                     after=seen,
                                     timeout=20)
            assert second.running.engine.settings.stop_loss is None

        async with app(env) as third:
            assert third.running.engine.settings.stop_loss is None
            assert third.running.ledger is not None
            assert third.running.ledger.source("stop_loss") is Source.DEFAULT


def test_a_chat_value_that_no_longer_fits_is_skipped_alone_and_said() -> None:
    """The file moved a related limit since: that chat value is left out, the others hold."""
    base = load_settings(env={"BALLAST_TARGET_CASH": "0.25"})
    stored = [StoredSetting("min_cash", "0.3", "2026-01-01T00:00:00+00:00"),
              StoredSetting("stop_loss", "0.08", "2026-01-02T00:00:00+00:00"),
              StoredSetting("gone_setting", 1, "2026-01-03T00:00:00+00:00")]
    settings, applied, skipped = apply_stored(base, stored)
    assert settings.min_cash == base.min_cash
    assert settings.stop_loss == Decimal("0.08")
    assert set(applied) == {"stop_loss"}
    assert len(skipped) == 2
    assert "min_cash = 0.3 from the chat no longer fits" in skipped[0]
    assert "target_cash" in skipped[0]
    assert "gone_setting" in skipped[1]


def test_sources_name_the_environment_the_file_and_the_defaults(tmp_path: Path) -> None:
    file = tmp_path / "ballast.toml"
    file.write_text("[policy]\nmax_position = 0.28\nmin_position = 0.04\n", encoding="utf-8")
    env = {"BALLAST_SETTINGS": str(file), "BALLAST_MIN_POSITION": "0.06"}
    sources = base_sources(load_settings(env=env), env)
    assert sources["max_position"] is Source.FILE
    assert sources["min_position"] is Source.ENV, "the environment wins over the file"
    assert sources["min_cash"] is Source.DEFAULT
