"""The sanity gate in the running engine (issue 21, findings 2 and 3): the real paper exchange,
the real policy, SQLite and a hand-held clock; the world misbehaves between scans.

* a dust holding losing its price, or delisted, never freezes planning (after a restart either);
  a material delisted one holds it for `delisted_after`, then is left out;
* a stablecoin priced at a cent, ETH −99%, BTC ×10 and a balance draining 12% a scan are held,
  in auto approval too, and no order is sent; the owner is told once;
* the owner's confirmation of a changed balance reopens the gate, and Ballast's own fills never
  close it.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from core.engine.events import PlanExecuted, SuspectData, SuspectDataCleared
from core.engine.scanning import SANE_SNAPSHOT
from core.engine.service import EngineService
from core.exchange.prices import ManualClock
from core.storage.store import Store
from tests.engine_support import (
    T0,
    D,
    FaultyExchange,
    Rig,
    make_rig,
    order_count,
    paper_rig,
)
from tests.fixed_prices import FixedPrices

# V = 3500 + 1500 + 5000 + 4500 + 5500 + 0.70 = 20000.70: cash 25%, every position ≤ 27.5%,
# so the real policy has nothing to do until the world changes.
ACCOUNT = {"USDT": "3500", "USDC": "1500", "BTC": "0.1", "ETH": "1.5", "SOL": "55",
           "DOGE": "10"}
PRICES = {"BTC/USDT": D("50000"), "ETH/USDT": D("3000"), "SOL/USDT": D("100"),
          "USDC/USDT": D("1"), "DOGE/USDT": D("0.07")}
HOUR = timedelta(hours=1)


async def build(store: Store, **overrides: Any) -> Rig:
    return await paper_rig(store, ACCOUNT, prices=PRICES, real_policy=True,
                           watchlist=("BTC", "ETH", "SOL"), **overrides)


async def restart(store: Store, clock: ManualClock, prices: FixedPrices,
                  exchange: FaultyExchange, **overrides: Any) -> Rig:
    """A fresh engine on the same database and exchange: Ballast started again."""
    return await make_rig(store, clock, prices, exchange, real_policy=True,
                          watchlist=("BTC", "ETH", "SOL"), **overrides)


async def set_balance(store: Store, asset: str, amount: Decimal) -> None:
    """Move a paper balance behind Ballast's back (a withdrawal, a deposit, a drain)."""
    async with store.transaction():
        await store.conn.execute("UPDATE paper_balances SET free = ? WHERE asset = ?",
                                 (str(amount), asset))


async def sane_start(rig: Rig) -> None:
    proposal = await rig.engine.plan(rig.clock.now, on_demand=False)
    assert proposal.approval is None and "nothing to do" in proposal.message, proposal.message
    rig.events.pending()


def told(rig: Rig) -> list[SuspectData]:
    return [e for e in rig.events.pending() if isinstance(e, SuspectData)]


# -- finding 2: materiality --------------------------------------------------------------------

async def test_dust_losing_its_price_never_freezes_planning_even_after_a_restart(
    store: Store,
) -> None:
    rig = await build(store)
    await sane_start(rig)
    rig.prices.set("DOGE/USDT", D("0"))
    for hours in (1, 24, 24 * 30):
        rig = await restart(store, rig.clock, rig.prices, rig.exchange)
        rig.clock.now = T0 + hours * HOUR
        for proposal in (await rig.engine.plan(rig.clock.now, on_demand=False),
                         await rig.engine.plan(rig.clock.now)):  # a due plan, and /plan
            assert "not planning" not in proposal.message, proposal.message
            assert proposal.plan is not None
            assert all(t.asset != "DOGE" for t in proposal.plan.trades), "never traded"
        status = await EngineService(rig.engine, rig.clock).status()
        assert status.on_hold_since is None
        assert status.left_out == (
            "DOGE has no usable price; left out of planning, never traded (last worth 0.70 "
            "USDT, too little to matter)",)
        assert not told(rig)

    # Planning goes on for the rest: cash below the minimum still raises cash.
    await set_balance(store, "USDT", D("1500"))
    rig.clock.now += HOUR
    await rig.engine.confirm_account(rig.clock.now)  # the owner confirms the withdrawal
    proposal = await rig.engine.plan(rig.clock.now)
    assert proposal.approval is not None and proposal.plan is not None, proposal.message
    assert proposal.plan.trades and all(t.asset != "DOGE" for t in proposal.plan.trades)
    assert rig.engine.scans.left_out, "still reported after the confirmation"


async def test_a_delisted_holding_too_small_to_matter_never_holds_planning(
    store: Store,
) -> None:
    rig = await build(store, approval="auto")
    await sane_start(rig)
    rig.exchange.delisted.add("DOGE")
    for hours in (1, 2, 24, 24 * 30):  # 30 days of scans: planning goes on throughout
        rig.clock.now = T0 + hours * HOUR
        await rig.engine.tick(rig.clock.now)
        assert rig.engine.planning_on_hold is None
        assert rig.engine.scans.left_out == (
            "DOGE has no market on the exchange (delisted?); left out of planning, never "
            "traded (last worth 0.70 USDT, too little to matter)",)
    assert not told(rig)


async def test_a_material_delisted_holding_holds_planning_for_a_day_then_is_left_out(
    store: Store,
) -> None:
    rig = await build(store)
    await sane_start(rig)
    rig.exchange.delisted.add("SOL")
    for hours in (1, 12, 23):
        rig.clock.now = T0 + hours * HOUR
        proposal = await rig.engine.plan(rig.clock.now, on_demand=False)
        assert proposal.approval is None
        assert "SOL has no market on the exchange (delisted?)" in proposal.message
    assert len(told(rig)) == 1
    rig.clock.now = T0 + 25 * HOUR
    proposal = await rig.engine.plan(rig.clock.now, on_demand=False)
    assert "not planning" not in proposal.message, proposal.message
    assert proposal.plan is None or all(t.asset != "SOL" for t in proposal.plan.trades)
    assert any(line.startswith("SOL has no market on the exchange since")
               for line in rig.engine.scans.left_out)


# -- finding 3: the gate checks prices and balances --------------------------------------------

@pytest.mark.parametrize(
    ("symbol", "price", "problem"),
    [
        ("USDC/USDT", "0.01", "USDC priced 0.01 USDT, off its peg (0.97–1.03)"),
        ("ETH/USDT", "30", "ETH priced 30, -99.0% from its recent median 3000"),
        ("BTC/USDT", "500000", "BTC priced 500000, +900.0% from its recent median 50000"),
    ],
    ids=["usdc-at-a-cent", "eth-minus-99", "btc-times-10"],
)
async def test_a_price_far_off_its_recent_range_sends_no_order_under_auto_approval(
    store: Store, symbol: str, price: str, problem: str,
) -> None:
    rig = await build(store, approval="auto")
    await sane_start(rig)
    rig.prices.set(symbol, D(price))
    for minutes in (1, 2, 10):
        rig.clock.now = T0 + timedelta(minutes=minutes)
        await rig.engine.tick(rig.clock.now)
        proposal = await rig.engine.plan(rig.clock.now)
        assert proposal.approval is None
        assert "not planning: the account data looks wrong" in proposal.message
        assert problem in proposal.message
    assert await order_count(store) == 0, "nothing was sold or bought on a bad price"
    said = told(rig)
    assert len(said) == 1 and any(problem in p for p in said[0].problems), "told once"

    rig.prices.set(symbol, PRICES[symbol])  # the feed is right again
    rig.clock.now += timedelta(minutes=1)
    await rig.engine.tick(rig.clock.now)
    assert rig.engine.planning_on_hold is None
    assert any(isinstance(e, SuspectDataCleared) for e in rig.events.pending())


async def test_a_balance_draining_12_percent_a_scan_is_held_for_all_12_scans(
    store: Store,
) -> None:
    rig = await build(store, approval="auto")
    await sane_start(rig)
    eth = D(ACCOUNT["ETH"])
    for scan in range(1, 13):
        eth *= D("0.88")
        await set_balance(store, "ETH", eth)
        rig.clock.now = T0 + scan * HOUR
        await rig.engine.tick(rig.clock.now)
        hold = rig.engine.planning_on_hold
        assert hold is not None, f"scan {scan} was planned from"
        assert any(p.startswith("ETH balance 1.5 →") for p in hold[1])
    assert await order_count(store) == 0
    assert len(told(rig)) == 1


async def test_an_owner_confirmed_change_reopens_the_gate(store: Store) -> None:
    rig = await build(store)
    await sane_start(rig)
    await set_balance(store, "USDT", D("8500"))  # a deposit of 5000
    for hours in (1, 2, 5):  # no longer settles by time: the owner says whether it is right
        rig.clock.now = T0 + hours * HOUR
        proposal = await rig.engine.plan(rig.clock.now, on_demand=False)
        assert "USDT balance 3500 → 8500" in proposal.message
    service = EngineService(rig.engine, rig.clock)

    confirmed = await service.confirm_account()

    assert confirmed.answered and confirmed.still_wrong == ()
    assert (await service.status()).on_hold_since is None
    assert any(isinstance(e, SuspectDataCleared) for e in rig.events.pending())
    rig.clock.now += HOUR
    proposal = await rig.engine.plan(rig.clock.now, on_demand=False)
    assert "not planning" not in proposal.message, proposal.message


async def test_a_confirmation_does_not_make_an_off_peg_stablecoin_worth_a_dollar(
    store: Store,
) -> None:
    rig = await build(store)
    await sane_start(rig)
    rig.prices.set("USDC/USDT", D("0.01"))
    rig.clock.now += HOUR
    await rig.engine.tick(rig.clock.now)
    confirmed = await EngineService(rig.engine, rig.clock).confirm_account()
    assert confirmed.answered
    assert any("off its peg" in p for p in confirmed.still_wrong)


async def test_ballasts_own_fills_move_the_balance_reference(store: Store) -> None:
    rig = await build(store, approval="auto")
    await sane_start(rig)
    await set_balance(store, "USDT", D("1500"))  # cash 15%: below the minimum
    rig.clock.now += HOUR
    assert (await rig.engine.confirm_account(rig.clock.now)) is not None
    rig.events.pending()

    proposal = await rig.engine.plan(rig.clock.now, on_demand=False)  # auto: sold at once
    assert proposal.decision is not None and proposal.decision.ok, proposal.message
    assert any(isinstance(e, PlanExecuted) for e in rig.events.pending())
    assert await order_count(store) >= 1
    for hours in (2, 3, 30):
        rig.clock.now = T0 + hours * HOUR
        await rig.engine.tick(rig.clock.now)
        assert rig.engine.planning_on_hold is None, rig.engine.planning_on_hold
    assert not told(rig)


async def test_a_scan_while_ballasts_own_orders_are_in_flight_raises_no_alarm(
    store: Store,
) -> None:
    rig = await build(store)
    await sane_start(rig)
    await set_balance(store, "USDT", D("1500"))  # cash 15%: a sale is planned
    rig.clock.now += HOUR
    await rig.engine.confirm_account(rig.clock.now)
    rig.events.pending()
    proposal = await rig.engine.plan(rig.clock.now)
    assert proposal.approval is not None
    rig.exchange.down_after_order = True  # the sale fills; its answer is lost
    decision = await rig.engine.approve(proposal.approval.id, "owner", rig.clock.now)
    assert decision.state is not None and decision.state.value == "executing"
    rig.exchange.down_after_order = rig.exchange.down = False

    # /portfolio scans now: the sale shows in the balances, its fill is not recorded yet.
    await rig.engine.scan(rig.clock.now + timedelta(seconds=5))
    assert rig.engine.planning_on_hold is None
    rig.clock.now += timedelta(minutes=1)
    await rig.engine.tick(rig.clock.now)  # the order is looked up and its fill recorded
    assert rig.engine.planning_on_hold is None
    assert await order_count(store) == 1
    assert not told(rig)


async def test_a_last_sane_scan_kept_by_an_earlier_ballast_is_still_the_reference(
    store: Store,
) -> None:
    rig = await build(store)
    earlier = ('{"total_value": "20000.70", "cash_value": "5000", "amounts": {"BTC": "0.1", '
               '"ETH": "1.5", "SOL": "55", "DOGE": "10"}, "prices": {"BTC": "50000", '
               '"ETH": "3000", "SOL": "100", "DOGE": "0.07"}, "quote_cash": "3500"}')
    await rig.engine.state.set(SANE_SNAPSHOT, earlier)
    rig.prices.set("ETH/USDT", D("30"))  # the first scan after the upgrade is already odd

    await rig.engine.tick(rig.clock.now)

    hold = rig.engine.planning_on_hold
    assert hold is not None and any(p.startswith("ETH priced 30, -99.0%") for p in hold[1])
    rig.prices.set("ETH/USDT", PRICES["ETH/USDT"])
    rig.clock.now += HOUR
    await rig.engine.tick(rig.clock.now)
    assert rig.engine.planning_on_hold is None
    reference = rig.engine.scans.gate.reference if rig.engine.scans.gate else None
    assert reference is not None and reference.balances is not None, "balances kept from now"
