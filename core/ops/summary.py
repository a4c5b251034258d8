"""The daily summary: value and change, cash, trades and fees, signals, what needs attention.

Pure: everything comes in as plain data (the latest scan, value snapshots, recent orders and
approvals, the engine's status) with the time; nothing is read or sent here. `summary_due` and
`next_summary_at` say when, in the owner's time zone, the summary of a day is owed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal

from core.account.pnl import PeriodProfit
from core.domain.models import AssetSignal, Portfolio, SignalKind
from core.domain.moments import moment
from core.engine.approvals import Approval, ApprovalState
from core.engine.events import SignalChanged
from core.engine.orders import OrderRow
from core.engine.state import Snapshot
from core.policy.bands import Bands, CashLevel, cash_level

DAY = timedelta(days=1)
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class EngineHealth:
    """What the summary needs to know about the engine right now."""

    paused: bool = False
    trouble_since: datetime | None = None
    last_error: str | None = None
    last_scan: datetime | None = None
    pending: tuple[str, ...] = ()
    executing: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SummaryInput:
    """Everything a daily summary is made from."""

    now: datetime
    quote: str
    bands: Bands  # the policy's levels: cash is flagged only where the policy acts
    portfolio: Portfolio | None
    signals: Mapping[str, AssetSignal]
    snapshots: Sequence[Snapshot]
    orders: Sequence[OrderRow]
    approvals: Sequence[Approval]
    health: EngineHealth
    period: timedelta = DAY
    zone: tzinfo = UTC
    cash_reason: str | None = None
    signal_changes: Sequence[SignalChanged] = ()  # the period's flips on holdings, in order
    profit: PeriodProfit | None = None
    """The period's P&L figures (core.account.pnl), as /profit gives them; None: unknown."""


@dataclass(frozen=True, slots=True)
class HoldingLine:
    """One holding: value, share of the portfolio and its signal."""

    asset: str
    value: Decimal
    allocation: Decimal
    signal: SignalKind | None


@dataclass(frozen=True, slots=True)
class TradeLine:
    """One trade of the period; `fee_value` is the fee in the quote (None: not convertible)."""

    at: datetime
    side: str
    asset: str
    amount: Decimal
    price: Decimal | None
    value: Decimal
    fee: Decimal
    fee_currency: str | None
    fee_value: Decimal | None


@dataclass(frozen=True, slots=True)
class SignalLine:
    """A signal other than HOLD, on a holding or a watchlist asset."""

    asset: str
    signal: SignalKind
    score: float
    held: bool


@dataclass(frozen=True, slots=True)
class DailySummary:
    """The day in a few lines; `value_since` is when `value_before` was measured."""

    at: datetime
    quote: str
    total_value: Decimal | None
    value_before: Decimal | None
    value_since: datetime | None
    cash_value: Decimal | None
    cash_allocation: Decimal | None
    holdings: tuple[HoldingLine, ...]
    trades: tuple[TradeLine, ...]
    fees: Decimal
    signals: tuple[SignalLine, ...]
    holds: int
    attention: tuple[str, ...]
    # Why cash is where it is (`core.policy.reserve.cash_reason`).
    cash_reason: str | None = None
    signal_changes: tuple[str, ...] = ()  # per holding its path: `ETH HOLD→BUY→HOLD`
    realised: Decimal | None = None
    beside_holding: Decimal | None = None
    unknown_sells: int = 0
    """Sells of the period whose cost was unknown, left out of `realised`."""

    @property
    def change(self) -> Decimal | None:
        """How much the value moved since `value_since`."""
        if self.total_value is None or self.value_before is None:
            return None
        return self.total_value - self.value_before

    @property
    def change_fraction(self) -> Decimal | None:
        """The change as a fraction of the earlier value."""
        change = self.change
        if change is None or not self.value_before:
            return None
        return change / self.value_before


def compose_summary(data: SummaryInput) -> DailySummary:
    """The summary of the `period` up to `data.now`."""
    portfolio = data.portfolio
    start = data.now - data.period
    before = _value_before(data.snapshots, start, data.now)
    trades = _trades(data.orders, start, data.now, data.quote, portfolio)
    return DailySummary(
        at=data.now,
        quote=data.quote,
        total_value=portfolio.total_value if portfolio else None,
        value_before=before.total_value if before else None,
        value_since=before.at if before else None,
        cash_value=portfolio.cash_value if portfolio else None,
        cash_allocation=portfolio.cash_allocation if portfolio else None,
        holdings=_holdings(portfolio, data.signals),
        trades=trades,
        fees=sum((t.fee_value for t in trades if t.fee_value is not None), ZERO),
        signals=_signals(portfolio, data.signals),
        holds=sum(1 for s in data.signals.values() if s.signal is SignalKind.HOLD),
        attention=_attention(data, start),
        cash_reason=data.cash_reason,
        signal_changes=signal_paths(data.signal_changes),
        realised=data.profit.realised if data.profit else None,
        beside_holding=data.profit.beside_holding if data.profit else None,
        unknown_sells=data.profit.unknown_sells if data.profit else 0,
    )


def signal_paths(changes: Sequence[SignalChanged]) -> tuple[str, ...]:
    """Each asset's signal flips of the period as one path, `ETH HOLD→BUY→HOLD`, in the order
    the assets first changed."""
    paths: dict[str, list[str]] = {}
    for change in changes:
        path = paths.setdefault(change.asset, [change.previous.value])
        if path[-1] != change.current.value:
            path.append(change.current.value)
    return tuple(f"{asset} {'→'.join(path)}" for asset, path in paths.items() if len(path) > 1)


def _value_before(snapshots: Sequence[Snapshot], start: datetime,
                  now: datetime) -> Snapshot | None:
    """The last snapshot at or before `start`; failing that the oldest one since (if any)."""
    earlier = [s for s in snapshots if s.at <= start]
    if earlier:
        return max(earlier, key=lambda s: s.at)
    within = [s for s in snapshots if start < s.at < now]
    return min(within, key=lambda s: s.at) if within else None


def _holdings(portfolio: Portfolio | None,
              signals: Mapping[str, AssetSignal]) -> tuple[HoldingLine, ...]:
    if portfolio is None:
        return ()
    lines = [
        HoldingLine(asset, h.value, h.allocation,
                    signals[asset].signal if asset in signals else None)
        for asset, h in portfolio.holdings.items()
        if not h.dust
    ]
    return tuple(sorted(lines, key=lambda line: (-line.value, line.asset)))


def _trades(orders: Sequence[OrderRow], start: datetime, now: datetime, quote: str,
            portfolio: Portfolio | None) -> tuple[TradeLine, ...]:
    lines = []
    for order in orders:
        if order.filled <= 0 or not start < order.updated_at <= now:
            continue
        price = order.average_price
        value = order.cost if order.cost > 0 else order.filled * (price or order.planned_price)
        lines.append(TradeLine(
            at=order.updated_at, side=order.side.value, asset=order.asset, amount=order.filled,
            price=price, value=value, fee=order.fee, fee_currency=order.fee_currency,
            fee_value=_fee_in_quote(order, quote, portfolio),
        ))
    return tuple(sorted(lines, key=lambda line: line.at))


def _fee_in_quote(order: OrderRow, quote: str, portfolio: Portfolio | None) -> Decimal | None:
    currency = order.fee_currency
    if order.fee == 0 or currency is None or currency == quote:
        return order.fee
    if currency == order.asset and order.average_price is not None:
        return order.fee * order.average_price
    price = portfolio.prices.get(currency) if portfolio else None
    return order.fee * price if price else None


def _signals(portfolio: Portfolio | None,
             signals: Mapping[str, AssetSignal]) -> tuple[SignalLine, ...]:
    held = set(portfolio.holdings) if portfolio else set()
    lines = [
        SignalLine(asset, s.signal, s.score, asset in held)
        for asset, s in signals.items()
        if s.signal is not SignalKind.HOLD
    ]
    # Holdings first (they can be sold), then the strongest conviction.
    return tuple(sorted(lines, key=lambda line: (not line.held, -abs(line.score), line.asset)))


def _attention(data: SummaryInput, start: datetime) -> tuple[str, ...]:
    notes = []
    health = data.health
    portfolio = data.portfolio
    if health.trouble_since is not None:
        notes.append(f"The exchange has not answered since "
                     f"{moment(health.trouble_since, data.zone)}"
                     + (f": {health.last_error}" if health.last_error else "."))
    if portfolio is None:
        notes.append("No portfolio: no scan has succeeded yet.")
    elif portfolio.total_value > 0 and cash_level(
            portfolio.cash_allocation, data.bands) is CashLevel.RAISED_NEXT:
        notes.append(f"Cash {portfolio.cash_allocation:.1%} is below "
                     f"{data.bands.raise_cash_below:.0%}, where the policy raises it "
                     f"(the {data.bands.min_cash:.0%} minimum less its band).")
    for approval_id in health.pending:
        notes.append(f"Plan {approval_id} waits for your decision.")
    for approval_id in health.executing:
        notes.append(f"Plan {approval_id} is still executing.")
    for approval in data.approvals:
        finished = approval.finished_at or approval.decided_at or approval.created_at
        if approval.state is ApprovalState.FAILED and start < finished <= data.now:
            notes.append(f"Plan {approval.id} failed"
                         + (f": {approval.reason}" if approval.reason else "."))
    if portfolio is not None and portfolio.unpriced:
        notes.append(f"No price for {', '.join(portfolio.unpriced)}: not valued, not traded.")
    if health.paused:
        notes.append("Proposals are paused.")
    return tuple(notes)


def summary_due(now: datetime, zone: tzinfo, hour: int, last_day: date | None) -> bool:
    """Whether today's summary (in `zone`) is owed: the hour has come and none was sent today."""
    local = now.astimezone(zone)
    return local.hour >= hour and last_day != local.date()


def next_summary_at(now: datetime, zone: tzinfo, hour: int, last_day: date | None) -> datetime:
    """When the next summary falls due (now, if one is owed)."""
    local = now.astimezone(zone)
    if summary_due(now, zone, hour, last_day):
        return now
    day = local.date() if local.hour < hour and last_day != local.date() else (
        local.date() + DAY
    )
    return datetime.combine(day, time(hour), tzinfo=zone)
