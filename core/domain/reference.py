"""What the sanity gate (`core.domain.sanity`) compares each scan with, and how that moves. Pure.

The reference must not roll forward with every scan, or every odd figure would explain itself
(a price judged against the last scan's price passes any move made in steps; a balance judged
against the last scan's passes a slow drain). So:

* **Prices** are judged against the *median of recent accepted prices*: one sample per asset at
  most every `SAMPLE_EVERY`, the last `PRICE_SAMPLES` kept (a window of about six hours). A
  median ignores one bad sample, needs no extra exchange call (candles are not even read for
  cash assets or unwatched holdings, and come from the same feed that may be broken), and a
  held scan never feeds it.
* **Cash assets** other than the quote must trade within a band around 1 quote unit (their peg).
* **Balances** (every asset's free + locked) are judged against amounts that move only with
  Ballast's own fills (`with_fill`) or when the owner confirms the account as it is
  (`fresh_reference`). A deposit, a withdrawal, a trade in the exchange's app or a balance that
  drains a little every scan all show up and stay until confirmed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from statistics import median

from core.domain.models import ZERO, Portfolio, Side

PRICE_SAMPLES = 12
SAMPLE_EVERY = timedelta(minutes=30)
# Own fills remembered so that a fill recorded twice (a lookup after a restart) counts once.
FILLS_KEPT = 200


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
class OwnFill:
    """One of Ballast's own orders, as filled: what it moved on the account."""

    order_id: str
    asset: str
    side: Side
    amount: Decimal  # base asset filled
    cost: Decimal  # quote paid (buy) or received (sell)
    fee: Decimal = ZERO
    fee_currency: str | None = None


@dataclass(frozen=True, slots=True)
class Reference:
    """The gate's reference: the last accepted scan, recent accepted prices and the balances.

    `balances` is None only for a reference carried over from a Ballast that did not keep one:
    the next accepted scan sets it.
    """

    accepted: Snapshot
    price_history: dict[str, tuple[Decimal, ...]]  # oldest first, every priced non-cash asset
    sampled_at: datetime
    balances: dict[str, Decimal] | None
    fills: tuple[str, ...] = ()
    unlisted_since: dict[str, datetime] = field(default_factory=dict)


def balances_of(portfolio: Portfolio) -> dict[str, Decimal]:
    """Every valued asset's total amount: cash and priced holdings (unpriced ones are unknown)."""
    return {**portfolio.cash_balances,
            **{asset: h.amount for asset, h in portfolio.holdings.items()}}


def fresh_reference(portfolio: Portfolio, now: datetime,
                    kept: Reference | None = None) -> Reference:
    """A reference that takes `portfolio` as it is (the first scan, or the owner confirmed it)."""
    history: dict[str, tuple[Decimal, ...]] = {
        asset: (price,) for asset, price in portfolio.prices.items()}
    balances = balances_of(portfolio)
    if kept is not None:
        # An unpriced holding's amount is unknown this scan: it keeps what it had.
        history |= {asset: kept.price_history[asset] for asset in portfolio.unpriced
                    if asset in kept.price_history}
        balances |= {asset: kept.balances[asset] for asset in portfolio.unpriced
                     if kept.balances is not None and asset in kept.balances}
    return Reference(
        accepted=snapshot_of(portfolio),
        price_history=history,
        sampled_at=now,
        balances=balances,
        fills=kept.fills if kept is not None else (),
        unlisted_since=dict(kept.unlisted_since) if kept is not None else {},
    )


def advanced(reference: Reference, portfolio: Portfolio, now: datetime, *,
             settled: bool = False) -> Reference:
    """The reference after `portfolio` was accepted: its snapshot, and a price sample when due.

    Balances do not move here. `settled`: a new price level held long enough to be taken as
    real, so the price history starts again from it (else its old median would hold it back).
    """
    history: dict[str, tuple[Decimal, ...]]
    if settled:
        history = {asset: (price,) for asset, price in portfolio.prices.items()}
        sampled_at = now
    elif now - reference.sampled_at >= SAMPLE_EVERY:
        history = {asset: (*reference.price_history.get(asset, ()), price)[-PRICE_SAMPLES:]
                   for asset, price in portfolio.prices.items()}
        sampled_at = now
    else:
        history = {asset: reference.price_history.get(asset) or (price,)
                   for asset, price in portfolio.prices.items()}
        sampled_at = reference.sampled_at
    # An unpriced holding keeps its last prices: what it was worth decides whether it matters.
    history |= {asset: reference.price_history[asset] for asset in portfolio.unpriced
                if asset in reference.price_history}
    balances = reference.balances
    if balances is None:
        balances = balances_of(portfolio)
    return replace(reference, accepted=snapshot_of(portfolio), price_history=history,
                   sampled_at=sampled_at, balances=balances)


def with_fill(reference: Reference, fill: OwnFill, quote: str) -> Reference:
    """The reference after one of Ballast's own fills (once per order, however often told)."""
    if fill.order_id in reference.fills or reference.balances is None:
        return reference
    balances = dict(reference.balances)
    sign = 1 if fill.side is Side.BUY else -1
    balances[fill.asset] = balances.get(fill.asset, ZERO) + sign * fill.amount
    balances[quote] = balances.get(quote, ZERO) - sign * fill.cost
    if fill.fee and fill.fee_currency:
        balances[fill.fee_currency] = balances.get(fill.fee_currency, ZERO) - fill.fee
    return replace(reference, balances=balances,
                   fills=(*reference.fills, fill.order_id)[-FILLS_KEPT:])


def reference_price(reference: Reference, asset: str) -> Decimal | None:
    """The median of an asset's recent accepted prices (None: never accepted priced)."""
    history = reference.price_history.get(asset)
    return median(history) if history else None


def price_problems(reference: Reference, portfolio: Portfolio, max_price_jump: Decimal,
                   immaterial: Decimal) -> list[str]:
    """Prices more than `max_price_jump` (a fraction) away from their reference, in words.

    A holding worth less than `immaterial` both at its reference and at today's price is not
    judged: a dust coin's wild price changes nothing Ballast does. Watched assets always are
    (a buy is sized on their price).
    """
    problems = []
    for asset, price in sorted(portfolio.prices.items()):
        usual = reference_price(reference, asset)
        if usual is None or usual <= 0:
            continue
        holding = portfolio.holdings.get(asset)
        if holding is not None and holding.amount * max(price, usual) < immaterial:
            continue
        move = price / usual - 1
        if abs(move) > max_price_jump:
            problems.append(f"{asset} priced {price:.6g}, {move:+.1%} from its recent median "
                            f"{usual:.6g} (limit ±{max_price_jump:.0%})")
    return problems


def peg_problems(portfolio: Portfolio, peg_band: Decimal) -> list[str]:
    """Cash assets priced outside 1 ± `peg_band` quote units, in words."""
    low, high = 1 - peg_band, 1 + peg_band
    return [f"{asset} priced {price:.4g} {portfolio.quote}, off its peg ({low:.2f}–{high:.2f})"
            for asset, price in sorted(portfolio.cash_prices.items())
            if not low <= price <= high]


def balance_problems(reference: Reference, portfolio: Portfolio,
                     max_balance_change: Decimal) -> list[str]:
    """Balances that moved, beyond Ballast's own fills, by more than `max_balance_change` of the
    total value each (valued at today's price, else the reference's), in words."""
    if reference.balances is None or portfolio.total_value <= 0:
        return []
    now = balances_of(portfolio)
    unpriced = set(portfolio.unpriced)
    problems = []
    for asset in sorted(set(reference.balances) | set(now)):
        if asset in unpriced:
            continue  # its amount is unknown this scan; its price is judged instead
        before = reference.balances.get(asset, ZERO)
        after = now.get(asset, ZERO)
        price = _price(asset, portfolio, reference)
        worth = abs(after - before) * price
        if worth > max_balance_change * portfolio.total_value:
            problems.append(
                f"{asset} balance {amount_text(before)} → {amount_text(after)} ({worth:.2f} "
                f"{portfolio.quote}) not by Ballast's own trades; confirm it if it is right")
    return problems


def _price(asset: str, portfolio: Portfolio, reference: Reference) -> Decimal:
    """Today's price, else the reference's; an asset with neither is cash (every other asset
    the reference holds has a price history), worth its price or 1."""
    if asset in portfolio.prices:
        return portfolio.prices[asset]
    return reference_price(reference, asset) or portfolio.cash_prices.get(asset, Decimal(1))


def amount_text(value: Decimal) -> str:
    """An amount in plain digits, without exponent or trailing zeros."""
    return f"{value.normalize():f}" if value else "0"
