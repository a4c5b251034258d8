"""Schema migrations: a database made by every earlier Ballast opens, migrates and keeps its data.

For each schema version k before the current one, a database is built with only the first k
migrations (as that Ballast made it), filled with representative rows, then opened with
`Store.open`. The rows must all still be there, readable by today's code, and the schema must be
exactly what a fresh database gets. A migration appended later is covered without touching
this file: its version becomes one more starting point, and a table without a hand-written
sample row gets a generated one.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from core.domain.models import Side, TradeReason
from core.engine.approvals import ApprovalRepo, ApprovalState
from core.engine.codec import plan_to_json, time_text
from core.engine.events import ExchangeTrouble
from core.engine.orders import OrderRepo, OrderState
from core.engine.state import EngineState
from core.ops.outbox import Outbox, decode
from core.storage.health import DatabaseProblem
from core.storage.store import MIGRATIONS, Store
from tests.engine_support import plan_of, trade

T = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
PLAN = plan_of(trade(Side.SELL, "ETH", "0.5", "3000", TradeReason.RAISE_CASH))

# Realistic rows, as the code of their time wrote them. Tables not listed get generated rows.
SAMPLES: dict[str, dict[str, Any]] = {
    "candles": {"exchange": "binance", "symbol": "BTC/USDT", "timeframe": "1h",
                "ts": 1_700_000_000_000, "open": 37000.5, "high": 37500.0, "low": 36900.1,
                "close": 37420.0, "volume": 1234.5},
    "paper_balances": {"asset": "BTC", "free": "0.03482", "locked": "0"},
    "paper_orders": {"client_order_id": "bl-a1-0", "exchange_order_id": "paper-1",
                     "symbol": "ETH/USDT", "side": "sell", "status": "filled",
                     "amount": "0.5", "filled": "0.5", "average_price": "3000", "cost": "1500",
                     "fee": "1.5", "fee_currency": "USDT", "created_at": time_text(T)},
    "fills": {"fill_id": "paper-1-1", "client_order_id": "bl-a1-0", "asset": "ETH",
              "quote": "USDT", "side": "sell", "amount": "0.5", "price": "3000", "fee": "1.5",
              "fee_currency": "USDT", "at": time_text(T), "source": "ballast"},
    "approvals": {"id": "a1", "plan": plan_to_json(PLAN), "state": "done",
                  "created_at": time_text(T), "expires_at": time_text(T + timedelta(minutes=10)),
                  "decided_at": time_text(T), "decided_by": "owner",
                  "finished_at": time_text(T), "reason": None, "replaced_by": None},
    "orders": {"client_order_id": "bl-a1-0", "approval_id": "a1", "trade_index": 0,
               "symbol": "ETH/USDT", "asset": "ETH", "side": "sell", "amount": "0.5",
               "planned_price": "3000", "state": "filled", "attempts": 1,
               "sent_at": time_text(T), "exchange_order_id": "paper-1", "filled": "0.5",
               "average_price": "3000", "cost": "1500", "fee": "1.5", "fee_currency": "USDT",
               "detail": None, "updated_at": time_text(T)},
    "snapshots": {"at": time_text(T), "total_value": "12632", "cash_value": "628",
                  "allocations": '{"BTC": "0.2513", "cash": "0.0497"}'},
    "engine_state": {"key": "paused", "value": "1"},
    "events": {"id": 1, "at": time_text(T), "kind": "plan_proposed", "data": "{}"},
    "outbox": {"id": 1, "created_at": time_text(T), "kind": "ExchangeTrouble",
               "payload": '{"at":"2026-11-24T12:00:00+00:00","message":"down"}',
               "state": "waiting", "attempts": 2, "last_error": "NetworkError: refused",
               "finished_at": None},
}


def build_old_database(path: Path, version: int) -> None:
    """A database exactly as a Ballast with only the first `version` migrations left it."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        for script in MIGRATIONS[:version]:
            conn.executescript(script)
        conn.execute(f"PRAGMA user_version={version}")
    finally:
        conn.close()


def tables(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ).fetchall()
    return sorted(row[0] for row in rows)


def in_dependency_order(conn: sqlite3.Connection) -> list[str]:
    """Tables ordered so that a table comes after every table its foreign keys point to."""
    remaining = tables(conn)
    ordered: list[str] = []
    while remaining:
        for table in remaining:
            parents = {row[2] for row in conn.execute(f"PRAGMA foreign_key_list({table})")}
            if parents - {table} <= set(ordered):
                ordered.append(table)
                remaining.remove(table)
                break
        else:
            raise AssertionError(f"foreign keys form a cycle among {remaining}")
    return ordered


def sample_row(conn: sqlite3.Connection, table: str,
               inserted: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The hand-written sample (only its columns that exist at this version), or a made-up row."""
    columns = conn.execute(f"PRAGMA table_info({table})").fetchall()
    if table in SAMPLES:
        names = {column[1] for column in columns}
        return {k: v for k, v in SAMPLES[table].items() if k in names}
    links = {row[3]: (row[2], row[4]) for row in conn.execute(f"PRAGMA foreign_key_list({table})")}
    row: dict[str, Any] = {}
    for _, name, kind, _, _, _ in columns:
        if name in links and links[name][0] in inserted:
            parent, parent_column = links[name]
            row[name] = inserted[parent][parent_column]
        elif "INT" in kind.upper():
            row[name] = 1
        elif any(word in kind.upper() for word in ("REAL", "FLOA", "DOUB")):
            row[name] = 1.5
        else:
            row[name] = f"sample {table}.{name}"
    return row


def fill(path: Path) -> dict[str, dict[str, Any]]:
    """Put one representative row in every table; returns what was written."""
    conn = sqlite3.connect(path, isolation_level=None)
    inserted: dict[str, dict[str, Any]] = {}
    try:
        for table in in_dependency_order(conn):
            row = sample_row(conn, table, inserted)
            marks = ", ".join("?" for _ in row)
            conn.execute(f"INSERT INTO {table} ({', '.join(row)}) VALUES ({marks})",
                         tuple(row.values()))
            inserted[table] = row
    finally:
        conn.close()
    return inserted


def schema(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's and index's shape: columns (name, type, not null, default, key), indexes."""
    conn = sqlite3.connect(path)
    try:
        shape: dict[str, list[tuple[Any, ...]]] = {}
        for table in tables(conn):
            shape[table] = [tuple(c[1:]) for c in conn.execute(f"PRAGMA table_info({table})")]
            shape[f"{table} foreign keys"] = [
                tuple(f[2:5]) for f in conn.execute(f"PRAGMA foreign_key_list({table})")
            ]
        shape["indexes"] = sorted(
            (row[0], row[1]) for row in conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            )
        )
    finally:
        conn.close()
    return shape


@pytest.fixture(scope="module")
def fresh_schema(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[Any, ...]]]:
    path = tmp_path_factory.mktemp("fresh") / "ballast.db"
    build_old_database(path, len(MIGRATIONS))
    return schema(path)


@pytest.mark.parametrize("version", range(len(MIGRATIONS)))
async def test_a_database_from_each_earlier_version_migrates_with_its_data(
    tmp_path: Path, version: int, fresh_schema: dict[str, list[tuple[Any, ...]]]
) -> None:
    path = tmp_path / "ballast.db"
    build_old_database(path, version)
    inserted = fill(path)

    async with await Store.open(path) as store:
        assert await store.schema_version() == len(MIGRATIONS)
        for table, row in inserted.items():
            where = " AND ".join(f"{column} IS ?" for column in row)
            async with store.conn.execute(
                f"SELECT COUNT(*) FROM {table} WHERE {where}", tuple(row.values())
            ) as cursor:
                found = await cursor.fetchone()
            assert found is not None and found[0] == 1, f"{table} lost its row at v{version}"
    assert schema(path) == fresh_schema

    async with await Store.open(path) as again:  # opening a migrated database changes nothing
        assert await again.schema_version() == len(MIGRATIONS)
    assert schema(path) == fresh_schema


@pytest.mark.parametrize("version", range(len(MIGRATIONS)))
async def test_todays_code_reads_the_migrated_rows(tmp_path: Path, version: int) -> None:
    """Not just kept: the engine's own repositories understand what older versions wrote."""
    path = tmp_path / "ballast.db"
    build_old_database(path, version)
    inserted = fill(path)
    async with await Store.open(path) as store:
        if "approvals" in inserted:
            approval = await ApprovalRepo(store).get("a1")
            assert approval is not None and approval.state is ApprovalState.DONE
            assert approval.plan.trades == PLAN.trades
        if "orders" in inserted:
            (order,) = await OrderRepo(store).for_approval("a1")
            assert order.state is OrderState.FILLED and order.fee == Decimal("1.5")
        if "engine_state" in inserted:
            assert await EngineState(store).get_flag("paused")
        if "snapshots" in inserted:
            (snapshot,) = await EngineState(store).snapshots()
            assert snapshot.total_value == Decimal("12632")
        if "outbox" in inserted:
            (waiting,) = await Outbox(store).waiting()
            assert decode(waiting.kind, waiting.text) == ExchangeTrouble(T, "down")
        if "paper_balances" in inserted:
            async with store.conn.execute("SELECT free FROM paper_balances") as cursor:
                assert [row[0] for row in await cursor.fetchall()] == ["0.03482"]


async def test_the_database_runs_in_wal_mode(tmp_path: Path) -> None:
    async with (
        await Store.open(tmp_path / "ballast.db") as store,
        store.conn.execute("PRAGMA journal_mode") as cursor,
    ):
        row = await cursor.fetchone()
    assert row is not None and row[0] == "wal"


async def test_a_database_from_a_newer_ballast_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "ballast.db"
    build_old_database(path, len(MIGRATIONS))
    fill(path)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={len(MIGRATIONS) + 1}")
    conn.close()
    before = schema(path)
    with pytest.raises(RuntimeError, match="newer than this Ballast"):
        await Store.open(path)
    assert schema(path) == before


async def test_a_failing_migration_leaves_the_database_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A migration that breaks halfway is rolled back whole: version and data unchanged."""
    path = tmp_path / "ballast.db"
    build_old_database(path, len(MIGRATIONS))
    inserted = fill(path)
    broken = (*MIGRATIONS,
              "CREATE TABLE half_done (x INTEGER); INSERT INTO no_such_table VALUES (1)")
    monkeypatch.setattr("core.storage.store.MIGRATIONS", broken)
    # Said as a database problem naming the file, SQLite's words kept.
    with pytest.raises(DatabaseProblem, match="no_such_table") as raised:
        await Store.open(path)
    assert isinstance(raised.value.__cause__, sqlite3.OperationalError)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert "half_done" not in tables(conn)
        assert conn.execute("SELECT value FROM engine_state").fetchall() == [
            (inserted["engine_state"]["value"],)
        ]
    finally:
        conn.close()
