"""`make_plan`: the pure, deterministic rebalancing policy of docs/rules.md."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

from core.config.rules import PolicySettings
from core.domain.models import (
    ZERO,
    AssetSignal,
    MarketRules,
    Plan,
    Portfolio,
    PositionFacts,
)
from core.policy.book import PRECISION, Book, open_book
from core.policy.rules import (
    buys,
    exits_below_min,
    raise_cash,
    stop_loss_and_signal_sells,
    trims_to_max,
)

CASH_KEY = "cash"
MAX_ROUNDS = 30


@dataclass(frozen=True)
class PlanInput:
    """Everything the policy looks at, gathered by the caller (no I/O happens in the policy).

    `signals`, `positions` and `markets` are keyed by asset. A missing signal counts as HOLD
    with score 0; missing position facts as unknown (no cost basis, never traded by Ballast);
    a missing market as min notional `min_trade_value` and no step. `watchlist` is carried for
    the front-ends: any priced asset with a BUY or STRONG_BUY signal is a buy candidate.
    `traded_recently` is the value already traded within `turnover_period` before `now`
    (`core.policy.pacing.traded_in_window`); only the turnover budget reads it.
    """

    portfolio: Portfolio
    signals: Mapping[str, AssetSignal]
    positions: Mapping[str, PositionFacts]
    markets: Mapping[str, MarketRules]
    watchlist: Sequence[str]
    now: datetime
    traded_recently: Decimal = ZERO


def make_plan(inp: PlanInput, settings: PolicySettings) -> Plan:
    """Plan the trades the rules of docs/rules.md call for, in priority order, within the trade cap.

    Rules: 1 stop-loss and signal sells, 2 trims above max_position, 3 exits below
    min_position, 4 cash raise to min_cash, 5 buys on BUY/STRONG_BUY. Each rule works on the
    portfolio as projected by the trades before it; several sells of one asset merge into one
    trade listing every reason. Trades beyond max_trades_per_cycle are skipped (`trade_cap`)
    and their effect is not projected, so later rules see what will really happen.
    """
    with localcontext() as ctx:
        ctx.prec = PRECISION
        ctx.rounding = ROUND_HALF_EVEN
        book = _settle(inp, settings)
        return Plan(
            total_value=inp.portfolio.total_value,
            cash_before=inp.portfolio.cash_value,
            cash_after=book.cash,
            trades=book.trades(),
            skipped=tuple(book.skipped),
            before=allocations_before(inp.portfolio),
            after=_allocations_after(book),
        )


def _settle(inp: PlanInput, settings: PolicySettings) -> Book:
    """Run the rules with max_position measured against the value *after* this plan's fees.

    That value depends on the plan, so the rules run again with the value the previous run
    ended at until it no longer changes (a fixed point: amounts are on steps, so this ends,
    in a few rounds as fees are small). A fixed point leaves every asset within max_position
    exactly when the fees are paid, and the next plan finds nothing to trim or top up. Should
    the rounds not settle, the last run whose caps held is used, else the caps are measured
    against V·(1−2f): one plan's fees are at most f·(cash + 2·holdings) ≤ 2·f·V, so that is
    a floor under the value after any plan.
    """
    total = inp.portfolio.total_value
    cap_value = total
    safe: Book | None = None
    for _ in range(MAX_ROUNDS):
        book = _run_rules(inp, settings, cap_value)
        if book.value == cap_value:
            return book
        if book.value > cap_value:
            safe = book
        cap_value = book.value
    return safe or _run_rules(inp, settings, total * (1 - 2 * settings.fee_rate))


def _run_rules(inp: PlanInput, settings: PolicySettings, cap_value: Decimal) -> Book:
    book = open_book(
        inp.portfolio, inp.signals, inp.positions, inp.markets, settings, inp.now, cap_value,
        inp.traded_recently,
    )
    if book.start_value > 0:
        if settings.sell_on_signal or settings.stop_loss is not None:
            stop_loss_and_signal_sells(book)
        trims_to_max(book)
        exits_below_min(book)
        if settings.maintain_reserve:
            raise_cash(book)
        buys(book)
    return book


def allocations_before(portfolio: Portfolio) -> dict[str, Decimal]:
    """Each priced holding's fraction of V, by asset name, then cash."""
    total = portfolio.total_value
    result = {
        name: (holding.value / total if total else ZERO)
        for name, holding in sorted(portfolio.holdings.items())
    }
    result[CASH_KEY] = portfolio.cash_value / total if total else ZERO
    return result


def _allocations_after(book: Book) -> dict[str, Decimal]:
    total = book.value
    result = {
        name: (asset.value / total if total else ZERO)
        for name, asset in sorted(book.assets.items())
        if asset.held
    }
    result[CASH_KEY] = book.cash / total if total else ZERO
    return result
