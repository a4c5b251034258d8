"""Files Ballast creates are its owner's alone, and a failed command leaves none behind."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from core.storage.store import Store


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_a_new_database_and_its_side_files_are_0600(tmp_path: Path) -> None:
    db = tmp_path / "ballast.db"
    async with await Store.open(db) as store:
        await store.conn.execute("CREATE TABLE t (x)")
        assert mode(db) == 0o600
        for side in tmp_path.glob("ballast.db-*"):
            assert mode(side) == 0o600, side


def test_a_failing_portfolio_command_creates_no_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    # Paper mode prices from an exchange that refuses every connection: the command fails.
    result = CliRunner().invoke(app, ["portfolio"], env={
        "BALLAST_MODE": "paper", "BALLAST_EXCHANGE_API_URL": "http://127.0.0.1:9"})
    assert result.exit_code != 0, result.output
    assert list(tmp_path.iterdir()) == []


async def test_an_in_memory_database_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    async with await Store.open(":memory:"):
        pass
    assert list(tmp_path.iterdir()) == []
