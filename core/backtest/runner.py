"""`run_backtest`: Ballast, buy-and-hold and calendar rebalancing over one replayed period.

All three start from the same portfolio at the open of the period's first candle and are
valued at every candle close. Ballast decides when a candle closes, from what had closed by
then, and fills at the next candle's open (`core.backtest.replay`, `core.backtest.broker`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

import numpy as np

from core.backtest.benchmarks import (
    EquityCurve,
    StartingPortfolio,
    buy_and_hold,
    calendar_rebalance,
)
from core.backtest.broker import Broker
from core.backtest.engine_run import run_engine
from core.backtest.history import to_datetime
from core.backtest.replay import MarketReplay
from core.backtest.simulation import BacktestInput, Progress, Simulation, Tally, run_fast
from core.domain.models import Balance, Market
from core.engine.events import EventBus

Driver = Literal["fast", "engine"]


@dataclass(frozen=True, slots=True)
class BacktestResult:
    """The three equity curves of one backtest and what Ballast's run went through."""

    timeframe: str
    ballast: EquityCurve
    hodl: EquityCurve
    calendar: EquityCurve
    tally: Tally

    @property
    def start(self) -> datetime:
        """The period's first moment: the open of its first candle."""
        return to_datetime(int(self.ballast.times[0]))

    @property
    def end(self) -> datetime:
        """The period's last moment: the close of its last candle."""
        return to_datetime(int(self.ballast.times[-1]))

    @property
    def candles(self) -> int:
        """How many candles the period holds (decisions Ballast took)."""
        return int(self.ballast.times.size - 1)

    def summary(self) -> dict[str, Any]:
        """The JSON shape of docs/formats.md (`ballast`, `hodl`, `calendar`, `period`)."""
        return {
            "ballast": _rounded(self.ballast.metrics(self.timeframe).as_dict()),
            "hodl": _rounded(self.hodl.metrics(self.timeframe).as_dict(trading=False)),
            "calendar": _rounded(self.calendar.metrics(self.timeframe).as_dict()),
            "period": {
                "from": _iso(self.start),
                "to": _iso(self.end),
                "candles": self.candles,
            },
        }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rounded(figures: Mapping[str, float | int]) -> dict[str, float | int]:
    """Money to the cent, ratios to six decimals: more digits only look precise."""
    money = {"final_value", "fees_paid"}
    return {
        key: value if isinstance(value, int) else round(value, 2 if key in money else 6)
        for key, value in figures.items()
    }


def starting_portfolio(
    quote: str, balances: Mapping[str, Balance], cash_assets: tuple[str, ...]
) -> StartingPortfolio:
    """The backtest's starting point from account balances.

    Stablecoins other than the quote count as quote cash at 1.0: candle files hold no
    stablecoin markets to trade them through, and keeping them apart would only strand cash.
    """
    cash = Decimal(0)
    amounts: dict[str, Decimal] = {}
    for asset, balance in sorted(balances.items()):
        if asset == quote or asset in cash_assets:
            cash += balance.total
        elif balance.total > 0:
            amounts[asset] = balance.total
    return StartingPortfolio(quote, cash, amounts)


def check_assets(replay: MarketReplay, start: StartingPortfolio) -> None:
    """Every starting holding needs candles and a price at the start; say which does not."""
    missing = sorted(set(start.amounts) - set(replay.assets))
    if missing:
        raise ValueError(
            f"no {replay.history.timeframe} {start.quote} candles for {', '.join(missing)} "
            f"in the candle directory: add their files or leave them out of the portfolio"
        )
    closes = replay.history.closes[replay.first_row - 1]
    unlisted = sorted(a for a in start.amounts if np.isnan(closes[replay.history.column(a)]))
    if unlisted:
        raise ValueError(
            f"{', '.join(unlisted)} had no candle before {replay.time(replay.first_row):%Y-%m-%d}"
            " (not listed yet?): start later or leave them out of the portfolio"
        )


def simulation(
    replay: MarketReplay, inp: BacktestInput, markets: Mapping[str, Market]
) -> Simulation:
    """Ballast's simulated account at the start of the replay, trading the markets quoted in
    the portfolio's quote currency; either driver runs it."""
    check_assets(replay, inp.start)
    traded = {s: m for s, m in markets.items() if m.quote == inp.start.quote}
    broker = Broker(
        replay.history, inp.start.balances(), traded, quote=inp.start.quote,
        fee_rate=inp.settings.fee_rate, slippage=inp.settings.paper_slippage, name="ballast",
    )
    return Simulation(replay, inp, traded, broker)


async def run_backtest(
    replay: MarketReplay,
    inp: BacktestInput,
    markets: Mapping[str, Market],
    *,
    driver: Driver = "fast",
    bus: EventBus | None = None,
    progress: Progress | None = None,
) -> BacktestResult:
    """Run Ballast (with `driver`) and both benchmarks over the replay's period."""
    sim = simulation(replay, inp, markets)
    settings = inp.settings
    traded = sim.markets
    if driver == "engine":
        ballast = await run_engine(sim, settings, bus=bus, progress=progress)
    else:
        ballast = await run_fast(sim, progress)
    period = replay.history.window(slice(replay.first_row, None))
    hodl = buy_and_hold(period, inp.start)
    calendar = await calendar_rebalance(
        period, inp.start, traded, fee_rate=settings.fee_rate,
        slippage=settings.paper_slippage, min_trade_value=settings.min_trade_value,
    )
    return BacktestResult(replay.history.timeframe, ballast, hodl, calendar, sim.tally)
