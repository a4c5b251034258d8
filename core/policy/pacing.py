"""How often Ballast decides, and how much it has traded lately: pure, the clock passed in.

The live engine and the backtest both call these, so a backtest paces its decisions and counts
its turnover exactly as the running bot does.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from core.domain.models import ZERO
from core.market.candles import timeframe_ms

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)  # built once: a backtest asks at every candle


def _candle_number(moment: datetime, timeframe: str) -> int:
    """Which candle of `timeframe` `moment` falls in, counted from the epoch (UTC grid)."""
    return ((moment - EPOCH) // _ONE_MS) // timeframe_ms(timeframe)


def decision_due(
    last_plan: datetime | None,
    now: datetime,
    *,
    plan_on: str,
    rebalance_interval: int,
    timeframe: str,
) -> bool:
    """Whether a plan is due at `now`, the last one having been made at `last_plan`.

    `plan_on = "interval"` (the seed): every `rebalance_interval` seconds. `"candle_close"`:
    once per closed candle of `timeframe` — due when a candle has closed since the last plan,
    so the same candle is never re-decided at prices that moved while it formed.
    """
    if last_plan is None:
        return True
    if plan_on == "candle_close":
        return _candle_number(now, timeframe) > _candle_number(last_plan, timeframe)
    return now - last_plan >= timedelta(seconds=rebalance_interval)


def due_at_every_candle(*, plan_on: str, rebalance_interval: int, timeframe: str) -> bool:
    """Whether `decision_due` says yes at every candle of `timeframe`, each at least a candle
    after the last plan: under `candle_close` each closes a new candle, and under `interval`
    each is due when the interval is at most one candle long. A replay need not ask then."""
    if plan_on == "candle_close":
        return True
    return rebalance_interval * 1000 <= timeframe_ms(timeframe)


def next_decision_at(
    last_plan: datetime,
    *,
    plan_on: str,
    rebalance_interval: int,
    timeframe: str,
) -> datetime:
    """When the plan after the one made at `last_plan` becomes due (see `decision_due`)."""
    if plan_on == "candle_close":
        length = timedelta(milliseconds=timeframe_ms(timeframe))
        return EPOCH + (_candle_number(last_plan, timeframe) + 1) * length
    return last_plan + timedelta(seconds=rebalance_interval)


def traded_in_window(
    fills: Iterable[tuple[datetime, Decimal]], now: datetime, period: int
) -> Decimal:
    """The value traded (buys and sells alike) in the `period` seconds up to `now`.

    `fills` are (time, traded value in the quote) pairs; a fill exactly `period` ago is out.
    The turnover budget (`PlanInput.traded_recently`) is measured with this.
    """
    since = now - timedelta(seconds=period)
    return sum((abs(value) for at, value in fills if since < at <= now), ZERO)
