"""The five rules of docs/rules.md, applied in priority order to the projected state in a `Book`.

Thresholds that a plan must leave satisfied are measured so that fees and rounding cannot
re-trigger a rule on the next plan (no churn):

- max_position is measured against the value the portfolio will have after this plan's fees
  (`Book.cap_value`, found by `make_plan`), for trims (trigger and target) and buy caps alike;
- min_position and min_cash are measured against V, which is at least the value after the plan;
- trims and cash raises round their amount *up* to the step (the smallest sell that reaches
  the target, never more than the free amount rounded down); buys and whole sells round down;
- buys spend down to a cash level computed on the value *after* their own fee, so the next
  plan finds exactly that cash fraction;
- sized by conviction (`sizing = conviction`), a signal sell and a buy aim at a target
  position that the next plan, at the same score, finds already reached.

The bands (`trim_band`, `cash_band`) only move where a rule starts, never where it stops, so a
rule still leaves its limit satisfied and nothing re-triggers.
"""

from __future__ import annotations

from decimal import Decimal

from core.domain.models import Side, SignalKind, SkipReason, TradeReason
from core.domain.rounding import floor_to_step, order_problem
from core.domain.trend import trend
from core.policy.bands import bands
from core.policy.book import Asset, Book, ceil_to_step, divide
from core.policy.words import buy_choice


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def _pct(fraction: Decimal | None) -> str:
    return "-" if fraction is None else f"{fraction * 100:.1f}%"


def _may_sell(book: Book, asset: Asset) -> bool:
    """Whether any sell of `asset` is allowed now; if not, record why."""
    protection = book.sell_protection(asset)
    if protection is not None:
        book.skip(asset.name, Side.SELL, *protection)
        return False
    if asset.sellable <= 0:
        book.skip(asset.name, Side.SELL, SkipReason.BELOW_MIN_TRADE, "nothing free to sell")
        return False
    return True


def _below(price: Decimal, cost_basis: Decimal | None, fraction: Decimal | None) -> bool:
    """Whether `price` is more than `fraction` below `cost_basis` (False if either is unknown)."""
    if cost_basis is None or fraction is None or cost_basis <= 0:
        return False
    return price < cost_basis * (1 - fraction)


def _sell_up_to(asset: Asset, value: Decimal) -> Decimal:
    """The smallest amount on the step worth at least `value`, capped at the sellable amount."""
    amount = ceil_to_step(divide(value, asset.price, up=True), asset.rules.amount_step)
    return min(amount, asset.sellable)


def sell_conviction(score: float) -> Decimal:
    """How sure a SELL is, 0…1: the score's distance below zero (a SELL at a score ≥ 0 — one
    SELL vote outvoted by BUYs under sell_rule = any — has none)."""
    return Decimal(repr(min(max(-score, 0.0), 1.0)))


def buy_conviction(score: float) -> Decimal:
    """How sure a BUY is, 0…1: its score."""
    return Decimal(repr(min(max(score, 0.0), 1.0)))


def _signal_sell_amount(book: Book, asset: Asset) -> Decimal | None:
    """What a SELL signal sells: everything, or (sized) down to (1 − conviction) of the cap.

    Sized, a holding already at or below its target is left (skipped as `conviction`), and a
    rest below min_position is not kept: then the whole free amount goes.
    """
    if book.settings.sizing == "all_or_nothing":
        return asset.sellable
    conviction = sell_conviction(asset.score)
    target = (1 - conviction) * book.max_value()
    if asset.value <= target:
        book.skip(
            asset.name,
            Side.SELL,
            SkipReason.CONVICTION,
            f"SELL at score {asset.score:+.2f} keeps up to {_money(target)}; "
            f"the holding is {_money(asset.value)}",
        )
        return None
    amount = _sell_up_to(asset, asset.value - target)
    if asset.value - amount * asset.price < book.min_value():
        return asset.sellable
    return amount


def stop_loss_and_signal_sells(book: Book) -> None:
    """Rule 1: stop-loss sells, then SELL-signal sells, weakest first.

    A stop-loss sells the whole free amount; a signal sell too, or with `sizing = conviction`
    down to its target (`_signal_sell_amount`). The loss guard (signal_sell_max_loss) holds
    back signal sells only; min_hold, never_sell and dust hold back both.
    """
    settings = book.settings
    if settings.sell_on_signal:
        for name in book.unpriced:
            sig = book.signals.get(name)
            if sig is not None and sig.signal is SignalKind.SELL:
                book.skip(name, Side.SELL, SkipReason.UNPRICED, "no usable price")
    handled: set[str] = set()
    if settings.stop_loss is not None:
        for asset in book.weakest_first():
            if not _below(asset.price, asset.facts.cost_basis, settings.stop_loss):
                continue
            handled.add(asset.name)
            sold = _may_sell(book, asset) and book.sell(
                asset, asset.sellable, TradeReason.STOP_LOSS
            )
            if sold and settings.sell_on_signal and asset.signal is SignalKind.SELL:
                book.add_reason(asset.name, TradeReason.SIGNAL_SELL)
    if not settings.sell_on_signal:
        return
    for asset in book.weakest_first():
        if asset.signal is not SignalKind.SELL or asset.name in handled:
            continue
        if not _may_sell(book, asset):
            continue
        if _below(asset.price, asset.facts.cost_basis, settings.signal_sell_max_loss):
            book.skip(
                asset.name,
                Side.SELL,
                SkipReason.LOSS_GUARD,
                f"price {asset.price} is more than {_pct(settings.signal_sell_max_loss)} "
                f"below the cost basis {asset.facts.cost_basis}",
            )
            continue
        amount = _signal_sell_amount(book, asset)
        if amount is not None:
            book.sell(asset, amount, TradeReason.SIGNAL_SELL)


def trims_to_max(book: Book) -> None:
    """Rule 2: a holding above max_position + trim_band is sold down to max_position.

    Both are measured against the value after this plan's fees, so that no holding — trimmed
    or untouched — is above max_position + trim_band once the fees are paid.
    """
    cap = book.max_value()
    trigger = bands(book.settings).trim_above * book.cap_value
    for asset in book.weakest_first():
        if asset.value <= cap:
            continue
        if asset.value <= trigger:
            book.skip(
                asset.name,
                Side.SELL,
                SkipReason.WITHIN_BAND,
                f"{_pct(asset.value / book.cap_value)} is within trim_band of max_position "
                f"({_pct(book.settings.max_position)} + {_pct(book.settings.trim_band)})",
            )
            continue
        if not _may_sell(book, asset):
            continue
        book.sell(asset, _sell_up_to(asset, asset.value - cap), TradeReason.TRIM_TO_MAX)


def exits_below_min(book: Book) -> None:
    """Rule 3: a non-dust holding worth less than min_position of V is sold entirely.

    With `keep_small_holdings`, only holdings Ballast bought are: a small holding the owner
    already had stays unless its signal says SELL (rule 1 then sells it).
    """
    floor = book.min_value()
    for asset in book.weakest_first():
        if asset.dust or asset.value <= 0 or asset.value >= floor:
            continue
        if asset.name in book.orders and asset.sellable <= 0:
            continue  # already sold in full by an earlier rule; only a locked part is left
        if book.settings.keep_small_holdings and asset.facts.last_buy is None:
            book.skip(
                asset.name,
                Side.SELL,
                SkipReason.OWNER_HOLDING,
                f"below min_position ({_pct(book.settings.min_position)}) but not bought by "
                "Ballast: kept while keep_small_holdings is on and no signal says SELL",
            )
            continue
        if _may_sell(book, asset):
            book.sell(asset, asset.sellable, TradeReason.EXIT_BELOW_MIN)


def raise_cash(book: Book) -> None:
    """Rule 4: once cash < min_cash − cash_band of V, sell from the weakest holdings until
    cash is back at min_cash.

    A partial sell must leave at least min_position of V, else the whole free amount goes.
    A shortfall smaller than the minimum order waits (it is skipped as below_min_trade).
    """
    settings = book.settings
    target = settings.min_cash * book.start_value
    keep = book.min_value()
    if bands(settings).raise_cash_below * book.start_value <= book.cash < target:
        weakest = next((a for a in book.weakest_first() if not a.dust and a.sellable > 0), None)
        if weakest is not None:
            book.skip(
                weakest.name,
                Side.SELL,
                SkipReason.WITHIN_BAND,
                f"cash {_pct(book.cash / book.start_value)} is within cash_band of min_cash "
                f"({_pct(settings.min_cash)} − {_pct(settings.cash_band)})",
            )
        return
    for asset in book.weakest_first():
        shortfall = target - book.cash
        if shortfall <= 0:
            return
        if asset.dust or asset.sellable <= 0 or not _may_sell(book, asset):
            continue
        # Selling v raises v·(1−f) of cash.
        needed = divide(shortfall, 1 - book.fee_rate, up=True)
        amount = _sell_up_to(asset, needed)
        if asset.value - amount * asset.price < keep:
            amount = asset.sellable
        new_order = asset.name not in book.orders
        if new_order and amount < asset.sellable:
            problem = order_problem(asset.rules, amount, asset.price)
            if problem is not None:
                book.skip(
                    asset.name,
                    Side.SELL,
                    SkipReason.BELOW_MIN_TRADE,
                    f"cash is {_money(shortfall)} short of min_cash: {problem}",
                )
                return
        book.sell(asset, amount, TradeReason.RAISE_CASH)


def buys(book: Book) -> None:
    """Rule 5: buy the strongest BUY/STRONG_BUY assets while cash is high enough.

    STRONG_BUY buys when cash > buy_cash_threshold and spends down to min_cash; a plain BUY
    only when cash > max_cash, down to target_cash. Each buy is capped so the asset stays
    within max_position, never takes cash below cash_floor, and never opens a position
    smaller than min_position. Assets sold in this plan, or by Ballast within rebuy_cooldown,
    are not bought.
    """
    settings = book.settings
    strong_ok = book.cash > settings.buy_cash_threshold * book.value
    plain_ok = book.cash > settings.max_cash * book.value
    if not strong_ok:
        return
    wanted = {SignalKind.STRONG_BUY, SignalKind.BUY} if plain_ok else {SignalKind.STRONG_BUY}
    for name in book.unpriced:
        sig = book.signals.get(name)
        if sig is not None and sig.signal in wanted:
            book.skip(name, Side.BUY, SkipReason.UNPRICED, "no usable price")
    candidates = [a for a in book.assets.values() if a.signal in wanted]
    rank = {SignalKind.STRONG_BUY: 0, SignalKind.BUY: 1}
    candidates.sort(key=lambda a: (rank[a.signal], -a.score, a.value, a.name))
    ranked = [(a.name, a.signal, a.score) for a in candidates]
    for asset in candidates:
        keep = settings.min_cash if asset.signal is SignalKind.STRONG_BUY else settings.target_cash
        seen = book.signals.get(asset.name)
        why = buy_choice(asset.name, ranked, trend(seen) if seen is not None else None)
        _buy_one(book, asset, keep, why)


def _buy_one(book: Book, asset: Asset, keep: Decimal, why: str) -> None:
    """Buy `asset` with the cash above `keep` (a fraction of the value after the buy)."""
    settings = book.settings
    fee = book.fee_rate
    if asset.name in book.orders:
        book.skip(asset.name, Side.BUY, SkipReason.COOLDOWN, "sold in this plan")
        return
    since_sell = book.seconds_since(asset.facts.last_sell)
    if since_sell is not None and since_sell < settings.rebuy_cooldown:
        book.skip(
            asset.name,
            Side.BUY,
            SkipReason.COOLDOWN,
            f"sold {since_sell:.0f} s ago; rebuy_cooldown is {settings.rebuy_cooldown} s",
        )
        return
    if asset.downtrend and not settings.buy_in_downtrend:
        book.skip(
            asset.name,
            Side.BUY,
            SkipReason.DOWNTREND,
            f"{asset.signal.value} but in a downtrend (its close is below its long average); "
            "buy_in_downtrend is off",
        )
        return
    if asset.held and _below(asset.price, asset.facts.cost_basis, settings.stop_loss):
        book.skip(
            asset.name,
            Side.BUY,
            SkipReason.LOSS_GUARD,
            f"more than {_pct(settings.stop_loss)} below its cost basis: under stop-loss",
        )
        return
    room = book.max_value() - asset.value
    if room <= 0:
        book.skip(
            asset.name,
            Side.BUY,
            SkipReason.MAX_POSITION,
            f"already {_pct(asset.value / book.value)} of the portfolio",
        )
        return
    held_back_by = SkipReason.MAX_POSITION
    if settings.sizing == "conviction":
        # A buy aims at conviction × max_position: a weak BUY buys a little, not the limit.
        target = buy_conviction(asset.score) * book.max_value()
        if target - asset.value <= 0:
            book.skip(
                asset.name,
                Side.BUY,
                SkipReason.CONVICTION,
                f"BUY at score {asset.score:+.2f} aims at {_money(target)}; "
                f"the holding is {_money(asset.value)}",
            )
            return
        room = target - asset.value
        held_back_by = SkipReason.CONVICTION
    # Buying v costs v·(1+f) and lowers the value by f·v; solving cash − v(1+f) = keep·(V − f·v)
    # gives the budget that leaves exactly `keep` of the value after the buy. The same with
    # cash_floor is the hard limit (never lower than the budget, as keep ≥ cash_floor).
    budget = divide(book.cash - keep * book.value, 1 + fee - keep * fee, up=False)
    hard_limit = divide(
        book.cash - settings.cash_floor * book.value, 1 + fee - settings.cash_floor * fee, up=False
    )
    spendable = divide(book.spendable, 1 + fee, up=False)
    budget = min(budget, hard_limit, spendable)
    if budget <= 0:
        book.skip(
            asset.name,
            Side.BUY,
            SkipReason.CASH_FLOOR,
            f"no cash above {_pct(keep)} of the portfolio to spend",
        )
        return
    limited_by_cash = budget < room
    amount = floor_to_step(
        divide(min(budget, room), asset.price, up=False), asset.rules.amount_step
    )
    value = amount * asset.price
    # Never leave a position below min_position: rule 3 would sell it on the next plan.
    if asset.value + value < book.min_value():
        reason = SkipReason.CASH_FLOOR if limited_by_cash else held_back_by
        book.skip(
            asset.name,
            Side.BUY,
            reason,
            f"the position would be {_money(asset.value + value)}, below min_position "
            f"({_money(book.min_value())})",
        )
        return
    book.buy(asset, amount, why)
