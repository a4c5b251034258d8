"""Plausibility rules that keep Ballast from trading on impossible data. Pure.

* `balance_changes`: before an approved plan is executed, the balances its trades rest on (the
  free amount of each traded asset, and the quote's free cash) must still be what the plan
  saw. Anything else trading the account — a second machine, the owner in the exchange's app —
  changes them, and the plan is made again rather than sold twice.
* `snapshot_problems`: a scan is planned from only when it is plausible next to the previous
  one: the total value did not jump beyond what the prices explain, the quote cash did not
  vanish while it was material, and no held asset turned unpriced (missing, zero or NaN).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from core.domain.models import ZERO, Balance, Plan, Portfolio

# A balance that moved by less than this fraction (rounding, fee dust) has not changed.
BALANCE_TOLERANCE = Decimal("0.001")
# Cash counts as material when it is at least this share of the total value.
MATERIAL_CASH = Decimal("0.01")


def plan_balances(plan: Plan, portfolio: Portfolio) -> dict[str, Decimal]:
    """The free balances a plan's trades rest on: each traded asset's and the quote's."""
    balances: dict[str, Decimal] = {}
    for trade in plan.trades:
        holding = portfolio.holdings.get(trade.asset)
        balances[trade.asset] = holding.free if holding is not None else ZERO
    quote = portfolio.quote
    if portfolio.quote_free is not None:
        balances[quote] = portfolio.quote_free
    else:
        balances[quote] = portfolio.cash_balances.get(quote, ZERO)
    return balances


def balance_changes(
    planned: Mapping[str, Decimal],
    current: Mapping[str, Balance],
    tolerance: Decimal = BALANCE_TOLERANCE,
) -> list[str]:
    """How the free balances a plan rests on changed since (empty: none did), in words."""
    changes = []
    for asset, before in sorted(planned.items()):
        balance = current.get(asset)
        now = balance.free if balance is not None else ZERO
        if before == now:
            continue
        scale = max(abs(before), abs(now))
        if scale > 0 and abs(now - before) / scale <= tolerance:
            continue
        changes.append(f"{asset} {_amount(before)} → {_amount(now)}")
    return changes


def _amount(value: Decimal) -> str:
    text = f"{value.normalize():f}" if value else "0"
    return text


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the sanity gate remembers of a scan it accepted."""

    total_value: Decimal
    cash_value: Decimal
    amounts: dict[str, Decimal]  # every priced non-cash asset held, by amount
    prices: dict[str, Decimal]  # their prices in the quote
    quote_cash: Decimal  # the quote currency's own balance (total)


def snapshot_of(portfolio: Portfolio) -> Snapshot:
    """The facts of a portfolio the gate compares the next scan with."""
    return Snapshot(
        total_value=portfolio.total_value,
        cash_value=portfolio.cash_value,
        amounts={asset: h.amount for asset, h in portfolio.holdings.items()},
        prices={asset: h.price for asset, h in portfolio.holdings.items()},
        quote_cash=portfolio.cash_balances.get(portfolio.quote, ZERO),
    )


@dataclass(frozen=True, slots=True)
class Problems:
    """Why a scan is not fit to plan from; `lasting` ones never settle by time."""

    passing: tuple[str, ...] = ()  # a new level (a deposit, a withdrawal) may settle
    lasting: tuple[str, ...] = ()  # a held asset without a usable price

    @property
    def all(self) -> tuple[str, ...]:
        return self.lasting + self.passing

    def __bool__(self) -> bool:
        return bool(self.passing or self.lasting)


def snapshot_problems(
    previous: Snapshot | None, portfolio: Portfolio, max_value_jump: Decimal
) -> Problems:
    """Why `portfolio` is not fit to plan from (empty: it is), next to the last sane scan.

    - an asset held and priced in the last sane scan has no usable price now (missing, zero,
      NaN or stale) — it would drop out of the total and make every other asset look bigger;
    - the quote cash vanished while it was material (≥ 1% of the value) in the last scan;
    - the total value moved more than `max_value_jump` from what the last scan's amounts at
      today's prices would be worth (a move the prices explain is no jump).
    """
    if not portfolio.total_value.is_finite() or portfolio.total_value < 0:
        return Problems(lasting=(f"total value is {portfolio.total_value}",))
    if previous is None:
        return Problems()
    lasting = tuple(f"{asset} has no usable price (was {previous.prices[asset]})"
                    for asset in sorted(previous.amounts)
                    if asset in portfolio.unpriced and asset in previous.prices)
    passing = []
    quote = portfolio.quote
    quote_now = portfolio.cash_balances.get(quote, ZERO)
    if (
        previous.total_value > 0
        and previous.quote_cash >= MATERIAL_CASH * previous.total_value
        and quote_now <= 0
    ):
        passing.append(f"the {quote} balance vanished (was {previous.quote_cash:.2f})")
    expected = _revalued(previous, portfolio)
    if expected is not None and expected > 0:
        jump = portfolio.total_value / expected - 1
        if abs(jump) > max_value_jump:
            passing.append(
                f"total value {jump:+.1%} since the last scan with no matching price move "
                f"({expected:.2f} → {portfolio.total_value:.2f} {quote})"
            )
    return Problems(passing=tuple(passing), lasting=lasting)


def _revalued(previous: Snapshot, portfolio: Portfolio) -> Decimal | None:
    """The last scan's amounts at this scan's prices (its own price where one is missing)."""
    total = previous.cash_value
    for asset, amount in previous.amounts.items():
        price = portfolio.prices.get(asset) or previous.prices.get(asset)
        if price is None or not price.is_finite():
            return None
        total += amount * price
    return total


@dataclass(frozen=True, slots=True)
class Gate:
    """The sanity gate's memory: the last sane scan, and a new level waiting to settle."""

    accepted: Snapshot | None = None
    candidate: Snapshot | None = None
    candidate_since: datetime | None = None
    problems: tuple[str, ...] = ()

    @property
    def open(self) -> bool:
        """Whether plans may be made from the latest scan."""
        return not self.problems


def judge(
    gate: Gate,
    portfolio: Portfolio,
    now: datetime,
    *,
    max_value_jump: Decimal,
    settle_after: timedelta,
) -> Gate:
    """The gate after one more scan: open when the scan is plausible, closed with reasons if not.

    A jump or vanished cash that then stays put (every scan since agrees with the first odd one)
    for `settle_after` is taken as real — a deposit, a withdrawal — and becomes the new normal.
    A held asset without a usable price keeps the gate closed until it is priced again.
    """
    problems = snapshot_problems(gate.accepted, portfolio, max_value_jump)
    current = snapshot_of(portfolio)
    if not problems:
        return Gate(accepted=current)
    if problems.lasting:
        return Gate(accepted=gate.accepted, problems=problems.all)
    candidate, since = gate.candidate, gate.candidate_since
    if candidate is None or since is None or snapshot_problems(candidate, portfolio,
                                                               max_value_jump):
        candidate, since = current, now
    elif now - since >= settle_after:
        return Gate(accepted=current)
    return Gate(accepted=gate.accepted, candidate=current, candidate_since=since,
                problems=problems.all)
