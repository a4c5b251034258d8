"""The sanity gate in the real `ballast run` engine (`start_engine`: live mode, ccxt, signals,
policy, SQLite) against the Binance stand-in over real HTTP: a stablecoin ticking at a cent
under auto approval sends nothing, and a dust holding losing its price does not stop planning,
across a restart too (issue 21, findings 2 and 3)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.engine.events import SuspectData
from tests.engine_support import live_engine
from tests.standins.binance import BinanceStandIn

ACCOUNT = {"USDT": "3000", "USDC": "2000", "BTC": "0.05", "ETH": "1.2", "SOL": "30",
           "DOGE": "10"}
PRICES = {"BTC/USDT": "91182", "ETH/USDT": "3685", "SOL/USDT": "138.5", "AVAX/USDT": "38",
          "USDC/USDT": "1.0001", "DOGE/USDT": "0.07"}
ORDERS = "POST /api/v3/order"


@pytest.fixture
async def binance() -> AsyncIterator[BinanceStandIn]:
    async with BinanceStandIn(balances=ACCOUNT, prices=PRICES) as standin:
        yield standin


def now() -> datetime:
    return datetime.now(UTC)


async def test_usdc_at_a_cent_under_auto_approval_sends_no_order(
    binance: BinanceStandIn, tmp_path: Path,
) -> None:
    running = await live_engine(binance, tmp_path / "ballast.db", BALLAST_APPROVAL="auto",
                              BALLAST_ALLOW_LIVE_AUTO="true")
    engine = running.engine
    events = engine.bus.subscribe()
    try:
        await engine.plan(now())  # a sane scan: the gate's reference (it may trade)
        sent = binance.count(ORDERS)
        binance.set_price("USDC/USDT", "0.01")

        for _ in range(3):
            proposal = await engine.plan(now())
            assert proposal.approval is None
            assert "USDC priced 0.01 USDT, off its peg" in proposal.message

        assert binance.count(ORDERS) == sent, "no cash raised on a bad stablecoin tick"
        assert len([e for e in events.pending() if isinstance(e, SuspectData)]) == 1
    finally:
        await running.close()


async def test_dust_losing_its_price_does_not_stop_planning_across_a_restart(
    binance: BinanceStandIn, tmp_path: Path,
) -> None:
    db = tmp_path / "ballast.db"
    running = await live_engine(binance, db)
    try:
        assert await running.engine.scan(now()) is not None
    finally:
        await running.close()
    binance.set_price("DOGE/USDT", "0")
    for _ in range(2):  # before and after a restart: the gate's reference is stored
        running = await live_engine(binance, db)
        try:
            proposal = await running.engine.plan(now())
            assert "not planning" not in proposal.message, proposal.message
            assert proposal.plan is None or all(t.asset != "DOGE"
                                                for t in proposal.plan.trades)
            status = await running.service.status()
            assert status.on_hold_since is None
            assert any(line.startswith("DOGE has no usable price") for line in status.left_out)
        finally:
            await running.close()
