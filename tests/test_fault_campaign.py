"""A seeded, randomized fault campaign over the real engine (issue 21).

Hypothesis drives the engine, the real policy and the real paper exchange on a real SQLite file
with a hand-held clock through random sequences of scans, plans, approvals (single, repeated and
concurrent), rejections, settings changes, in-process restarts, outages, lost requests and
answers, partial fills, transient price glitches and balances that change behind Ballast's back.
After every step the money-safety invariants are checked; at the end the world heals and every
approved plan must end and be reported.

Deterministic: the engine's clock is the test's, and Hypothesis derandomizes the search (its
seed is fixed), so a failure replays. `FAULT_SOAK=N` runs a long soak of about N steps instead of
the CI-sized campaign (e.g. `FAULT_SOAK=10000 uv run pytest tests/test_fault_campaign.py -q`).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from core.account.cost_basis import read_position_facts, record_order_fill
from core.config.settings import Settings, load_settings
from core.domain.models import AssetSignal, Balance, Portfolio, PositionFacts, Side, SignalKind
from core.engine.approvals import ApprovalState
from core.engine.events import (
    ApprovalClosed,
    EventBus,
    ExecutionFailed,
    PlanExecuted,
    PlanProposed,
    Subscription,
)
from core.engine.loop import Engine
from core.engine.orders import OrderRow
from core.engine.ports import Ports, policy_planner
from core.exchange.base import Order, OrderRequest, OrderStatus
from core.exchange.paper import PaperExchange
from core.exchange.prices import ManualClock
from core.storage.store import Store
from tests.engine_support import T0, FaultyExchange, paper_account, value_account
from tests.fixed_prices import FixedPrices

D = Decimal
R = TypeVar("R")

SANE = {
    "BTC/USDT": D("50000"),
    "ETH/USDT": D("3000"),
    "SOL/USDT": D("100"),
    "AVAX/USDT": D("30"),
    "USDC/USDT": D("1"),
}
START = {"USDT": "1500", "USDC": "500", "BTC": "0.1", "ETH": "1", "SOL": "20", "AVAX": "40"}
ASSETS = ("BTC", "ETH", "SOL", "AVAX")
SIGNALS = {
    SignalKind.SELL: -1.0,
    SignalKind.HOLD: 0.0,
    SignalKind.BUY: 0.5,
    SignalKind.STRONG_BUY: 1.0,
}
# A sold share of the value may differ from what the floor allows by fees and the price limit.
FLOOR_SLACK = D("0.005")

SOAK = int(os.environ.get("FAULT_SOAK", "0"))
TALLY: Counter[str] = Counter()
"""What the campaign exercised, over all its runs (printed by a soak: `-s` shows it)."""


@dataclass
class SentOrder:
    """An order that reached the exchange, with the world as it was when it was sent."""

    request: OrderRequest
    at: datetime
    never_sell: tuple[str, ...]
    approval_state: str | None
    decided_by: str | None
    auto_in_force: bool
    glitched: frozenset[str]
    cash_after: Decimal | None
    """For a buy: the cash share it leaves at the prices it was sent at (its price limit)."""


class CampaignExchange(FaultyExchange):
    """The faulty paper exchange, also filling part of an order on demand and keeping a log of
    every order that reached it (the campaign's ground truth)."""

    def __init__(self, paper: PaperExchange, prices: FixedPrices) -> None:
        super().__init__(paper, prices)
        self.campaign: FaultCampaign | None = None
        self.partial_next = 0
        self.partial: dict[str, Decimal] = {}
        self.sent: list[SentOrder] = []

    async def create_order(self, request: OrderRequest) -> Order:
        campaign = self.campaign
        assert campaign is not None
        self._check()
        if self.drop_orders:
            return await super().create_order(request)  # lost on the way: raises
        self.sent.append(await campaign.witness(request))
        if self.partial_next and request.client_order_id not in self.partial:
            self.partial_next -= 1
            # Half fills; the rest expires at the exchange (a partial fill).
            self.partial[request.client_order_id] = request.amount
            request = OrderRequest(request.symbol, request.side, request.amount / 2,
                                   request.client_order_id, limit_price=request.limit_price)
        order = await super().create_order(request)
        return self._as_partial(order)

    async def fetch_order_by_client_id(self, symbol: str, client_order_id: str) -> Order | None:
        order = await super().fetch_order_by_client_id(symbol, client_order_id)
        return None if order is None else self._as_partial(order)

    async def cancel_order(self, symbol: str, client_order_id: str) -> Order | None:
        order = await super().cancel_order(symbol, client_order_id)
        return None if order is None else self._as_partial(order)

    def _as_partial(self, order: Order) -> Order:
        asked = self.partial.get(order.client_order_id)
        if asked is None or order.status is not OrderStatus.FILLED:
            return order
        return Order(order.client_order_id, order.exchange_order_id, order.symbol, order.side,
                     OrderStatus.EXPIRED, asked, order.filled, order.average_price, order.cost,
                     order.fee, order.fee_currency, order.timestamp)


class FaultCampaign(RuleBasedStateMachine):
    """The engine in a hostile world; see the module docstring."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.folder = Path(tempfile.mkdtemp(prefix="ballast-campaign-"))
        self.clock = ManualClock(T0)
        self.prices = FixedPrices(SANE)
        self.glitch: dict[str, Decimal] = {}
        self.moved: dict[str, Decimal] = {}
        self.seen_sane = False  # a scan at sane prices has run: the gate has a reference
        self.signals: dict[str, AssetSignal] = {}
        self.bus = EventBus()
        self.events: Subscription = self.bus.subscribe()
        self.seen: list[object] = []
        self.settings = load_settings(env={}, watchlist=list(ASSETS), plan_on="interval")
        self.store: Store = self.run(Store.open(self.folder / "ballast.db"))
        paper = self.run(paper_account(self.store, START, self.clock, self.prices))
        self.exchange = CampaignExchange(paper, self.prices)
        self.exchange.campaign = self
        self.engine = self.new_engine()

    # -- plumbing ----------------------------------------------------------------------------

    def run(self, work: Coroutine[Any, Any, R]) -> R:
        return self.loop.run_until_complete(work)

    def ports(self, settings: Settings) -> Ports:
        exchange, store = self.exchange, self.store

        async def portfolio(now: datetime) -> Portfolio:
            return await value_account(exchange, settings, now)

        async def signals(portfolio: Portfolio, now: datetime) -> dict[str, AssetSignal]:
            return dict(self.signals)

        async def facts(portfolio: Portfolio, now: datetime) -> dict[str, PositionFacts]:
            held = {asset: h.amount for asset, h in portfolio.holdings.items()}
            return await read_position_facts(store, exchange, held, settings.quote)

        async def record_fill(row: OrderRow, order: Order) -> None:
            await record_order_fill(store, order)

        return Ports(portfolio, signals, facts,
                     policy_planner(settings.policy, settings.watchlist), record_fill)

    def new_engine(self) -> Engine:
        return Engine(self.settings, self.exchange, self.store, self.ports(self.settings),
                      bus=self.bus)

    async def witness(self, request: OrderRequest) -> SentOrder:
        """What held when `request` reached the exchange (called from the exchange)."""
        row = await self.engine.orders.get(request.client_order_id)
        approval = await self.engine.approvals.get(row.approval_id) if row else None
        cash_after = None
        if request.side is Side.BUY:
            portfolio = await value_account(self.exchange, self.settings, self.clock.now)
            price = request.limit_price
            if price is None:
                last = (await self.exchange.paper.fetch_prices([request.symbol]))[
                    request.symbol].last
                assert last is not None, f"a buy of {request.symbol} sent with no price"
                price = last * (1 + self.settings.max_slippage)
            spent = request.amount * price * (1 + self.settings.fee_rate)
            cash_after = (portfolio.cash_value - spent) / portfolio.total_value
        return SentOrder(
            request, self.clock.now, self.settings.never_sell,
            approval.state.value if approval else None,
            approval.decided_by if approval else None,
            self.settings.approval == "auto", frozenset(self.glitch), cash_after,
        )

    def drain(self) -> list[object]:
        fresh: list[object] = list(self.events.pending())
        self.seen.extend(fresh)
        return fresh

    def pending_ids(self) -> list[str]:
        pending = self.run(self.engine.approvals.in_states(ApprovalState.PENDING))
        return [approval.id for approval in pending]

    def change(self, **values: Any) -> None:
        changed = Settings.model_validate(self.settings.model_dump() | values)
        self.settings = changed
        self.run(self.engine.apply_settings(changed, self.ports(changed), self.clock.now))

    # -- the world ---------------------------------------------------------------------------

    @rule(minutes=st.sampled_from([1, 2, 5, 10, 30, 90]))
    def time_passes(self, minutes: int) -> None:
        now = self.clock.advance(minutes * 60)
        self.run(self.engine.tick(now))
        self.seen_sane |= not self.glitch and self.engine.scans.latest is not None

    @rule()
    def owner_asks_for_a_plan(self) -> None:
        self.run(self.engine.plan(self.clock.now))

    @rule(data=st.data())
    def owner_approves(self, data: st.DataObject) -> None:
        pending = self.pending_ids()
        if not pending:
            return
        approval_id = data.draw(st.sampled_from(pending))
        taps = data.draw(st.integers(1, 3))
        now = self.clock.now

        async def tap() -> None:
            await asyncio.gather(*(self.engine.approve(approval_id, "owner", now)
                                   for _ in range(taps)))

        self.run(tap())

    @rule(data=st.data())
    def owner_plans_and_approves(self, data: st.DataObject) -> None:
        """The common path: /plan, then Approve (sometimes twice, or from two phones at once)."""
        proposal = self.run(self.engine.plan(self.clock.now))
        if proposal.approval is None or self.settings.approval == "auto":
            return
        taps = data.draw(st.integers(1, 3))
        now = self.clock.now

        async def tap(approval_id: str) -> None:
            await asyncio.gather(*(self.engine.approve(approval_id, "owner", now)
                                   for _ in range(taps)))

        self.run(tap(proposal.approval.id))

    @rule(data=st.data())
    def owner_rejects(self, data: st.DataObject) -> None:
        pending = self.pending_ids()
        if pending:
            self.run(self.engine.reject(data.draw(st.sampled_from(pending)), "owner",
                                        self.clock.now))

    @rule(protected=st.sets(st.sampled_from(ASSETS)))
    def owner_changes_never_sell(self, protected: set[str]) -> None:
        self.change(never_sell=sorted(protected))

    @rule(min_cash=st.sampled_from(["0.20", "0.25", "0.30"]))
    def owner_changes_the_reserve(self, min_cash: str) -> None:
        self.change(min_cash=D(min_cash), target_cash=max(D(min_cash), D("0.25")))

    @rule(auto=st.booleans())
    def owner_switches_approval(self, auto: bool) -> None:
        self.change(approval="auto" if auto else "manual")

    @rule()
    def restart(self) -> None:
        self.engine = self.new_engine()
        self.run(self.engine.housekeeping(self.clock.now))

    @rule(kinds=st.lists(st.sampled_from(list(SIGNALS)), min_size=len(ASSETS),
                         max_size=len(ASSETS)))
    def signals_change(self, kinds: list[SignalKind]) -> None:
        self.signals = {asset: AssetSignal(asset, kind, SIGNALS[kind])
                        for asset, kind in zip(ASSETS, kinds, strict=True)}

    @rule(symbol=st.sampled_from(sorted(SANE)), percent=st.integers(-12, 12))
    def market_moves(self, symbol: str, percent: int) -> None:
        if symbol in self.glitch or symbol == "USDC/USDT":
            return
        current = SANE[symbol] if symbol not in self.moved else self.moved[symbol]
        self.moved[symbol] = current * (1 + D(percent) / 100)
        self.prices.set(symbol, self.moved[symbol])

    # A bad tick is told from a real move by the prices the gate has accepted before: a new
    # database's very first scan has none (docs/rules.md §6), so the glitches begin after it.
    @precondition(lambda self: self.engine.scans.latest is not None or self.seen_sane)
    @rule(symbol=st.sampled_from(sorted(SANE)), factor=st.sampled_from(["0.01", "10", "0.5"]))
    def price_glitch(self, symbol: str, factor: str) -> None:
        """A bad tick: far outside the recent range (a stablecoin off its peg included)."""
        base = self.moved.get(symbol, SANE[symbol])
        self.glitch[symbol] = base * D(factor)
        self.prices.set(symbol, self.glitch[symbol])

    @rule()
    def glitch_heals(self) -> None:
        for symbol in list(self.glitch):
            self.prices.set(symbol, self.moved.get(symbol, SANE[symbol]))
        self.glitch.clear()

    @rule(down=st.booleans())
    def exchange_outage(self, down: bool) -> None:
        self.exchange.down = down

    @rule()
    def next_answer_lost(self) -> None:
        self.exchange.lose_responses += 1

    @rule()
    def next_request_lost(self) -> None:
        self.exchange.drop_orders += 1

    @rule()
    def next_order_fills_half(self) -> None:
        self.exchange.partial_next += 1

    @precondition(lambda self: not self.exchange.down)
    @rule(asset=st.sampled_from(("USDT", *ASSETS)), share=st.sampled_from(["0.5", "0.88"]))
    def balance_changes_elsewhere(self, asset: str, share: str) -> None:
        """Someone trades or withdraws on the account outside this Ballast."""
        balances = self.run(self.exchange.paper.fetch_balances())
        held = balances.get(asset)
        if held is not None:
            self.run(self.exchange.paper.seed({asset: Balance(held.free * D(share))}))

    # -- the invariants ----------------------------------------------------------------------

    @invariant()
    def no_plan_from_a_bad_tick(self) -> None:
        """No plan is proposed from a scan that saw a glitched price (runs after every step,
        so it also counts the steps)."""
        TALLY["steps"] += 1
        for event in self.drain():
            if isinstance(event, PlanProposed) and self.glitch:
                raise AssertionError(f"plan {event.approval_id} proposed while prices were "
                                     f"implausible: {self.glitch}")

    @invariant()
    def every_order_was_approved_and_allowed(self) -> None:
        for sent in self.exchange.sent:
            request = sent.request
            assert sent.approval_state == "executing", (
                f"order {request.client_order_id} sent for an approval in state "
                f"{sent.approval_state}")
            assert sent.decided_by in ("owner", "auto"), (
                f"order {request.client_order_id} decided by {sent.decided_by}")
            asset = request.symbol.split("/")[0]
            if request.side is Side.SELL:
                assert asset not in sent.never_sell, (
                    f"sold {asset} while never_sell = {sent.never_sell}")
            assert request.symbol not in sent.glitched, (
                f"order {request.client_order_id} sent at a bad tick of {request.symbol}")

    @invariant()
    def no_trade_ordered_twice(self) -> None:
        rows = self.run(self._paper_orders())
        ids = [client_id for client_id, _ in rows]
        assert len(ids) == len(set(ids)), f"a client order id filled twice: {ids}"
        per_trade: dict[tuple[str, str], int] = {}
        for client_id, status in rows:
            if status == OrderStatus.FILLED.value:
                row = self.run(self.engine.orders.get(client_id))
                assert row is not None, f"an order {client_id} this database never planned"
                key = (row.approval_id, row.asset)
                per_trade[key] = per_trade.get(key, 0) + 1
        assert all(count == 1 for count in per_trade.values()), per_trade

    @invariant()
    def no_buy_below_the_cash_floor(self) -> None:
        floor = self.settings.cash_floor - FLOOR_SLACK
        for sent in self.exchange.sent:
            if sent.cash_after is not None:
                assert sent.cash_after >= floor, (
                    f"a buy of {sent.request.amount} {sent.request.symbol} would leave cash at "
                    f"{sent.cash_after:.2%}, under the {self.settings.cash_floor:.0%} floor")

    async def _paper_orders(self) -> list[tuple[str, str]]:
        async with self.store.conn.execute(
            "SELECT client_order_id, status FROM paper_orders"
        ) as cursor:
            return [(str(row[0]), str(row[1])) for row in await cursor.fetchall()]

    # -- the end -----------------------------------------------------------------------------

    def teardown(self) -> None:
        try:
            self.settle()
            self.count()
        finally:
            self.run(self.store.close())
            self.loop.close()
            shutil.rmtree(self.folder, ignore_errors=True)

    def count(self) -> None:
        TALLY["runs"] += 1
        TALLY["orders sent"] += len(self.exchange.sent)
        TALLY["partial fills"] += len(self.exchange.partial)
        for approval in self.run(self.engine.approvals.recent(limit=10_000)):
            TALLY[f"plans {approval.state.value}"] += 1
        if SOAK:
            print(f"fault campaign so far: {dict(sorted(TALLY.items()))}", file=sys.stderr)

    def settle(self) -> None:
        """The world heals; every approved plan must end, and the owner must hear of it."""
        self.exchange.down = False
        self.exchange.drop_orders = self.exchange.lose_responses = 0
        self.glitch_heals()
        for _ in range(20):
            busy = self.run(self.engine.approvals.in_states(ApprovalState.APPROVED,
                                                            ApprovalState.EXECUTING))
            if not busy:
                break
            self.run(self.engine.tick(self.clock.advance(120)))
        self.drain()
        decided = self.run(self.engine.approvals.recent(limit=10_000))
        reported = {
            event.approval_id for event in self.seen
            if isinstance(event, PlanExecuted | ExecutionFailed | ApprovalClosed)
        }
        for approval in decided:
            if approval.decided_by is None:
                continue
            assert approval.state.is_final, (
                f"approved plan {approval.id} never ended ({approval.state})")
            assert approval.id in reported, f"approved plan {approval.id} ended unreported"


def _campaign_settings() -> settings:
    if SOAK:
        return settings(max_examples=max(1, SOAK // 25), stateful_step_count=50,
                        deadline=None, derandomize=True, database=None,
                        suppress_health_check=list(HealthCheck))
    return settings(max_examples=100, stateful_step_count=40, deadline=None,
                    derandomize=True, database=None, suppress_health_check=list(HealthCheck))


FaultCampaign.TestCase.settings = _campaign_settings()
TestFaultCampaign = FaultCampaign.TestCase

