"""Plausibility rules that keep Ballast from trading on impossible data. Pure.

* `balance_changes`: before an approved plan is executed, the balances its trades rest on (the
  free amount of each traded asset, and the quote's free cash) must still be what the plan
  saw. Anything else trading the account — a second machine, the owner in the exchange's app —
  changes them, and the plan is made again rather than sold twice.
* `snapshot_problems` and `judge`, the gate before planning: a scan is planned from only when it
  is plausible next to the gate's reference (`core.domain.reference`): every price near its
  recent median, every cash asset on its peg, every balance where Ballast's own fills left it,
  the total value not jumping beyond what the prices explain, the quote cash not vanishing, and
  no material holding turning unpriced. An unpriced holding too small to matter, or one whose
  market is gone for `delisted_after`, is reported and left out, never blocking.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from core.domain.models import ZERO, Balance, Plan, Portfolio
from core.domain.reference import (
    Reference,
    Snapshot,
    advanced,
    amount_text,
    balance_problems,
    fresh_reference,
    peg_problems,
    price_problems,
    reference_price,
)

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
        changes.append(f"{asset} {amount_text(before)} → {amount_text(now)}")
    return changes


@dataclass(frozen=True, slots=True)
class Limits:
    """How far a scan may stray from the gate's reference before it is held (docs/rules.md)."""

    max_value_jump: Decimal  # total value, beyond what the prices explain
    max_price_jump: Decimal  # a price from the median of its recent accepted prices
    peg_band: Decimal  # a cash asset's price from 1 quote unit
    max_balance_change: Decimal  # one balance not moved by own fills, as a share of the value
    immaterial_share: Decimal  # an unpriced holding worth less than this share never blocks…
    min_order_value: Decimal  # …nor one worth less than one order's minimum
    settle_after: timedelta  # a new price or value level that holds this long is real
    delisted_after: timedelta  # a holding without any market leaves the reference after this


@dataclass(frozen=True, slots=True)
class Problems:
    """Why a scan is not fit to plan from, and what it leaves out without blocking."""

    passing: tuple[str, ...] = ()  # a new level (prices, a total) may settle by time
    lasting: tuple[str, ...] = ()  # never settle by time: back to normal, or the owner confirms
    notes: tuple[str, ...] = ()  # reported, never blocking (unpriced holdings too small to matter)

    @property
    def all(self) -> tuple[str, ...]:
        return self.lasting + self.passing

    def __bool__(self) -> bool:
        return bool(self.passing or self.lasting)


def snapshot_problems(
    reference: Reference | None, portfolio: Portfolio, limits: Limits, now: datetime
) -> Problems:
    """Why `portfolio` is not fit to plan from (empty: it is), next to the gate's reference.

    Lasting: a cash asset off its peg; a balance that moved beyond Ballast's own fills; a
    material holding (worth at least one order and `immaterial_share` of the value) turned
    unpriced — missing, zero, NaN or stale — or left without a market for less than
    `delisted_after`. Passing: a price beyond `max_price_jump` from its recent median; the
    quote cash vanished while it was material (≥ 1% of the value); the total value moved more
    than `max_value_jump` from the reference's amounts at today's prices.
    """
    if not portfolio.total_value.is_finite() or portfolio.total_value < 0:
        return Problems(lasting=(f"total value is {portfolio.total_value}",))
    pegs = tuple(peg_problems(portfolio, limits.peg_band))
    if reference is None:
        return Problems(lasting=pegs)
    lasting, notes, left_out = _unpriced(reference, portfolio, limits, now)
    lasting = [*pegs, *lasting,
               *balance_problems(reference, portfolio, limits.max_balance_change)]
    previous = reference.accepted
    passing = price_problems(reference, portfolio, limits.max_price_jump,
                             _immaterial(limits, previous.total_value))
    quote = portfolio.quote
    if (
        previous.total_value > 0
        and previous.quote_cash >= MATERIAL_CASH * previous.total_value
        and portfolio.cash_balances.get(quote, ZERO) <= 0
    ):
        passing.append(f"the {quote} balance vanished (was {previous.quote_cash:.2f})")
    expected = _revalued(previous, portfolio, left_out)
    if expected is not None and expected > 0:
        jump = portfolio.total_value / expected - 1
        if abs(jump) > limits.max_value_jump:
            passing.append(
                f"total value {jump:+.1%} since the last scan with no matching price move "
                f"({expected:.2f} → {portfolio.total_value:.2f} {quote})"
            )
    return Problems(passing=tuple(passing), lasting=tuple(lasting), notes=tuple(notes))


def _unpriced(
    reference: Reference, portfolio: Portfolio, limits: Limits, now: datetime
) -> tuple[list[str], list[str], set[str]]:
    """Held assets without a usable price: what blocks, what is only reported, what is left out.

    An asset counts as held when the reference knows its balance or the last accepted scan held
    it; its worth is that amount at its last accepted price.
    """
    previous = reference.accepted
    known = reference.balances if reference.balances is not None else previous.amounts
    lasting: list[str] = []
    notes: list[str] = []
    left_out: set[str] = set()
    quote = portfolio.quote
    for asset in sorted(set(portfolio.unpriced) & (set(known) | set(previous.amounts))):
        price = previous.prices.get(asset) or reference_price(reference, asset)
        worth = known.get(asset, previous.amounts.get(asset, ZERO)) * (price or ZERO)
        since = reference.unlisted_since.get(asset, now)
        what = ("has no market on the exchange (delisted?)" if asset in portfolio.unlisted
                else "has no usable price")
        if price is None:
            notes.append(f"{asset} {what}; left out of planning, never traded")
        elif worth < _immaterial(limits, previous.total_value):
            notes.append(f"{asset} {what}; left out of planning, never traded "
                         f"(last worth {worth:.2f} {quote}, too little to matter)")
        elif asset in portfolio.unlisted and now - since >= limits.delisted_after:
            notes.append(f"{asset} has no market on the exchange since {since:%Y-%m-%d %H:%M} "
                         f"UTC (delisted?); left out of planning, never traded")
        elif asset in portfolio.unlisted:
            lasting.append(f"{asset} has no market on the exchange (delisted?); planning goes "
                           f"on without it from {since + limits.delisted_after:%Y-%m-%d %H:%M}"
                           " UTC")
            continue
        else:
            lasting.append(f"{asset} has no usable price (was {price})")
            continue
        left_out.add(asset)
    return lasting, notes, left_out


def _immaterial(limits: Limits, total_value: Decimal) -> Decimal:
    """Below this value a holding is too small to matter: less than one order's minimum, or
    than `immaterial_share` of the value."""
    return max(limits.min_order_value, limits.immaterial_share * total_value)


def _revalued(previous: Snapshot, portfolio: Portfolio, left_out: set[str]) -> Decimal | None:
    """The last scan's amounts at this scan's prices (its own price where one is missing),
    without the unpriced holdings left out of planning."""
    total = previous.cash_value
    for asset, amount in previous.amounts.items():
        if asset in left_out:
            continue
        price = portfolio.prices.get(asset) or previous.prices.get(asset)
        if price is None or not price.is_finite():
            return None
        total += amount * price
    return total


@dataclass(frozen=True, slots=True)
class Gate:
    """The sanity gate's memory: its reference, and a new level waiting to settle."""

    reference: Reference | None = None
    candidate: Reference | None = None
    candidate_since: datetime | None = None
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # left out of planning without blocking it

    @property
    def open(self) -> bool:
        """Whether plans may be made from the latest scan."""
        return not self.problems

    @property
    def accepted(self) -> Snapshot | None:
        """The last scan the gate accepted (None: none yet)."""
        return self.reference.accepted if self.reference is not None else None


def judge(gate: Gate, portfolio: Portfolio, now: datetime, limits: Limits) -> Gate:
    """The gate after one more scan: open when the scan is plausible, closed with reasons if not.

    Passing problems (prices, the total value) that then hold still — every scan since agrees
    with the first odd one — for `settle_after` are taken as real, and the price history starts
    again from them. Lasting ones keep the gate closed until the figures are back, or until
    the owner confirms the account as it is (`confirmed`).
    """
    reference = gate.reference
    if reference is not None:
        reference = _tracking_unlisted(reference, portfolio, now)
    problems = snapshot_problems(reference, portfolio, limits, now)
    if not problems:
        if reference is None:
            return Gate(reference=fresh_reference(portfolio, now), notes=problems.notes)
        return Gate(reference=advanced(reference, portfolio, now), notes=problems.notes)
    if problems.lasting or reference is None:
        return Gate(reference=reference, problems=problems.all, notes=problems.notes)
    candidate, since = gate.candidate, gate.candidate_since
    if candidate is None or since is None or snapshot_problems(candidate, portfolio, limits,
                                                               now):
        candidate, since = replace(fresh_reference(portfolio, now), balances=None), now
    elif now - since >= limits.settle_after:
        return Gate(reference=advanced(reference, portfolio, now, settled=True),
                    notes=problems.notes)
    return Gate(reference=reference, candidate=candidate, candidate_since=since,
                problems=problems.all, notes=problems.notes)


def confirmed(gate: Gate, portfolio: Portfolio, now: datetime, limits: Limits) -> Gate:
    """The gate after the owner confirmed `portfolio` as right: it becomes the reference
    (balances, prices, holdings), and the scan is judged again (a cash asset off its peg still
    holds the gate: no confirmation makes 0.01 USDC worth a dollar)."""
    reference = fresh_reference(portfolio, now, kept=gate.reference)
    return judge(Gate(reference=reference), portfolio, now, limits)


def _tracking_unlisted(reference: Reference, portfolio: Portfolio, now: datetime) -> Reference:
    """The reference with when each held asset was first seen without any market."""
    since = {asset: reference.unlisted_since.get(asset, now) for asset in portfolio.unlisted}
    if since == reference.unlisted_since:
        return reference
    return replace(reference, unlisted_since=since)
