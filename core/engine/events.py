"""What the engine tells its front-ends: plain, immutable event data and an async fan-out.

Events carry no formatting; the Telegram bot or the terminal turns them into messages. The
engine publishes without waiting: a slow subscriber loses its oldest events, never blocks a scan.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from core.domain.models import Plan, Side, SignalKind
from core.engine.approvals import ApprovalState
from core.engine.orders import OrderState


@dataclass(frozen=True, slots=True)
class SignalChanged:
    """A holding's combined signal changed since the previous scan."""

    at: datetime
    asset: str
    previous: SignalKind
    current: SignalKind
    score: float
    reasons: tuple[str, ...] = ()  # each with its vote in front (`− rsi: …`)
    why: str = ""  # the rule behind a label the score does not explain (SELL at +0.00)


@dataclass(frozen=True, slots=True)
class PlanProposed:
    """A plan awaits the owner's decision (or is about to be auto-approved).

    `replaces` names the approval this one supersedes because prices drifted, if any.
    """

    at: datetime
    approval_id: str
    plan: Plan
    expires_at: datetime
    auto: bool = False
    replaces: str | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class OrderResult:
    """How one trade of an executed plan ended."""

    client_order_id: str
    asset: str
    side: Side
    amount: Decimal
    state: OrderState
    filled: Decimal
    average_price: Decimal | None
    fee: Decimal
    fee_currency: str | None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class PlanExecuted:
    """Every order of an approved plan reached a final state and none failed."""

    at: datetime
    approval_id: str
    results: tuple[OrderResult, ...]
    # The cash and its share of the value once the orders ended (None: not read).
    cash_value: Decimal | None = None
    cash_allocation: Decimal | None = None


@dataclass(frozen=True, slots=True)
class ExecutionFailed:
    """An approved plan ended with at least one order not done; `reason` says which and why."""

    at: datetime
    approval_id: str
    reason: str
    results: tuple[OrderResult, ...] = ()
    cash_value: Decimal | None = None
    cash_allocation: Decimal | None = None


@dataclass(frozen=True, slots=True)
class ApprovalClosed:
    """A pending approval ended without execution: expired, rejected or superseded.

    A rejection says who (`by`: `telegram:<user id>`, `terminal` …) and until when its trades
    are snoozed (`core.engine.snooze`).
    """

    at: datetime
    approval_id: str
    state: ApprovalState
    reason: str
    by: str | None = None
    snoozed_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class CashBelowMinimum:
    """Cash fell below the level where the policy raises it (`core.policy.bands`: min_cash −
    cash_band), sent once per breach, not every scan.

    `raise_below` is that level; `raises` whether the next plan raises cash (maintain_reserve).
    Letters stored before these fields existed read with None: no promise is made for them.
    """

    at: datetime
    cash_allocation: Decimal
    min_cash: Decimal
    raise_below: Decimal | None = None
    raises: bool | None = None


@dataclass(frozen=True, slots=True)
class ExchangeTrouble:
    """The exchange failed a scan; the engine keeps retrying (sent once per outage)."""

    at: datetime
    message: str


@dataclass(frozen=True, slots=True)
class ExchangeRecovered:
    """The exchange answers again after `ExchangeTrouble`; `failed_scans` were lost meanwhile."""

    at: datetime
    since: datetime
    failed_scans: int


@dataclass(frozen=True, slots=True)
class SuspectData:
    """The account data looks impossible, so no plan is made from it (sent once per episode).

    `problems` says what looked wrong: a held asset without a usable price, the quote cash
    vanishing, a total value jump with no price move.
    """

    at: datetime
    problems: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SuspectDataCleared:
    """The account data is plausible again (or a new level held long enough to be real)."""

    at: datetime
    since: datetime


@dataclass(frozen=True, slots=True)
class TradingPaused:
    """Ballast paused trading by itself: a second Ballast seems to trade the same account.

    Sent once per pause; trading stays paused (across restarts) until the owner resumes it.
    """

    at: datetime
    reason: str


Event = (
    SignalChanged
    | PlanProposed
    | PlanExecuted
    | ExecutionFailed
    | ApprovalClosed
    | CashBelowMinimum
    | ExchangeTrouble
    | ExchangeRecovered
    | SuspectData
    | SuspectDataCleared
    | TradingPaused
)


@dataclass(slots=True)
class Subscription:
    """One subscriber's queue of events; iterate it with `async for`."""

    queue: asyncio.Queue[Event] = field(default_factory=lambda: asyncio.Queue(maxsize=1000))
    dropped: int = 0

    def offer(self, event: Event) -> None:
        """Queue `event`, dropping the oldest one when the subscriber has fallen behind."""
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(event)

    def pending(self) -> list[Event]:
        """Take every queued event without waiting (handy for tests and batch consumers)."""
        events = []
        while not self.queue.empty():
            events.append(self.queue.get_nowait())
        return events

    async def __aiter__(self) -> AsyncIterator[Event]:
        while True:
            yield await self.queue.get()


class EventBus:
    """Fan-out of engine events to any number of subscribers."""

    def __init__(self) -> None:
        self._subscribers: list[Subscription] = []

    def subscribe(self) -> Subscription:
        """Start receiving every event published from now on."""
        subscription = Subscription()
        self._subscribers.append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Stop receiving events."""
        if subscription in self._subscribers:
            self._subscribers.remove(subscription)

    def publish(self, event: Event) -> None:
        """Hand `event` to every subscriber without waiting."""
        for subscription in self._subscribers:
            subscription.offer(event)
