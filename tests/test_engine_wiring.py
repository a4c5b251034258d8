"""The engine wired to the real account, signals, cost basis and policy, on a paper account.

Portfolio S of docs/rules.md (5% cash) is planned, approved and executed through `start_engine`; the
fills feed Ballast's cost basis and last trades, and planning again at the same prices gives
nothing to do (no churn).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from core.config.settings import load_settings
from core.domain.models import Balance, Side, TradeReason
from core.engine.approvals import ApprovalState
from core.engine.wiring import start_engine
from core.exchange.paper import PaperExchange
from core.exchange.paper_markets import bundled_markets
from core.exchange.prices import ManualClock
from core.storage.store import Store
from tests.engine_support import T0
from tests.fixed_prices import FixedPrices

D = Decimal
PRICES = {"BTC/USDT": D("91182"), "ETH/USDT": D("3685"), "SOL/USDT": D("138.5"),
          "AVAX/USDT": D("38")}
S = {"BTC": "0.03482", "ETH": "1.25", "SOL": "25", "AVAX": "20", "USDT": "628"}


async def test_a_plan_is_made_approved_executed_and_remembered(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    settings = load_settings(env={}, db=tmp_path / "ballast.db", fee_rate="0",
                             watchlist="BTC,ETH,SOL,AVAX", log_file="")
    paper_store = await Store.open(settings.db)
    paper = PaperExchange(paper_store, FixedPrices(PRICES), bundled_markets("binance"),
                          fee_rate=D("0"), clock=clock)
    await paper.seed({asset: Balance(D(amount)) for asset, amount in S.items()})
    running = await start_engine(settings, clock=clock, exchange=paper)
    try:
        service = running.service
        proposal = await service.plan_now()
        assert proposal.approval is not None and proposal.plan is not None
        trades = proposal.plan.trades
        assert trades and all(t.side is Side.SELL for t in trades)
        assert TradeReason.RAISE_CASH in {r for t in trades for r in t.reasons}

        decision = await service.approve(proposal.approval.id, "owner")

        assert decision.ok and decision.state is ApprovalState.DONE
        view = await service.portfolio()
        assert view.portfolio.cash_allocation >= D("0.199")
        sold = {t.asset for t in trades}
        assert {a for a, f in view.facts.items() if f.last_sell == clock.now} == sold
        again = await service.plan_now()
        assert again.approval is None
        assert again.message == "nothing to do: the portfolio is within its limits"
    finally:
        await running.close()
        await paper_store.close()
