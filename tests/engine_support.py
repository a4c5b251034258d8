"""Shared pieces of the engine tests: a paper exchange with fault injection, plans, and the
environment of a live Ballast on the exchange (and Telegram) stand-ins."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.config.settings import Settings, load_settings
from core.domain.models import (
    AssetSignal,
    Balance,
    Candle,
    Market,
    MarketRules,
    Plan,
    PlannedTrade,
    Portfolio,
    PositionFacts,
    Price,
    Side,
    TradeReason,
)
from core.domain.valuation import symbols_to_price, value_portfolio
from core.engine.approvals import Approval
from core.engine.events import Subscription
from core.engine.loop import Engine
from core.engine.orders import OrderRow
from core.engine.ports import Ports, policy_planner
from core.exchange.base import Exchange, Fill, Order, OrderRequest
from core.exchange.errors import ExchangeUnavailable
from core.exchange.paper import PaperExchange
from core.exchange.paper_markets import bundled_markets
from core.exchange.prices import ManualClock
from core.storage.store import Store
from tests.fixed_prices import FixedPrices

if TYPE_CHECKING:
    from core.engine.wiring import RunningEngine
    from tests.standins.binance import BinanceStandIn
    from tests.standins.telegram import TelegramStandIn

D = Decimal
T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
PRICES = {"BTC/USDT": D("50000"), "ETH/USDT": D("3000"), "SOL/USDT": D("100")}


class FaultyExchange(Exchange):
    """The real paper exchange behind switches that make it fail like a live exchange does.

    * `down`: every call raises `ExchangeUnavailable` (an outage).
    * `lose_responses`: `create_order` places the order and then raises (the answer was lost).
    * `drop_orders`: `create_order` raises without placing anything (the request was lost).
    * `delisted`: assets the exchange no longer lists (every market of theirs is gone).
    * `down_after_order`: the exchange goes `down` just after placing an order (its answer and
      every lookup fail until a test brings it back).
    """

    def __init__(self, paper: PaperExchange, prices: FixedPrices) -> None:
        self.paper = paper
        self.prices = prices
        self.down = False
        self.lose_responses = 0
        self.drop_orders = 0
        self.create_calls: list[OrderRequest] = []
        self.delisted: set[str] = set()
        self.down_after_order = False

    @property
    def name(self) -> str:
        return "faulty-paper"

    def _check(self) -> None:
        if self.down:
            raise ExchangeUnavailable("exchange unreachable (test outage)")

    async def load_markets(self) -> Mapping[str, Market]:
        self._check()
        markets = await self.paper.load_markets()
        return {symbol: m for symbol, m in markets.items()
                if m.base not in self.delisted and m.quote not in self.delisted}

    async def fetch_balances(self) -> dict[str, Balance]:
        self._check()
        return await self.paper.fetch_balances()

    async def fetch_prices(self, symbols: Sequence[str]) -> dict[str, Price]:
        self._check()
        return await self.paper.fetch_prices(symbols)

    async def fetch_candles(
        self, symbol: str, timeframe: str, since: int | None = None, limit: int | None = None
    ) -> list[Candle]:
        self._check()
        return await self.paper.fetch_candles(symbol, timeframe, since, limit)

    async def create_order(self, request: OrderRequest) -> Order:
        self._check()
        self.create_calls.append(request)
        if self.drop_orders:
            self.drop_orders -= 1
            raise ExchangeUnavailable("request timed out (test: never arrived)")
        order = await self.paper.create_order(request)
        if self.down_after_order:
            self.down = True
            raise ExchangeUnavailable("connection reset (test: down after the order)")
        if self.lose_responses:
            self.lose_responses -= 1
            raise ExchangeUnavailable("request timed out (test: answer lost)")
        return order

    async def fetch_order_by_client_id(self, symbol: str, client_order_id: str) -> Order | None:
        self._check()
        return await self.paper.fetch_order_by_client_id(symbol, client_order_id)

    async def fetch_open_orders(self, symbol: str | None = None) -> list[Order]:
        self._check()
        return await self.paper.fetch_open_orders(symbol)

    async def cancel_order(self, symbol: str, client_order_id: str) -> Order | None:
        self._check()
        return await self.paper.cancel_order(symbol, client_order_id)

    async def fetch_orders(self, symbol: str, since: datetime | None = None) -> list[Order]:
        self._check()
        return await self.paper.fetch_orders(symbol, since)

    async def fetch_my_trades(self, symbol: str, since: datetime | None = None) -> list[Fill]:
        self._check()
        return await self.paper.fetch_my_trades(symbol, since)

    async def close(self) -> None:
        await self.paper.close()


async def paper_account(
    store: Store, balances: Mapping[str, str], clock: ManualClock, prices: FixedPrices
) -> PaperExchange:
    """A seeded paper exchange with Binance's real market rules and no fees."""
    paper = PaperExchange(
        store, prices, bundled_markets("binance"), fee_rate=D("0.001"), clock=clock
    )
    await paper.seed({asset: Balance(D(amount)) for asset, amount in balances.items()})
    return paper


async def order_count(store: Store) -> int:
    """How many orders the paper exchange has ever filled."""
    async with store.conn.execute("SELECT COUNT(*) FROM paper_orders") as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


def trade(side: Side, asset: str, amount: str, price: str, reason: TradeReason) -> PlannedTrade:
    value = D(amount) * D(price)
    return PlannedTrade(side, asset, D(amount), D(price), value, value * D("0.001"), (reason,))


def plan_of(*trades: PlannedTrade) -> Plan:
    """A plan with these trades (allocations are not what these tests look at)."""
    return Plan(
        total_value=D("10000"),
        cash_before=D("0.1"),
        cash_after=D("0.2"),
        trades=trades,
        skipped=(),
        before={"cash": D("0.1")},
        after={"cash": D("0.2")},
    )


# The account and the two trades the execution tests plan with.
EXECUTION_ACCOUNT = {"USDT": "3000", "ETH": "2", "BTC": "0.05"}
SELL_ETH = trade(Side.SELL, "ETH", "0.5", "3000", TradeReason.TRIM_TO_MAX)
BUY_SOL = trade(Side.BUY, "SOL", "5", "100", TradeReason.BUY_SIGNAL)


async def value_account(exchange: FaultyExchange, settings: Settings, now: datetime) -> Portfolio:
    """The account valued by the real valuation at the exchange's current prices."""
    balances = await exchange.fetch_balances()
    markets = await exchange.load_markets()
    assets = sorted(set(balances) | set(settings.watchlist))
    symbols = symbols_to_price(assets, quote=settings.quote, available=set(markets))
    return value_portfolio(
        balances,
        await exchange.fetch_prices(symbols),
        quote=settings.quote,
        cash_assets=settings.cash_assets,
        markets={m.base: m.rules for m in markets.values() if m.quote == settings.quote},
        now=now,
        max_price_age=settings.max_price_age,
        watchlist=settings.watchlist,
        listed={symbol for symbol, market in markets.items() if market.active},
    )


@dataclass
class Rig:
    engine: Engine
    exchange: FaultyExchange
    prices: FixedPrices
    clock: ManualClock
    store: Store
    events: Subscription
    fills: list[str] = field(default_factory=list)
    next_plan: Plan | None = None
    signals: dict[str, AssetSignal] = field(default_factory=dict)

    async def propose(self, plan: Plan) -> Approval:
        approval, _ = await self.engine.approvals.propose(
            plan, self.clock.now, timedelta(seconds=self.engine.settings.approval_ttl)
        )
        return approval

    async def rows(self, approval_id: str) -> list[OrderRow]:
        return await self.engine.orders.for_approval(approval_id)


async def make_rig(
    store: Store, clock: ManualClock, prices: FixedPrices, exchange: FaultyExchange,
    *, real_policy: bool = False, **overrides: Any,
) -> Rig:
    """An engine on `exchange` with test ports: no signals but the rig's, no cost bases, and the
    rig's `next_plan` — or, with `real_policy`, the real policy's plan."""
    settings: Settings = load_settings(env={}, **overrides)
    holder: dict[str, Rig] = {}

    async def read_portfolio(now: datetime) -> Portfolio:
        return await value_account(exchange, settings, now)

    async def read_signals(portfolio: Portfolio, now: datetime) -> dict[str, AssetSignal]:
        return dict(holder["rig"].signals)

    async def no_facts(portfolio: Portfolio, now: datetime) -> dict[str, PositionFacts]:
        return {}

    def planned(
        portfolio: Portfolio,
        signals: Mapping[str, AssetSignal],
        facts: Mapping[str, PositionFacts],
        rules: Mapping[str, MarketRules],
        now: datetime,
        traded: Decimal,
    ) -> Plan:
        return holder["rig"].next_plan or plan_of()

    async def record_fill(row: OrderRow, order: Order) -> None:
        if row.client_order_id not in holder["rig"].fills:
            holder["rig"].fills.append(row.client_order_id)

    planner = policy_planner(settings.policy, settings.watchlist) if real_policy else planned
    engine = Engine(
        settings,
        exchange,
        store,
        Ports(read_portfolio, read_signals, no_facts, planner, record_fill),
    )
    rig = Rig(engine, exchange, prices, clock, store, engine.bus.subscribe())
    holder["rig"] = rig
    return rig


async def paper_rig(
    store: Store, account: Mapping[str, str], *, prices: Mapping[str, Decimal] = PRICES,
    priced_at: datetime | None = None, **settings: Any,
) -> Rig:
    """A rig at T0 on a manual clock over a paper account holding `account`, its prices fixed
    (stamped `priced_at`, or not at all)."""
    clock = ManualClock(T0)
    fixed = FixedPrices(dict(prices), at=priced_at)
    paper = await paper_account(store, account, clock, fixed)
    return await make_rig(store, clock, fixed, FaultyExchange(paper, fixed), **settings)


def live_env(
    binance: BinanceStandIn,
    db: Path,
    *,
    tg: TelegramStandIn | None = None,
    owner: int | None = None,
    **extra: str,
) -> dict[str, str]:
    """The environment of a live Ballast trading on the Binance stand-in, with its database at
    `db` and the BTC, ETH, SOL, AVAX watchlist; with `tg`, chatting with `owner` on the
    Telegram stand-in. `extra` variables are added last (they win)."""
    env = {
        "BALLAST_MODE": "live",
        "BALLAST_EXCHANGE_API_KEY": binance.api_key,
        "BALLAST_EXCHANGE_API_SECRET": binance.api_secret,
        "BALLAST_EXCHANGE_API_URL": binance.url,
        "BALLAST_DB": str(db),
        "BALLAST_WATCHLIST": "BTC,ETH,SOL,AVAX",
    }
    if tg is not None:
        if owner is None:
            raise ValueError("a Telegram stand-in needs the owner's chat id")
        env |= {
            "BALLAST_TELEGRAM_TOKEN": tg.token,
            "BALLAST_TELEGRAM_OWNER_ID": str(owner),
            "BALLAST_TELEGRAM_API_URL": tg.base_url,
        }
    return env | extra


async def live_engine(binance: BinanceStandIn, db: Path, **env: str) -> RunningEngine:
    """A live Ballast started on the Binance stand-in (`live_env`, no log file), `env` last."""
    from core.engine.wiring import start_engine

    settings = load_settings(env={**live_env(binance, db, BALLAST_LOG_FILE=""), **env})
    return await start_engine(settings)


async def stop_gently(process: asyncio.subprocess.Process) -> None:
    """Stop a running `ballast` as systemd does (SIGTERM), killing it if it has not ended
    within 30 s."""
    process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), 30)
    except TimeoutError:
        process.kill()
        await process.wait()
