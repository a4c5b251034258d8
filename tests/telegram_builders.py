"""Builders for the Telegram tests: the seed portfolio S (docs/rules.md), signals and a plan,
and a bot started on an engine service."""

from __future__ import annotations

from decimal import Decimal

from bot.telegram.app import TelegramBot
from bot.telegram.delivery import PatientRateLimiter
from core.config.settings import Settings
from core.domain.models import (
    AssetSignal,
    Holding,
    Plan,
    PlannedTrade,
    Portfolio,
    Side,
    SignalKind,
    SkippedTrade,
    SkipReason,
    TradeReason,
    Vote,
)
from core.engine.service import EngineService

D = Decimal


def portfolio_from(values: dict[str, tuple[str, str]], cash: str, quote: str = "USDT",
                   dust: tuple[str, ...] = (), unpriced: tuple[str, ...] = ()) -> Portfolio:
    """A portfolio from {asset: (amount, price)} and a cash amount, valued consistently."""
    cash_value = D(cash)
    worth = {asset: D(a) * D(p) for asset, (a, p) in values.items()}
    total = cash_value + sum(worth.values(), D(0))
    holdings = {
        asset: Holding(asset=asset, free=D(a), locked=D(0), price=D(p), value=worth[asset],
                       allocation=worth[asset] / total, dust=asset in dust)
        for asset, (a, p) in values.items()
    }
    return Portfolio(quote=quote, total_value=total, cash_value=cash_value,
                     cash_balances={quote: cash_value}, holdings=holdings,
                     prices={asset: D(p) for asset, (_, p) in values.items()},
                     dust=dust, unpriced=unpriced)


def seed_portfolio() -> Portfolio:
    """Portfolio S of docs/rules.md: BTC 3,175 · ETH 4,607 · SOL 3,462 · AVAX 760 · cash 628."""
    return portfolio_from(
        {"BTC": ("0.03482", "91182"), "ETH": ("1.2", "3839.1666666666666666"),
         "SOL": ("18.5", "187.13513513513513"), "AVAX": ("20", "38")},
        cash="628",
    )


def seed_signals() -> dict[str, AssetSignal]:
    return {
        "BTC": AssetSignal("BTC", SignalKind.BUY, 0.5, (
            Vote("rsi", 0, "RSI(14) 55.2 between 30 and 70"),
            Vote("macd", 1, "MACD(12,26,9) crossed above signal"),
        )),
        "ETH": AssetSignal("ETH", SignalKind.SELL, -0.25, (
            Vote("rsi", -1, "RSI(14) 78.4 > 70"),
        )),
    }


def seed_plan() -> Plan:
    """Scenario 1's shape: one merged sell of ETH raising cash to 20%."""
    return Plan(
        total_value=D("12632"),
        cash_before=D("628"),
        cash_after=D("2526.40"),
        trades=(PlannedTrade(Side.SELL, "ETH", D("0.4945"), D("3839.17"), D("1898.40"),
                             D("1.90"), (TradeReason.TRIM_TO_MAX, TradeReason.RAISE_CASH)),),
        skipped=(SkippedTrade("AVAX", Side.SELL, SkipReason.MIN_HOLD),),
        before={"BTC": D("0.2513"), "ETH": D("0.3647"), "cash": D("0.0497")},
        after={"BTC": D("0.2513"), "ETH": D("0.2144"), "cash": D("0.2")},
    )


async def started_bot(settings: Settings, service: EngineService,
                      applied: list[Settings] | None = None) -> TelegramBot:
    """The Telegram bot on `service`, started, quick to retry; settings changed in the chat are
    appended to `applied` (or dropped)."""

    async def apply(changed: Settings) -> None:
        if applied is not None:
            applied.append(changed)

    bot = TelegramBot(settings, service, apply,
                      rate_limiter=PatientRateLimiter(first_backoff=0.05), poll_timeout=5)
    await bot.start()
    return bot
