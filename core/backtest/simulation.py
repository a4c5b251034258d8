"""Ballast on a historical clock: the pieces one decision needs, and the fast replay loop.

`Simulation` gathers what the engine's ports provide live — the portfolio valued at the last
closed prices, the signals, the position facts, the policy's plan — from a `MarketReplay`, a
`Broker` and a `PositionBook`. Two drivers use it:

- `run_fast` (this module): the engine's decision and execution rules applied directly, with
  nothing stored between candles. Fast enough for years of hourly candles.
- `core.backtest.engine_run.run_engine`: the real `core.engine.Engine` ticking on the
  historical clock with auto approval, its approvals and orders in SQLite and its events on a
  bus. The demo uses it; a test checks that both drivers make the same trades.

What `run_fast` reproduces of the engine, in the engine's order: a plan when one is due
(`core.policy.pacing.decision_due`), with the value traded in the turnover window counted from
its own fills as the engine counts its stored ones (`traded_in_window`); a plan whose prices
drifted more than `max_price_drift` by the fill is not executed (the engine re-proposes it for
a manual decision and, unattended, it expires); sells before buys; each buy capped to the cash
above `cash_floor` and the free quote balance at the decision's prices and its price limit
(`core.policy.buy_cap`, the executor's own rule), skipped when that is below the market
minimum; an order the exchange refuses is reported and the rest go on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np

from core.backtest.benchmarks import EquityCurve, StartingPortfolio
from core.backtest.broker import Broker, BuyCap, Execution
from core.backtest.history import BoolArray, FloatArray, IntArray
from core.backtest.positions import PositionBook
from core.backtest.replay import MarketReplay
from core.config.settings import Settings
from core.domain.models import ZERO, AssetSignal, Market, Plan, Portfolio, PositionFacts
from core.domain.rounding import floor_to_step
from core.domain.valuation import value_portfolio
from core.engine.outcomes import drift
from core.exchange.base import Order
from core.policy import PlanInput, make_plan
from core.policy.buy_cap import buy_cap
from core.policy.pacing import decision_due, due_at_every_candle, traded_in_window
from core.policy.scope import signal_assets
from core.policy.triggers import account_state, possible_plans

Progress = Callable[[int, int], None]
"""Called as (candles done, candles in all) while a backtest runs."""

# Rows scanned ahead for a possible trade: few right after a fill (the next may come soon),
# doubling while the account stands still.
MIN_LOOKAHEAD = 32
MAX_LOOKAHEAD = 4096


@dataclass(frozen=True, slots=True)
class Lookahead:
    """Rows [start, stop) scanned for a possible trade with the account at `version`."""

    version: int = -1
    start: int = 0
    stop: int = 0
    size: int = MIN_LOOKAHEAD // 2
    possible: list[bool] = field(default_factory=list)  # a list: read one row at a time


@dataclass(frozen=True, slots=True)
class BacktestInput:
    """What a backtest starts from: settings, the starting portfolio and what is known of it."""

    settings: Settings
    start: StartingPortfolio
    positions: Mapping[str, PositionFacts]
    watchlist: tuple[str, ...]


@dataclass(slots=True)
class Tally:
    """What the simulated owner went through: plans made, executed, and orders refused."""

    plans: int = 0
    executed: int = 0
    drifted: int = 0
    refused: int = 0


class Simulation:
    """One simulated Ballast account over a replay (see the module docs)."""

    def __init__(
        self,
        replay: MarketReplay,
        inp: BacktestInput,
        markets: Mapping[str, Market],
        broker: Broker,
    ) -> None:
        self.replay = replay
        self.settings = inp.settings
        self.policy = inp.settings.policy
        self.quote = inp.start.quote
        self.broker = broker
        self.markets = dict(markets)
        self.rules = {m.base: m.rules for m in markets.values() if m.quote == self.quote}
        self.watchlist = tuple(a for a in inp.watchlist if a in replay.assets)
        self.cash_assets = tuple(inp.settings.cash_assets)
        self.book = PositionBook(
            self.quote, inp.start.amounts, inp.positions, replay.time(replay.first_row)
        )
        self.tally = Tally()
        self.orders: list[Order] = []
        self.last_plan: datetime | None = None  # for `due`; unused when every candle is due
        self.decisions = 0  # plans the policy made (the others were known to be empty)
        self._held_version = -1
        self._held: tuple[IntArray, FloatArray, float] = (np.zeros(0, dtype=np.int64),
                                                          np.zeros(0), 0.0)
        rows = replay.history.times.size
        self.equity = np.full(rows + 1, np.nan)
        self.cash = np.full(rows + 1, np.nan)
        self._marked = replay.first_row
        self._ahead = Lookahead()
        self._column_of = {asset: i for i, asset in enumerate(replay.history.assets)}

    # -- one decision ------------------------------------------------------------------------

    def portfolio(self, row: int) -> Portfolio:
        """The account valued at the last closes before candle `row` (docs/rules.md)."""
        now = self.replay.time(row)
        return value_portfolio(
            self.broker.balances,
            self.replay.prices(row),
            quote=self.quote,
            cash_assets=self.cash_assets,
            markets=self.rules,
            now=now,
            max_price_age=timedelta(0),
            watchlist=self.watchlist,
        )

    def signal_assets(self, portfolio: Portfolio) -> list[str]:
        """Holdings that are not dust and priced watchlist assets, as the engine scans them."""
        return signal_assets(portfolio, self.watchlist, self.cash_assets)

    def signals(
        self, row: int, portfolio: Portfolio, *, explained: bool = False
    ) -> dict[str, AssetSignal]:
        """Each scanned asset's signal as of the decision (with reasons if `explained`)."""
        assets = self.signal_assets(portfolio)
        if explained:
            return self.replay.explained_signals_at(row, assets)
        return self.replay.signals_at(row, assets)

    def plan(
        self, portfolio: Portfolio, signals: Mapping[str, AssetSignal], now: datetime
    ) -> Plan:
        """The policy's plan for this moment."""
        return make_plan(
            PlanInput(
                portfolio=portfolio,
                signals=signals,
                positions=self.book.facts(),
                markets=self.rules,
                watchlist=self.watchlist,
                now=now,
                traded_recently=self.traded_recently(now),
            ),
            self.policy,
        )

    def traded_recently(self, now: datetime) -> Decimal:
        """Value filled within `turnover_period` before `now` (0 without a turnover budget)."""
        if self.policy.turnover_budget is None:
            return ZERO
        since = now - timedelta(seconds=self.policy.turnover_period)
        recent = []
        for order in reversed(self.orders):  # newest first: stop at the window's start
            if order.timestamp is None or order.timestamp <= since:
                break
            recent.append((order.timestamp, order.cost))
        return traded_in_window(recent, now, self.policy.turnover_period)

    def due(self, row: int) -> bool:
        """Whether a plan is due at candle `row`, as the engine decides it (`decision_due`);
        if so, that is the time of the last plan from now on."""
        now = self.replay.time(row)
        if not decision_due(
            self.last_plan,
            now,
            plan_on=self.policy.plan_on,
            rebalance_interval=self.policy.rebalance_interval,
            timeframe=self.replay.history.timeframe,
        ):
            return False
        self.last_plan = now
        return True

    def may_trade(self, row: int) -> bool:
        """Whether a plan at `row` could hold any trade (`core.policy.triggers`).

        Found for a stretch of rows ahead at once, from the account as it stands; the stretch
        is found again once a fill changes the account, and grows while nothing does.
        """
        ahead = self._ahead
        if ahead.version == self.broker.version and ahead.start <= row < ahead.stop:
            return ahead.possible[row - ahead.start]
        size = min(ahead.size * 2, MAX_LOOKAHEAD) if ahead.version == self.broker.version \
            else MIN_LOOKAHEAD
        stop = min(row + size, self.replay.history.times.size)
        state = account_state(
            self.broker.balances, self.book.facts(), self.rules, self.policy,
            quote=self.quote, cash_assets=self.cash_assets, columns=self._column_of,
            watchlist=self.watchlist,
        )
        history = self.replay.history
        possible: BoolArray = np.ones(stop - row, dtype=np.bool_)
        if state is not None:
            possible = possible_plans(
                state, history.closes[row - 1:stop - 1], history.traded[row - 1:stop - 1],
                self.replay.codes[row:stop], self.replay.scores[row:stop], history.times[row:stop],
                self.policy,
            )
        self._ahead = Lookahead(self.broker.version, row, stop, size, possible.tolist())
        return bool(possible[0])

    def drifted(self, plan: Plan) -> bool:
        """Whether any trade's fill price moved beyond `max_price_drift` from the plan's."""
        for trade in plan.trades:
            price = self.broker.fill_price(trade.asset)
            if price is None or drift(trade.price, price) > self.settings.max_price_drift:
                return True
        return False

    def engine_buy_cap(self, row: int, plan: Plan) -> BuyCap:
        """The engine executor's buy limit (`core.policy.buy_cap`) at the closes of `row`."""
        planned = {trade.asset: trade.price for trade in plan.trades}

        def cap(asset: str, amount: Decimal) -> tuple[Decimal, str]:
            return buy_cap(
                asset, amount, planned.get(asset),
                portfolio=self.portfolio(row),
                free_quote=self.broker.free(self.quote),
                rules=self.rules.get(asset),
                quote=self.quote,
                cash_floor=self.policy.cash_floor,
                fee_rate=self.policy.fee_rate,
                max_slippage=self.settings.max_slippage,
                max_position=self.policy.max_position,
            )

        return cap

    def record(self, executions: list[Execution]) -> None:
        """Take fills into the position facts."""
        for execution in executions:
            if execution.order is None:
                self.tally.refused += 1
                continue
            self.record_order_fill(execution.asset, execution.order)

    def record_order_fill(self, asset: str, order: Order) -> None:
        """One filled order into the journal and the position facts."""
        self.orders.append(order)
        rules = self.rules.get(asset)
        left = floor_to_step(self.broker.free(asset), rules.amount_step if rules else None)
        self.book.record(asset, order, sold_out=left <= 0)

    # -- equity ------------------------------------------------------------------------------

    def mark(self, row: int) -> None:
        """Equity and cash at the close of candle `row`."""
        self.mark_until(row + 1, first=row)

    def mark_until(self, stop: int, *, first: int | None = None) -> None:
        """Equity and cash at the closes of the candles not yet marked, up to `stop` (excluded).

        The account holds the same amounts over them: one vectorised valuation.
        """
        start = self._marked if first is None else first
        if stop <= start:
            return
        value, cash = self._value(self.replay.history.closes[start:stop])
        self.equity[start + 1:stop + 1] = value
        self.cash[start + 1:stop + 1] = cash
        self._marked = stop

    def mark_start(self) -> None:
        """Equity and cash at the open of the first candle of the period."""
        first = self.replay.first_row
        value, cash = self._value(self.replay.history.opens[first:first + 1])
        self.equity[first] = value[0]
        self.cash[first] = cash

    def _value(self, prices: FloatArray) -> tuple[FloatArray, float]:
        """The account's value at each row of `prices` (rows × assets), and its cash."""
        columns, amounts, cash = self._holdings()
        held = prices[:, columns]
        # Unpriced (not yet listed) assets are left out, as valuation leaves them out.
        # A row-wise sum, not a matrix product: each row's figure must not depend on how many
        # rows are valued together.
        value = (np.where(np.isnan(held), 0.0, held) * amounts).sum(axis=1)
        return cash + value, cash

    def _holdings(self) -> tuple[IntArray, FloatArray, float]:
        """Held amounts by history column, and cash; re-derived only when balances changed."""
        if self._held_version != self.broker.version:
            columns: list[int] = []
            amounts: list[float] = []
            cash = 0.0
            for asset, balance in self.broker.balances.items():
                if asset == self.quote or asset in self.cash_assets:
                    cash += float(balance.total)
                elif balance.total:
                    columns.append(self.replay.history.column(asset))
                    amounts.append(float(balance.total))
            self._held = (np.array(columns, dtype=np.int64), np.array(amounts), cash)
            self._held_version = self.broker.version
        return self._held

    def curve(self) -> EquityCurve:
        """Ballast's equity curve over the period."""
        first = self.replay.first_row
        equity = self.equity[first:]
        cash = self.cash[first:]
        shares = np.divide(cash, equity, out=np.zeros_like(equity), where=equity > 0)
        times = self.replay.history.window(slice(first, None)).curve_times()
        return EquityCurve(
            times,
            equity,
            shares,
            trades=self.broker.trades,
            fees_paid=float(self.broker.fees_paid),
            traded_value=float(self.broker.traded_value),
            buy_times=self.broker.buy_times(),
            sell_times=self.broker.sell_times(),
        )


async def run_fast(
    sim: Simulation, progress: Progress | None = None, *, prefilter: bool = True
) -> EquityCurve:
    """Replay every candle of the period with the engine's rules applied directly.

    With `prefilter`, the exact policy runs only at the candles where a plan could hold a
    trade (`Simulation.may_trade`); elsewhere its plan would be empty, so the result is the
    same as planning at every candle (`prefilter=False`, tested). Equity is marked in
    stretches between trades.
    """
    rows = sim.replay.rows
    sim.mark_start()
    # The pacing rule costs more than the rest of a quiet candle: not asked when known to agree.
    every = due_at_every_candle(plan_on=sim.policy.plan_on,
                                rebalance_interval=sim.policy.rebalance_interval,
                                timeframe=sim.replay.history.timeframe)
    for done, row in enumerate(rows, start=1):
        if (every or sim.due(row)) and (not prefilter or sim.may_trade(row)):
            now = sim.replay.time(row)
            portfolio = sim.portfolio(row)
            plan = sim.plan(portfolio, sim.signals(row, portfolio), now)
            sim.decisions += 1
            if plan.trades:
                sim.mark_until(row)
                await execute_plan(sim, row, plan)
        if progress is not None:
            progress(done, len(rows))
    sim.mark_until(rows.stop)
    return sim.curve()


async def execute_plan(sim: Simulation, row: int, plan: Plan) -> list[Execution]:
    """Execute a plan as the engine does with auto approval (module docs)."""
    sim.tally.plans += 1
    sim.broker.move_to(row)
    if sim.drifted(plan):
        sim.tally.drifted += 1
        return []
    orders = [(t.side, t.asset, t.amount) for t in plan.trades]
    executions = await sim.broker.execute(row, orders, cap=sim.engine_buy_cap(row, plan))
    sim.record(executions)
    sim.tally.executed += 1
    return executions
