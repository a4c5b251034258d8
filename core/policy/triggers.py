"""Where a plan could be non-empty: the rule triggers of docs/rules.md over many moments at once.

A backtest holds the same amounts between two trades, so over those candles only prices,
signals and the clock move. `possible_plans` answers, for a whole stretch of decision moments
in vectorised float arithmetic, whether `make_plan` *could* plan a trade at each: a necessary
condition, never a sufficient one. The exact Decimal policy then runs only where it says so.

It is the policy's first round (max_position against V, nothing yet projected) read
conservatively: a plan whose first round trades nothing is empty (`make_plan` settles at once).
Some rule must start a plan, on the state as it stands:

1. a sellable holding under its stop-loss, or with a SELL signal and not held back by the loss
   guard (with `sizing = conviction`, and worth more than the rest the signal keeps);
2. a sellable holding above max_position + trim_band; 3. a sellable non-dust holding below
   min_position (with `keep_small_holdings`, only one Ballast bought: rule 3 keeps the owner's);
4. cash below min_cash − cash_band with anything sellable;
5. cash above buy_cash_threshold with a STRONG_BUY candidate (above max_cash: a BUY) that has
   room under max_position (with `sizing = conviction`, under its conviction's share of it),
   is out of rebuy_cooldown and not under its stop-loss.

"Sellable" is what every sell needs: priced, not dust, not on `never_sell`, out of min_hold,
and a free amount on the step worth the order minimums. Anything else the policy checks
(the trade cap, budgets, a trade's worth) only refuses trades, so it is left out.
Every float comparison is widened by `MARGIN` in the direction that keeps a candle, so float
rounding can only add candles, never drop one the exact policy would trade at.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from core.config.rules import PolicySettings
from core.domain.models import Balance, MarketRules, PositionFacts, SignalKind
from core.domain.rounding import floor_to_step
from core.policy.bands import bands
from core.policy.book import effective_rules
from core.signals.combine import KIND_ORDER

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
CodeArray = npt.NDArray[np.integer[Any]]
BoolArray = npt.NDArray[np.bool_]

# Relative widening of every comparison: float values carry errors near 1e-15.
MARGIN = 1e-9
# Time comparisons are widened by this many milliseconds (datetimes carry microseconds).
TIME_MARGIN_MS = 1.0
SELL = KIND_ORDER.index(SignalKind.SELL)
BUY = KIND_ORDER.index(SignalKind.BUY)
STRONG_BUY = KIND_ORDER.index(SignalKind.STRONG_BUY)


@dataclass(frozen=True, slots=True)
class AccountState:
    """The account between two trades, in floats, over the assets a plan could touch.

    One entry per asset held or watched (`columns` index the price and signal arrays).
    Amounts are free + locked; `sell_amount` is the free amount on the market's step (0 when
    `never_sell` or nothing is free). Unknown cost bases and trade times are NaN.
    """

    cash: float
    columns: IntArray
    amounts: FloatArray
    watched: BoolArray
    always_dust: BoolArray
    dust_notional: FloatArray
    sell_amount: FloatArray
    order_notional: FloatArray
    cost_basis: FloatArray
    last_buy_ms: FloatArray
    last_sell_ms: FloatArray


def account_state(
    balances: Mapping[str, Balance],
    positions: Mapping[str, PositionFacts],
    markets: Mapping[str, MarketRules],
    settings: PolicySettings,
    *,
    quote: str,
    cash_assets: Collection[str],
    columns: Mapping[str, int],
    watchlist: Collection[str],
) -> AccountState | None:
    """The float state of an account; None when it holds something this view cannot value.

    Cash counts at 1.0, as valuation counts it without a market; an account holding a cash
    asset that has price columns, or a holding without them, gets None (then every moment is
    a candidate). `watchlist`: the assets with a signal whether held or not.
    """
    cash = 0.0
    held: dict[str, Balance] = {}
    for asset, balance in balances.items():
        if balance.total == 0:
            continue
        if asset == quote or (asset in cash_assets and asset not in columns):
            cash += float(balance.total)
        elif asset not in columns:
            return None
        else:
            held[asset] = balance
    names = sorted(set(held) | {a for a in watchlist if a in columns and a not in cash_assets})
    size = len(names)
    state = AccountState(
        cash=cash,
        columns=np.array([columns[a] for a in names], dtype=np.int64),
        amounts=np.zeros(size),
        watched=np.array([a in watchlist for a in names], dtype=np.bool_),
        always_dust=np.zeros(size, dtype=np.bool_),
        dust_notional=np.zeros(size),
        sell_amount=np.zeros(size),
        order_notional=np.zeros(size),
        cost_basis=np.full(size, np.nan),
        last_buy_ms=np.full(size, np.nan),
        last_sell_ms=np.full(size, np.nan),
    )
    for i, asset in enumerate(names):
        facts = positions.get(asset, PositionFacts())
        state.cost_basis[i] = _float(facts.cost_basis)
        state.last_buy_ms[i] = _ms(facts.last_buy)
        state.last_sell_ms[i] = _ms(facts.last_sell)
        if asset not in held:
            continue
        balance = held[asset]
        rules = markets.get(asset)
        order = effective_rules(rules, settings)
        state.amounts[i] = float(balance.total)
        if rules is not None:  # `core.domain.valuation.is_dust`: its price-free part, then notional
            state.always_dust[i] = (balance.total < rules.min_amount
                                    or floor_to_step(balance.total, rules.amount_step) <= 0)
            state.dust_notional[i] = float(rules.min_notional)
        sellable = floor_to_step(balance.free, order.amount_step)
        if asset not in settings.never_sell and sellable > 0 and sellable >= order.min_amount:
            state.sell_amount[i] = float(sellable)
        state.order_notional[i] = float(order.min_notional)
    return state


def possible_plans(
    state: AccountState,
    prices: FloatArray,
    priced: BoolArray,
    codes: CodeArray,
    scores: FloatArray,
    now_ms: IntArray,
    settings: PolicySettings,
) -> BoolArray:
    """For each moment (row), whether `make_plan` could plan any trade (module docs).

    `prices[row, column]` and `priced[row, column]` are the last prices and whether they are
    usable, `codes[row, column]` and `scores[row, column]` the signal codes (`KIND_ORDER`) and
    scores, `now_ms[row]` the moments.
    """
    rows = now_ms.size
    if state.columns.size == 0:
        return np.zeros(rows, dtype=np.bool_)
    up, down = 1 + MARGIN, 1 - MARGIN
    ok = priced[:, state.columns]
    price = np.where(ok, prices[:, state.columns], 0.0)
    code = codes[:, state.columns]
    value = state.amounts * price
    total = state.cash + value.sum(axis=1)
    share = total[:, None]
    # Sized by conviction, a signal trade aims at a share of the first round's cap
    # (`Book.max_value`: max_position of V) and is skipped as `conviction` once there.
    sized = settings.sizing == "conviction"
    score = scores[:, state.columns]
    cap = float(settings.max_position) * share
    now = now_ms.astype(np.float64)[:, None]
    held = ok & (state.amounts > 0)
    maybe_active = held & ~state.always_dust & (value >= state.dust_notional * down)

    protected = now - state.last_buy_ms < settings.min_hold * 1000 - TIME_MARGIN_MS
    may_sell = (maybe_active & ~protected & (state.sell_amount > 0)
                & (state.sell_amount * price >= state.order_notional * down))

    never = np.zeros_like(ok)
    stop = _fraction(settings.stop_loss)
    basis = state.cost_basis
    under_stop = price < basis * (1 - stop) * up if stop is not None else never
    sells = may_sell & under_stop
    if settings.sell_on_signal:
        guard = _fraction(settings.signal_sell_max_loss)
        guarded = price < basis * (1 - guard) * down if guard is not None else never
        signal_sells = may_sell & (code == SELL) & ~guarded
        if sized:  # `rules.sell_conviction`: the holding must be worth more than it keeps
            signal_sells &= value > (1 - np.clip(-score, 0.0, 1.0)) * cap * down
        sells |= signal_sells
    # Rules 2 and 4 start only beyond their bands (inside, they skip as within_band).
    levels = bands(settings)
    trim_at = float(levels.trim_above)
    sells |= may_sell & (value > trim_at * share * down)
    small = may_sell & (value < float(settings.min_position) * share * up)
    if settings.keep_small_holdings:
        small &= ~np.isnan(state.last_buy_ms)  # an owner's small holding is kept, never sold
    sells |= small
    possible = sells.any(axis=1)
    if settings.maintain_reserve:
        raise_at = float(levels.raise_cash_below)
        possible |= (state.cash < raise_at * total * up) & may_sell.any(axis=1)

    cooling = now - state.last_sell_ms < settings.rebuy_cooldown * 1000 - TIME_MARGIN_MS
    clearly_under_stop = held & (price < basis * (1 - stop) * down) if stop is not None else never
    candidate = (ok & (state.watched | maybe_active) & ~cooling & ~clearly_under_stop
                 & (value < float(settings.max_position) * share * up))
    strong = state.cash > float(settings.buy_cash_threshold) * total * down
    plain = state.cash > float(settings.max_cash) * total * down
    wanted = (code == STRONG_BUY) | ((code == BUY) & plain[:, None])
    if sized:  # `rules.buy_conviction`: the holding must be worth less than its target
        wanted &= value < np.clip(score, 0.0, 1.0) * cap * up
    possible |= strong & (candidate & wanted).any(axis=1)
    result: BoolArray = possible & (total > 0)
    return result


def _fraction(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _float(value: Decimal | None) -> float:
    return np.nan if value is None else float(value)


def _ms(moment: datetime | None) -> float:
    return np.nan if moment is None else moment.timestamp() * 1000
