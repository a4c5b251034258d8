"""How the engine writes times, decimals and plans into SQLite TEXT columns.

Times are UTC with a fixed width so that text order is time order in SQL comparisons.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from core.domain.models import Plan, PlannedTrade, Side, SkippedTrade, SkipReason, TradeReason

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def time_text(at: datetime) -> str:
    """A UTC time as fixed-width text (naive times are taken as UTC)."""
    if at.tzinfo is not None:
        at = at.astimezone(UTC)
    return at.strftime(_TIME_FORMAT)


def parse_time(text: str) -> datetime:
    """The inverse of `time_text`: an aware UTC datetime."""
    return datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=UTC)


def maybe_time(text: str | None) -> datetime | None:
    """`parse_time` for nullable columns."""
    return None if text is None else parse_time(text)


def maybe_decimal(text: str | None) -> Decimal | None:
    """A nullable TEXT column as a Decimal."""
    return None if text is None else Decimal(text)


def _allocations(values: dict[str, Decimal]) -> dict[str, str]:
    return {key: str(value) for key, value in values.items()}


def plan_to_json(plan: Plan) -> str:
    """Serialise a plan losslessly (Decimals as strings)."""
    data: dict[str, Any] = {
        "total_value": str(plan.total_value),
        "cash_before": str(plan.cash_before),
        "cash_after": str(plan.cash_after),
        "trades": [
            {
                "side": trade.side.value,
                "asset": trade.asset,
                "amount": str(trade.amount),
                "price": str(trade.price),
                "value": str(trade.value),
                "fee": str(trade.fee),
                "reasons": [reason.value for reason in trade.reasons],
            }
            for trade in plan.trades
        ],
        "skipped": [
            {
                "asset": skip.asset,
                "side": skip.side.value,
                "reason": skip.reason.value,
                "detail": skip.detail,
            }
            for skip in plan.skipped
        ],
        "before": _allocations(plan.before),
        "after": _allocations(plan.after),
    }
    return json.dumps(data, separators=(",", ":"))


def plan_from_json(text: str) -> Plan:
    """Read a plan written by `plan_to_json`."""
    data = json.loads(text)
    return Plan(
        total_value=Decimal(data["total_value"]),
        cash_before=Decimal(data["cash_before"]),
        cash_after=Decimal(data["cash_after"]),
        trades=tuple(
            PlannedTrade(
                side=Side(item["side"]),
                asset=item["asset"],
                amount=Decimal(item["amount"]),
                price=Decimal(item["price"]),
                value=Decimal(item["value"]),
                fee=Decimal(item["fee"]),
                reasons=tuple(TradeReason(reason) for reason in item["reasons"]),
            )
            for item in data["trades"]
        ),
        skipped=tuple(
            SkippedTrade(
                asset=item["asset"],
                side=Side(item["side"]),
                reason=SkipReason(item["reason"]),
                detail=item.get("detail", ""),
            )
            for item in data["skipped"]
        ),
        before={key: Decimal(value) for key, value in data["before"].items()},
        after={key: Decimal(value) for key, value in data["after"].items()},
    )
