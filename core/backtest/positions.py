"""What a backtest knows about each holding's history: cost basis and Ballast's last trades.

The live engine reads these facts from its fills table and the exchange's trade history; a
backtest keeps them in memory from the fills it makes, with the same average-cost method
(`core.account.cost_basis.average_cost`). A starting holding's cost basis is what the input says, or
unknown — exactly like a holding the live account had before Ballast arrived. Once Ballast has
sold a position out entirely, the next buy starts a position whose cost basis it knows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

from core.account.cost_basis import average_cost
from core.domain.models import PositionFacts, Side
from core.exchange.base import Fill, Order


@dataclass(slots=True)
class _Position:
    fills: list[Fill] = field(default_factory=list)
    known: bool = True
    facts: PositionFacts = field(default_factory=PositionFacts)


class PositionBook:
    """Position facts per asset, updated from fills in time order."""

    def __init__(
        self,
        quote: str,
        amounts: Mapping[str, Decimal],
        given: Mapping[str, PositionFacts],
        start: datetime,
    ) -> None:
        self._quote = quote
        self._positions: dict[str, _Position] = {}
        for asset in set(amounts) | set(given):
            facts = given.get(asset, PositionFacts())
            position = _Position(facts=facts)
            held = amounts.get(asset, Decimal(0))
            if held > 0:
                if facts.cost_basis is None:
                    position.known = False
                else:
                    # The starting amount as one purchase at the given cost basis.
                    position.fills.append(
                        Fill(f"start-{asset}", None, f"{asset}/{quote}", Side.BUY, held,
                             facts.cost_basis, Decimal(0), quote, start)
                    )
            self._positions[asset] = position
        self._snapshot: dict[str, PositionFacts] = {
            asset: p.facts for asset, p in self._positions.items()
        }

    def facts(self) -> dict[str, PositionFacts]:
        """The current facts of every asset that has any (a shared, read-only snapshot)."""
        return self._snapshot

    def record(self, asset: str, order: Order, *, sold_out: bool) -> None:
        """Take one filled order into account; `sold_out`: no sellable amount is left after it."""
        if order.filled <= 0 or order.average_price is None or order.timestamp is None:
            return
        position = self._positions.setdefault(asset, _Position())
        at = order.timestamp
        position.fills.append(
            Fill(order.exchange_order_id or order.client_order_id, order.exchange_order_id,
                 order.symbol, order.side, order.filled, order.average_price, order.fee,
                 order.fee_currency, at)
        )
        if sold_out:
            # Sold out: whatever came before no longer shapes the cost of what comes next.
            position.fills.clear()
            position.known = True
        cost_basis = average_cost(position.fills).average if position.known else None
        facts = position.facts
        position.facts = replace(
            facts,
            cost_basis=cost_basis,
            last_buy=at if order.side is Side.BUY else facts.last_buy,
            last_sell=at if order.side is Side.SELL else facts.last_sell,
        )
        self._snapshot = {**self._snapshot, asset: position.facts}
