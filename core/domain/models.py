"""Domain types shared by the policy, valuation, signals, exchanges and front-ends.

Money and quantities are `Decimal` (they get rounded to exchange steps); indicator scores are
floats. Everything here is plain immutable data: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

ZERO = Decimal(0)


def epoch_ms(moment: datetime) -> int:
    """An aware datetime as UTC epoch milliseconds; a naive one is refused (Ballast works in
    UTC, and a naive time would be read as the machine's local time)."""
    if moment.tzinfo is None:
        raise ValueError(f"time {moment} has no time zone; Ballast works in UTC")
    return int(moment.timestamp() * 1000)


class Side(StrEnum):
    """Direction of a trade, seen from the base asset."""

    BUY = "buy"
    SELL = "sell"


class SignalKind(StrEnum):
    """An asset's combined signal (docs/rules.md)."""

    STRONG_BUY = "STRONG_BUY"
    BUY = "BUY"
    HOLD = "HOLD"
    SELL = "SELL"


class TradeReason(StrEnum):
    """Why the policy planned a trade (docs/formats.md vocabulary)."""

    STOP_LOSS = "stop_loss"
    SIGNAL_SELL = "signal_sell"
    TRIM_TO_MAX = "trim_to_max"
    EXIT_BELOW_MIN = "exit_below_min"
    RAISE_CASH = "raise_cash"
    BUY_SIGNAL = "buy_signal"


class SkipReason(StrEnum):
    """Why the policy considered a trade and did not plan it (docs/rules.md vocabulary)."""

    MIN_HOLD = "min_hold"
    LOSS_GUARD = "loss_guard"
    NEVER_SELL = "never_sell"
    DUST = "dust"
    UNPRICED = "unpriced"
    BELOW_MIN_TRADE = "below_min_trade"
    TRADE_CAP = "trade_cap"
    CASH_FLOOR = "cash_floor"
    MAX_POSITION = "max_position"
    COOLDOWN = "cooldown"
    # The decision mechanisms (docs/rules.md says what each one prevents).
    WITHIN_BAND = "within_band"
    NOT_WORTH_COST = "not_worth_cost"
    TURNOVER_BUDGET = "turnover_budget"
    CONVICTION = "conviction"
    OWNER_HOLDING = "owner_holding"
    DOWNTREND = "downtrend"
    # Not the policy's: the engine leaves out a trade the owner rejected (core.engine.snooze).
    SNOOZED = "snoozed"


@dataclass(frozen=True, slots=True)
class Balance:
    """One asset's balance on the account."""

    free: Decimal
    locked: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.free + self.locked


@dataclass(frozen=True, slots=True)
class Price:
    """A last-trade price of BASE in QUOTE, and when it was observed (None: unknown age)."""

    base: str
    quote: str
    last: Decimal | None
    at: datetime | None = None

    @property
    def symbol(self) -> str:
        return f"{self.base}/{self.quote}"


@dataclass(frozen=True, slots=True)
class MarketRules:
    """An exchange market's order rules for one asset against the quote currency."""

    min_notional: Decimal = ZERO
    amount_step: Decimal | None = None
    min_amount: Decimal = ZERO
    price_tick: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Market:
    """A spot market as the exchange lists it (`BASE/QUOTE`) with its order rules."""

    symbol: str
    base: str
    quote: str
    rules: MarketRules
    active: bool = True


@dataclass(frozen=True, slots=True)
class Holding:
    """A non-cash asset with a balance, valued in the quote currency."""

    asset: str
    free: Decimal
    locked: Decimal
    price: Decimal
    value: Decimal
    allocation: Decimal
    dust: bool = False

    @property
    def amount(self) -> Decimal:
        return self.free + self.locked


@dataclass(frozen=True, slots=True)
class Portfolio:
    """The whole account valued in `quote` (docs/rules.md).

    `prices` holds every priced asset in quote terms, including watchlist assets that are not
    held, so the policy can size buys. `unpriced` assets are excluded from `total_value`.
    """

    quote: str
    total_value: Decimal
    cash_value: Decimal
    cash_balances: dict[str, Decimal]
    holdings: dict[str, Holding]
    prices: dict[str, Decimal]
    dust: tuple[str, ...] = ()
    unpriced: tuple[str, ...] = ()
    quote_free: Decimal | None = None
    """Free balance of the quote currency: what buys can spend (None: unknown, all cash)."""
    cash_prices: dict[str, Decimal] = field(default_factory=dict)
    """Each cash asset's market price in the quote, where it has one (the quote: none)."""
    unlisted: tuple[str, ...] = ()
    """Unpriced holdings with no active market to price them through (delisted, say)."""

    @property
    def cash_allocation(self) -> Decimal:
        return self.cash_value / self.total_value if self.total_value else ZERO


@dataclass(frozen=True, slots=True)
class Candle:
    """One OHLCV candle; `timestamp` is the UTC epoch milliseconds of its open."""

    timestamp: int
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass(frozen=True, slots=True)
class Vote:
    """One strategy's vote on one asset: -1 SELL, 0 HOLD, +1 BUY, with a reason in numbers."""

    strategy: str
    vote: int
    reason: str


@dataclass(frozen=True, slots=True)
class AssetSignal:
    """The combined signal of one asset (docs/rules.md)."""

    asset: str
    signal: SignalKind
    score: float
    votes: tuple[Vote, ...] = ()
    indicators: dict[str, float] = field(default_factory=dict)
    # The asset's price trend on the signal's candles points down (`core.signals.history`
    # says how it is read); the policy may refuse to buy it (`buy_in_downtrend`).
    downtrend: bool = False


@dataclass(frozen=True, slots=True)
class PositionFacts:
    """What Ballast knows about a holding's history: cost basis and its own last trades."""

    cost_basis: Decimal | None = None
    last_buy: datetime | None = None
    last_sell: datetime | None = None


@dataclass(frozen=True, slots=True)
class PlannedTrade:
    """One order of a plan. `amount` is in the base asset, rounded to the market's step."""

    side: Side
    asset: str
    amount: Decimal
    price: Decimal
    value: Decimal
    fee: Decimal
    reasons: tuple[TradeReason, ...]
    # For a buy: why this asset over the other candidates, in words (core.policy.words).
    why: str = ""


@dataclass(frozen=True, slots=True)
class SkippedTrade:
    """A trade the policy considered and did not plan, with why."""

    asset: str
    side: Side
    reason: SkipReason
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Plan:
    """The policy's output: ordered trades, what was skipped, and allocations before/after.

    Allocations are fractions of total value keyed by asset, plus the key ``"cash"``.
    """

    total_value: Decimal
    cash_before: Decimal
    cash_after: Decimal
    trades: tuple[PlannedTrade, ...]
    skipped: tuple[SkippedTrade, ...]
    before: dict[str, Decimal]
    after: dict[str, Decimal]

    @property
    def is_empty(self) -> bool:
        return not self.trades
