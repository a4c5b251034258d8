"""Profit and loss: realised on each sell at average cost, unrealised on each holding, and the
/profit figures (value change, realised P&L and fees over a period, beside holding).

Pure: fills, value points and prices in, figures out; `core.engine.service` gathers the inputs
(the account's trade history, the value snapshots) and the front-ends format the result.

- Realised P&L of a sell: (sell price − average cost before it) × amount − the sell's fee, with
  the average-cost method of `core.account.cost_basis`. Unknown (None) when the history sold
  more than it bought: the units came from somewhere nobody recorded a price for.
- Beside holding: what the holdings at the start of the period would be worth now. Each trade
  in the period is undone at today's prices — a buy of q at p becomes q·p of cash again
  instead of q units now worth q·P — so the difference to the value now is exactly what the
  period's trades (and their fees) earned or cost. Deposits and withdrawals count the same on
  both sides and so cancel.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from core.account.cost_basis import AverageCost, after_fill
from core.account.snapshot import unrealised_pnl
from core.domain.models import ZERO, Holding, PositionFacts, Side
from core.exchange.base import Fill

# The periods of /profit between today and since the start: a name and how many days back.
PERIOD_DAYS: tuple[tuple[str, int], ...] = (("7 days", 7), ("30 days", 30))


@dataclass(frozen=True, slots=True)
class SellResult:
    """One sell with its realised P&L at average cost (None: the cost is unknown)."""

    fill: Fill
    realised: Decimal | None


@dataclass(frozen=True, slots=True)
class PeriodProfit:
    """The figures of one period of /profit, in the quote currency."""

    name: str
    since: datetime | None
    """When the period's figures start (the first value known in it); None: no record yet."""
    value_change: Decimal | None
    realised: Decimal
    unknown_sells: int
    """Sells in the period whose cost was unknown (left out of `realised`)."""
    fees: Decimal
    holding_value: Decimal | None
    """What the holdings at `since` would be worth now; None when a traded asset has no price."""
    value_now: Decimal

    @property
    def beside_holding(self) -> Decimal | None:
        """How much more (or less, negative) the portfolio is worth now than holding."""
        return None if self.holding_value is None else self.value_now - self.holding_value


@dataclass(frozen=True, slots=True)
class Profit:
    """/profit: today, 7 days, 30 days and since the start."""

    at: datetime
    quote: str
    value_now: Decimal
    periods: tuple[PeriodProfit, ...]


def fee_in_quote(fill: Fill, quote: str) -> Decimal:
    """A fill's fee in the quote currency: a base-asset fee at the fill's price; a fee in a third
    currency (BNB) is not counted (its price then is unknown)."""
    base = fill.symbol.split("/")[0]
    if fill.fee_currency == quote:
        return fill.fee
    if fill.fee_currency == base:
        return fill.fee * fill.price
    return ZERO


def realised_sells(fills: Iterable[Fill], quote: str) -> list[SellResult]:
    """Every sell in `fills` (any markets) with its realised P&L at average cost, oldest first."""
    positions: dict[str, AverageCost] = {}
    results: list[SellResult] = []
    for fill in sorted(fills, key=lambda f: f.timestamp):
        # Each sell is judged on its own: one that sold units from before the history does not
        # make the explained sells after it unknown.
        before = replace(positions.get(fill.symbol, AverageCost(ZERO, ZERO)), complete=True)
        after = positions[fill.symbol] = after_fill(before, fill)
        if fill.side is Side.BUY:
            continue
        if not after.complete:
            # Units from before the history: their cost is unknown.
            results.append(SellResult(fill, None))
            continue
        average = before.cost / before.quantity
        realised = fill.amount * (fill.price - average) - fee_in_quote(fill, quote)
        results.append(SellResult(fill, realised))
    return results


def unrealised(holding: Holding, facts: PositionFacts | None) -> Decimal | None:
    """A holding's unrealised P&L against its cost basis (`unrealised_pnl`, as `ballast
    portfolio` shows it); None when the cost basis is unknown, or zero (no change to say)."""
    if facts is None or facts.cost_basis is None or facts.cost_basis <= 0:
        return None
    return unrealised_pnl(holding, facts.cost_basis)


def _undone(fill: Fill, price_now: Decimal, quote: str) -> Decimal:
    """What `fill` changed the value now by, against not having made it (module docs)."""
    base = fill.symbol.split("/")[0]
    fee = fill.fee if fill.fee_currency == quote else ZERO
    fee_units = fill.fee if fill.fee_currency == base else ZERO
    if fill.side is Side.BUY:
        return (fill.amount - fee_units) * price_now - fill.amount * fill.price - fee
    return fill.amount * fill.price - fee - (fill.amount + fee_units) * price_now


def _value_at(points: Sequence[tuple[datetime, Decimal]],
              start: datetime) -> tuple[datetime, Decimal] | None:
    """The last value recorded at or before `start`, else the first after it."""
    before = [p for p in points if p[0] <= start]
    if before:
        return max(before, key=lambda p: p[0])
    return min(points, key=lambda p: p[0]) if points else None


def period_profit(
    name: str,
    start: datetime | None,
    *,
    value_now: Decimal,
    prices: Mapping[str, Decimal],
    points: Sequence[tuple[datetime, Decimal]],
    fills: Sequence[Fill],
    sells: Sequence[SellResult],
    quote: str,
) -> PeriodProfit:
    """The figures of one period from `start` (None: since the first record)."""
    first = min([p[0] for p in points] + [f.timestamp for f in fills], default=None)
    begin = start if start is not None else first
    anchor = _value_at(points, begin) if begin is not None else None
    since = None if begin is None else max(begin, anchor[0]) if anchor is not None else begin
    in_period = [f for f in fills if since is None or f.timestamp >= since]
    chosen = [s for s in sells if since is None or s.fill.timestamp >= since]
    holding: Decimal | None = None
    if all(f.symbol.split("/")[0] in prices for f in in_period):
        holding = value_now - sum((_undone(f, prices[f.symbol.split("/")[0]], quote)
                                   for f in in_period), ZERO)
    return PeriodProfit(
        name=name,
        since=since,
        value_change=None if anchor is None else value_now - anchor[1],
        realised=sum((s.realised for s in chosen if s.realised is not None), ZERO),
        unknown_sells=sum(1 for s in chosen if s.realised is None),
        fees=sum((fee_in_quote(f, quote) for f in in_period), ZERO),
        holding_value=holding,
        value_now=value_now,
    )


def profit_report(
    *,
    now: datetime,
    day_start: datetime,
    quote: str,
    value_now: Decimal,
    prices: Mapping[str, Decimal],
    points: Sequence[tuple[datetime, Decimal]],
    fills: Sequence[Fill],
) -> Profit:
    """/profit: today (from `day_start`), the last 7 and 30 days and since the first record.

    `points` are the recorded portfolio values (time, value); `fills` the account's trades in
    the quote currency (all history: the average cost needs the buys before a period)."""
    sells = realised_sells(fills, quote)

    def one(name: str, start: datetime | None) -> PeriodProfit:
        return period_profit(name, start, value_now=value_now, prices=prices, points=points,
                             fills=fills, sells=sells, quote=quote)

    periods = [one("today", day_start)]
    periods += [one(name, now - timedelta(days=days)) for name, days in PERIOD_DAYS]
    periods.append(one("since start", None))
    return Profit(now, quote, value_now, tuple(periods))


def holding_curve(
    points: Sequence[tuple[datetime, Decimal, Mapping[str, Decimal]]],
    fills: Sequence[Fill],
    amounts_now: Mapping[str, Decimal],
) -> list[Decimal | None]:
    """What the holdings of the first point would have been worth at each point (module docs:
    each trade since the first point undone at that point's prices).

    `points` are (time, total value, allocations by asset); a point's price of an asset is its
    share of the value over the amount held then (the amount now less the fills since). None
    where a traded asset's price at that point cannot be told (it was not held then)."""
    if not points:
        return []
    start = points[0][0]
    since = sorted((f for f in fills if f.timestamp >= start), key=lambda f: f.timestamp)
    curve: list[Decimal | None] = []
    for at, total, allocations in points:
        made = [f for f in since if f.timestamp <= at]
        later = [f for f in fills if f.timestamp > at]
        undone: Decimal | None = ZERO
        for fill in made:
            asset = fill.symbol.split("/")[0]
            held = amounts_now.get(asset, ZERO) - sum((_units(f) for f in later
                                                       if f.symbol == fill.symbol), ZERO)
            share = allocations.get(asset)
            if share is None or held <= 0 or undone is None:
                undone = None
                break
            undone += _undone(fill, share * total / held, fill.symbol.split("/")[1])
        curve.append(None if undone is None else total - undone)
    return curve


def _units(fill: Fill) -> Decimal:
    """The units a fill added to the holding (negative for a sell), after a fee in units."""
    base = fill.symbol.split("/")[0]
    fee_units = fill.fee if fill.fee_currency == base else ZERO
    return fill.amount - fee_units if fill.side is Side.BUY else -(fill.amount + fee_units)
