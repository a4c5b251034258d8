"""The policy's working state: the portfolio as projected by the trades planned so far.

Every rule reads the projected state (cash, total value, each asset's free amount) and adds
trades through `Book.sell` / `Book.buy`, which enforce the market minimums, the trade cap and
one order per asset, and record what was skipped and why.

Fee convention: with fee rate f, a sell of value v adds v·(1−f) to cash and a buy of value v
costs v·(1+f); either way the total value drops by f·v.

Two limits apply to every trade but a stop-loss sell (a safety exit is never held back by
them): the cost test (a new order worth less than `cost_multiple` × 2f × V is not worth its
round-trip fees) and the turnover budget (what is left of `turnover_budget` × V after the value
traded in the window and this plan's trades so far).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, localcontext

from core.config.rules import PolicySettings
from core.domain.models import (
    ZERO,
    AssetSignal,
    MarketRules,
    PlannedTrade,
    Portfolio,
    PositionFacts,
    Side,
    SignalKind,
    SkippedTrade,
    SkipReason,
    TradeReason,
)
from core.domain.rounding import floor_to_step, order_problem

# Working precision: far beyond any exchange's digits, so no comparison is decided by rounding.
PRECISION = 50
# The finest amount when a market's step is unknown: 18 decimals, ETH's wei.
FINEST_STEP = Decimal("1e-18")
NO_FACTS = PositionFacts()
# An order worth less than half a cent of the quote is rounding left over (an asset exactly
# at max_position, a cash shortfall of 1e-20), not a trade: it is neither planned nor reported.
NEGLIGIBLE = Decimal("0.005")
BUYING = frozenset({SignalKind.STRONG_BUY, SignalKind.BUY})


def divide(numerator: Decimal, denominator: Decimal, *, up: bool) -> Decimal:
    """`numerator / denominator`, rounded up or down in the last digit (never to nearest)."""
    with localcontext() as ctx:
        ctx.prec = PRECISION
        ctx.rounding = ROUND_CEILING if up else ROUND_FLOOR
        return numerator / denominator


def ceil_to_step(amount: Decimal, step: Decimal | None) -> Decimal:
    """Round `amount` up to a multiple of `step` (no step: unchanged)."""
    if step is None or step <= 0:
        return amount
    steps = (amount / step).to_integral_value(rounding=ROUND_CEILING)
    return steps * step


@dataclass(slots=True)
class Asset:
    """One non-cash asset as projected: its price, amounts, signal and effective order rules."""

    name: str
    price: Decimal
    free: Decimal
    locked: Decimal
    dust: bool
    held: bool
    signal: SignalKind
    score: float
    rules: MarketRules
    facts: PositionFacts
    downtrend: bool = False

    @property
    def value(self) -> Decimal:
        return (self.free + self.locked) * self.price

    @property
    def sellable(self) -> Decimal:
        """The free amount an order can take: rounded down to the step."""
        return floor_to_step(self.free, self.rules.amount_step)


@dataclass(slots=True)
class Order:
    """A trade being assembled; several rules may add to one sell."""

    side: Side
    asset: str
    amount: Decimal
    reasons: list[TradeReason]
    why: str = ""


@dataclass(slots=True)
class Book:
    """The projected portfolio and the plan so far."""

    settings: PolicySettings
    now: datetime
    start_value: Decimal
    cap_value: Decimal
    value: Decimal
    cash: Decimal
    spendable: Decimal
    assets: dict[str, Asset]
    unpriced: tuple[str, ...]
    signals: Mapping[str, AssetSignal]
    turnover_left: Decimal | None = None
    """Value still allowed to trade under the turnover budget (None: no budget)."""
    orders: dict[str, Order] = field(default_factory=dict)
    skipped: list[SkippedTrade] = field(default_factory=list)
    _skip_keys: set[tuple[str, Side, SkipReason]] = field(default_factory=set)

    @property
    def fee_rate(self) -> Decimal:
        return self.settings.fee_rate

    def max_value(self) -> Decimal:
        """The most an asset may be worth after this plan: max_position of `cap_value`."""
        return self.settings.max_position * self.cap_value

    def min_value(self) -> Decimal:
        """The least a non-dust holding may be worth: min_position of the starting value."""
        return self.settings.min_position * self.start_value

    def weakest_first(self) -> list[Asset]:
        """Priced holdings, weakest first: lowest score, then larger value, then name."""
        held = [a for a in self.assets.values() if a.held]
        return sorted(held, key=lambda a: (a.score, -a.value, a.name))

    def skip(self, asset: str, side: Side, reason: SkipReason, detail: str = "") -> None:
        """Record a considered trade that is not planned (once per asset, side and reason).

        A buy held back by max_position is not reported for an asset whose sell was held
        back: the plan wanted it smaller (a trim that hit the trade cap, say), and "not bought:
        at max position" beside "not trimmed" would read as if it wanted both.
        """
        key = (asset, side, reason)
        if reason is SkipReason.MAX_POSITION and any(
            s.asset == asset and s.side is Side.SELL for s in self.skipped
        ):
            return
        if key not in self._skip_keys:
            self._skip_keys.add(key)
            self.skipped.append(SkippedTrade(asset, side, reason, detail))

    def seconds_since(self, moment: datetime | None) -> float | None:
        return None if moment is None else (self.now - moment).total_seconds()

    def sell_protection(self, asset: Asset) -> tuple[SkipReason, str] | None:
        """Why `asset` may not be sold at all now (dust, never_sell, min_hold), or None."""
        if asset.dust:
            return SkipReason.DUST, "below the market's minimum order"
        if asset.name in self.settings.never_sell:
            return SkipReason.NEVER_SELL, "on the never_sell list"
        held_for = self.seconds_since(asset.facts.last_buy)
        if held_for is not None and held_for < self.settings.min_hold:
            return SkipReason.MIN_HOLD, (
                f"bought {held_for:.0f} s ago; min_hold is {self.settings.min_hold} s"
            )
        return None

    def worth_cost_value(self) -> Decimal:
        """The smallest order worth its round-trip fees: cost_multiple × 2·fee_rate × V."""
        return self.settings.cost_multiple * 2 * self.fee_rate * self.start_value

    def sell(self, asset: Asset, amount: Decimal, reason: TradeReason) -> bool:
        """Add a sell of `amount` (on the step, ≤ sellable) for `reason`; False if not planned."""
        if amount <= 0:
            return False
        order = self.orders.get(asset.name)
        if order is None and not self._may_open(asset, Side.SELL, amount, reason):
            return False
        if order is not None and not self._within_turnover(asset, Side.SELL, amount, reason):
            return False
        if order is None:
            self.orders[asset.name] = Order(Side.SELL, asset.name, amount, [reason])
        else:
            order.amount += amount
            if reason not in order.reasons:
                order.reasons.append(reason)
        value = amount * asset.price
        fee = value * self.fee_rate
        self._use_turnover(value)
        asset.free -= amount
        self.cash += value - fee
        self.spendable += value - fee
        self.value -= fee
        return True

    def add_reason(self, name: str, reason: TradeReason) -> None:
        """List one more reason on an existing order (a rule that agrees with an earlier one)."""
        order = self.orders.get(name)
        if order is not None and reason not in order.reasons:
            order.reasons.append(reason)

    def buy(self, asset: Asset, amount: Decimal, why: str = "") -> bool:
        """Add a buy of `amount` (on the step), `why` this asset in words; False if not
        planned (recorded as skipped)."""
        if amount <= 0 or not self._may_open(asset, Side.BUY, amount, TradeReason.BUY_SIGNAL):
            return False
        self.orders[asset.name] = Order(Side.BUY, asset.name, amount, [TradeReason.BUY_SIGNAL],
                                        why)
        value = amount * asset.price
        fee = value * self.fee_rate
        self._use_turnover(value)
        asset.free += amount
        asset.held = True
        self.cash -= value + fee
        self.spendable -= value + fee
        self.value -= fee
        return True

    def _may_open(self, asset: Asset, side: Side, amount: Decimal, reason: TradeReason) -> bool:
        """Whether a new order passes the market minimums, the cost test, the turnover budget
        and the trade cap (else: skipped)."""
        problem = order_problem(asset.rules, amount, asset.price)
        if problem is not None:
            if not 0 < amount * asset.price < NEGLIGIBLE:
                self.skip(asset.name, side, SkipReason.BELOW_MIN_TRADE, problem)
            return False
        value = amount * asset.price
        least = self.worth_cost_value()
        if reason is not TradeReason.STOP_LOSS and value < least:
            self.skip(
                asset.name,
                side,
                SkipReason.NOT_WORTH_COST,
                f"{value:,.2f} is below cost_multiple × round-trip fees × V ({least:,.2f})",
            )
            return False
        if not self._within_turnover(asset, side, amount, reason):
            return False
        if len(self.orders) >= self.settings.max_trades_per_cycle:
            self.skip(
                asset.name,
                side,
                SkipReason.TRADE_CAP,
                f"max_trades_per_cycle ({self.settings.max_trades_per_cycle}) reached",
            )
            return False
        return True

    def _within_turnover(
        self, asset: Asset, side: Side, amount: Decimal, reason: TradeReason
    ) -> bool:
        """Whether the turnover budget leaves room for `amount` more (else: skipped)."""
        left = self.turnover_left
        if left is None or reason is TradeReason.STOP_LOSS or amount * asset.price <= left:
            return True
        self.skip(
            asset.name,
            side,
            SkipReason.TURNOVER_BUDGET,
            f"{amount * asset.price:,.2f} is more than the {max(left, ZERO):,.2f} left of "
            f"turnover_budget ({self.settings.turnover_budget} of the value per "
            f"{self.settings.turnover_period} s)",
        )
        return False

    def _use_turnover(self, value: Decimal) -> None:
        if self.turnover_left is not None:
            self.turnover_left -= value

    def trades(self) -> tuple[PlannedTrade, ...]:
        """The planned orders with estimated value and fee, in the order they were planned."""
        result = []
        for order in self.orders.values():
            price = self.assets[order.asset].price
            value = order.amount * price
            result.append(
                PlannedTrade(
                    side=order.side,
                    asset=order.asset,
                    amount=order.amount,
                    price=price,
                    value=value,
                    fee=value * self.fee_rate,
                    reasons=tuple(order.reasons),
                    why=order.why,
                )
            )
        return tuple(result)


def effective_rules(rules: MarketRules | None, settings: PolicySettings) -> MarketRules:
    """The market's rules with Ballast's own minimum trade value folded into min_notional.

    Without a known step, amounts are kept to `FINEST_STEP`: then every value the policy
    computes is exact at its working precision, so its cash and position limits hold to the
    last digit instead of up to a rounding error.
    """
    if rules is None:
        return MarketRules(min_notional=settings.min_trade_value, amount_step=FINEST_STEP)
    step = rules.amount_step if rules.amount_step is not None and rules.amount_step > 0 else None
    return MarketRules(
        min_notional=max(rules.min_notional, settings.min_trade_value),
        amount_step=step or FINEST_STEP,
        min_amount=rules.min_amount,
        price_tick=rules.price_tick,
    )


def open_book(
    portfolio: Portfolio,
    signals: Mapping[str, AssetSignal],
    positions: Mapping[str, PositionFacts],
    markets: Mapping[str, MarketRules],
    settings: PolicySettings,
    now: datetime,
    cap_value: Decimal,
    traded_recently: Decimal = ZERO,
) -> Book:
    """The starting state: every priced holding, plus every priced asset with a buy signal.

    `cap_value` is the value that max_position is measured against (see `make_plan`);
    `traded_recently` is what the turnover budget has already spent in its window.
    """
    cash_names = frozenset({portfolio.quote, *portfolio.cash_balances})
    assets: dict[str, Asset] = {}
    unpriced = set(portfolio.unpriced)

    def add(name: str, price: Decimal, free: Decimal, locked: Decimal, dust: bool) -> None:
        sig = signals.get(name)
        assets[name] = Asset(
            name=name,
            price=price,
            free=free,
            locked=locked,
            dust=dust,
            held=free + locked > 0,
            signal=sig.signal if sig is not None else SignalKind.HOLD,
            # A NaN score would make "weakest first" depend on input order: count it as 0.
            score=sig.score if sig is not None and math.isfinite(sig.score) else 0.0,
            rules=effective_rules(markets.get(name), settings),
            facts=positions.get(name, NO_FACTS),
            downtrend=sig is not None and sig.downtrend,
        )

    for name, holding in portfolio.holdings.items():
        if _usable_price(holding.price):
            add(name, holding.price, holding.free, holding.locked, holding.dust)
        else:
            unpriced.add(name)
    for name, sig in signals.items():
        if name in assets or name in cash_names or sig.signal not in BUYING:
            continue
        price = portfolio.prices.get(name)
        if price is not None and _usable_price(price):
            add(name, price, ZERO, ZERO, False)
        elif name not in portfolio.holdings:
            unpriced.add(name)

    total = portfolio.total_value
    cash = portfolio.cash_value
    spendable = cash if portfolio.quote_free is None else min(portfolio.quote_free, cash)
    return Book(
        settings=settings,
        now=now,
        start_value=total,
        cap_value=cap_value,
        value=total,
        cash=cash,
        spendable=spendable,
        assets=assets,
        unpriced=tuple(sorted(unpriced)),
        signals=signals,
        turnover_left=(
            None if settings.turnover_budget is None
            else settings.turnover_budget * total - traded_recently
        ),
    )


def _usable_price(price: Decimal) -> bool:
    return price.is_finite() and price > 0
