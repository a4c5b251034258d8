"""The engine's smaller facts stored as JSON text: an approval's balances, a snapshot's
allocations, the last signals and the sanity gate's last sane snapshot.

Each `*_TEXT` below is what the code before `StoredJson` wrote (json.dumps' `", "` and `": "`
spacing) and must read as the same values, exact decimal spelling included; today's writes are
compact. A damaged value is refused naming the field (the sane snapshot reads as none instead).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from core.domain.models import SignalKind
from core.domain.reference import fresh_reference, snapshot_of
from core.engine.approvals import ApprovalRepo
from core.engine.state import EngineState
from core.engine.summary import (
    reference_from_json,
    reference_to_json,
    signals_from_json,
    signals_to_json,
    snapshot_from_json,
)
from core.storage.store import Store
from core.storage.stored_json import StoredJsonError
from tests.engine_support import T0, plan_of
from tests.factories import portfolio

D = Decimal
PORTFOLIO = portfolio({"BTC": ("0.05", "63500"), "ETH": ("1.2000", "3.1E+3")}, {"USDT": "628.50"})


# -- an approval's balances ---------------------------------------------------------------------

BALANCES = {"ETH": D("1.2000"), "USDT": D("1.5E+3"), "SOL": D("0")}
BALANCES_TEXT = '{"ETH": "1.2000", "USDT": "1.5E+3", "SOL": "0"}'


async def propose_with_balances(store: Store) -> ApprovalRepo:
    repo = ApprovalRepo(store)
    await repo.propose(plan_of(), T0, timedelta(minutes=10), "a1", balances=BALANCES)
    return repo


async def test_an_approval_reads_the_balances_earlier_ballasts_stored(store: Store) -> None:
    repo = await propose_with_balances(store)
    async with store.conn.execute("SELECT balances FROM approvals") as cursor:
        assert [row[0] for row in await cursor.fetchall()] == [
            '{"ETH":"1.2000","USDT":"1.5E+3","SOL":"0"}'
        ]
    await store.conn.execute("UPDATE approvals SET balances = ?", (BALANCES_TEXT,))
    approval = await repo.get("a1")
    assert approval is not None and approval.balances == BALANCES
    assert [str(amount) for amount in approval.balances.values()] == ["1.2000", "1.5E+3", "0"]


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (BALANCES_TEXT.replace('"1.2000"', '"lots"'), "ETH: Input should be a valid decimal"),
        ('{"ETH": "1.2000", "USDT": null}', "USDT: Decimal input should be"),
        ('["ETH"]', "value: Input should be an object"),
        ('{"ETH": "1.2', "Invalid JSON"),
    ],
)
async def test_damaged_balances_are_refused_naming_the_asset(
    store: Store, text: str, named: str
) -> None:
    repo = await propose_with_balances(store)
    await store.conn.execute("UPDATE approvals SET balances = ?", (text,))
    with pytest.raises(StoredJsonError) as raised:
        await repo.get("a1")
    assert str(raised.value).startswith("a stored approval's balances no longer reads: ")
    assert named in str(raised.value)


# -- a snapshot's allocations -------------------------------------------------------------------

ALLOCATIONS = {"BTC": D("0.4220110320994218116568086662"),
               "ETH": D("0.4944507210739682328703396026"),
               "cash": D("0.08353824682660995547285173124")}
# Written by EngineState.add_snapshot before StoredJson, for PORTFOLIO.
ALLOCATIONS_TEXT = ('{"BTC": "0.4220110320994218116568086662", '
                    '"ETH": "0.4944507210739682328703396026", '
                    '"cash": "0.08353824682660995547285173124"}')


async def test_a_snapshot_reads_the_allocations_earlier_ballasts_stored(store: Store) -> None:
    state = EngineState(store)
    await state.add_snapshot(PORTFOLIO, T0)
    async with store.conn.execute("SELECT allocations FROM snapshots") as cursor:
        assert [row[0] for row in await cursor.fetchall()] == [
            ALLOCATIONS_TEXT.replace('", "', '","').replace('": "', '":"')
        ]
    await store.conn.execute("UPDATE snapshots SET allocations = ?", (ALLOCATIONS_TEXT,))
    [snapshot] = await state.snapshots()
    assert snapshot.allocations == ALLOCATIONS
    assert [str(share) for share in snapshot.allocations.values()] == [
        "0.4220110320994218116568086662", "0.4944507210739682328703396026",
        "0.08353824682660995547285173124"]


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (ALLOCATIONS_TEXT.replace('"0.0835', '"about 0.0835'),
         "cash: Input should be a valid decimal"),
        ('"0.42"', "value: Input should be an object"),
        ("", "Invalid JSON"),
    ],
)
async def test_damaged_allocations_are_refused_naming_the_asset(
    store: Store, text: str, named: str
) -> None:
    state = EngineState(store)
    await state.add_snapshot(PORTFOLIO, T0)
    await store.conn.execute("UPDATE snapshots SET allocations = ?", (text,))
    with pytest.raises(StoredJsonError) as raised:
        await state.snapshots()
    assert str(raised.value).startswith("a stored snapshot's allocations no longer reads: ")
    assert named in str(raised.value)


# -- the last signals ---------------------------------------------------------------------------

SIGNALS = {"ADA": SignalKind.STRONG_BUY, "BTC": SignalKind.BUY, "ETH": SignalKind.HOLD,
           "SOL": SignalKind.SELL}
# Written by signals_to_json before StoredJson, for SIGNALS.
SIGNALS_TEXT = '{"ADA": "STRONG_BUY", "BTC": "BUY", "ETH": "HOLD", "SOL": "SELL"}'


def test_the_last_signals_read_as_earlier_ballasts_stored_them() -> None:
    assert signals_from_json(SIGNALS_TEXT) == SIGNALS
    assert signals_from_json(None) == signals_from_json("") == {}
    shuffled = dict(reversed(SIGNALS.items()))
    assert signals_to_json(shuffled) == '{"ADA":"STRONG_BUY","BTC":"BUY","ETH":"HOLD","SOL":"SELL"}'


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (SIGNALS_TEXT.replace('"HOLD"', '"hold"'), "ETH: Input should be 'STRONG_BUY', 'BUY'"),
        ('{"BTC": 1}', "BTC: Input should be 'STRONG_BUY', 'BUY'"),
        ('["BTC"]', "value: Input should be an object"),
        ('{"BTC": "BUY"', "Invalid JSON"),
    ],
)
def test_damaged_last_signals_are_refused_naming_the_asset(text: str, named: str) -> None:
    with pytest.raises(StoredJsonError) as raised:
        signals_from_json(text)
    assert str(raised.value).startswith("a stored last scan's signals no longer reads: ")
    assert named in str(raised.value)


# -- the sanity gate's last sane snapshot -------------------------------------------------------

# Written by core.domain.sanity.snapshot_to_json before StoredJson, for snapshot_of(PORTFOLIO).
SANE_TEXT = ('{"total_value": "7523.50", "cash_value": "628.50", '
             '"amounts": {"BTC": "0.05", "ETH": "1.2000"}, '
             '"prices": {"BTC": "63500", "ETH": "3.1E+3"}, "quote_cash": "628.50"}')


def test_the_last_sane_snapshot_reads_as_earlier_ballasts_stored_it() -> None:
    snapshot = snapshot_of(PORTFOLIO)
    read = snapshot_from_json(SANE_TEXT)
    assert read == snapshot
    assert read is not None and (str(read.total_value), str(read.prices["ETH"])) == (
        "7523.50", "3.1E+3")


def test_the_gate_reference_reads_back_as_written_and_a_damaged_one_as_none() -> None:
    reference = fresh_reference(PORTFOLIO, T0)
    written = reference_to_json(reference)
    assert reference_from_json(written) == reference
    assert reference_from_json(written.replace('"sampled_at"', '"sampled"')) is None
    assert reference_from_json(None) is None


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "garbage",
        SANE_TEXT.replace('"7523.50"', '"a lot"'),
        SANE_TEXT.replace('"quote_cash": "628.50"', '"quote": "USDT"'),
        SANE_TEXT.replace('{"BTC": "63500", "ETH": "3.1E+3"}', '["63500", "3.1E+3"]'),
        "[]",
    ],
)
def test_a_damaged_last_sane_snapshot_reads_as_none(text: str | None) -> None:
    # As before StoredJson: the gate then judges the next scan without a reference.
    assert snapshot_from_json(text) is None
