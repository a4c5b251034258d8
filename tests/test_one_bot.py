"""One bot per account (issue 12 case 1): real processes, real `flock` locks.

A second `ballast run` on the same database, or on the same exchange account with another
database, refuses to start, exits non-zero and names the running one. A lock holder killed with
SIGKILL leaves no stale lock behind.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from core.config.settings import load_settings
from core.runtime.instance_lock import (
    AlreadyRunning,
    account_key,
    account_lock_path,
    acquire,
    database_lock_path,
    one_bot_per_account,
)
from tests.engine_support import stop_gently
from tests.standins.binance import BinanceStandIn

REPO = Path(__file__).resolve().parent.parent
ACCOUNT = {"USDT": "628", "BTC": "0.0348", "ETH": "1.25", "SOL": "25", "AVAX": "20"}
PRICES = {"BTC/USDT": "91182", "ETH/USDT": "3685", "SOL/USDT": "138.5", "AVAX/USDT": "38"}
START_TIMEOUT = 60.0

HOLDER = """
import sys, time
from pathlib import Path
from core.runtime.instance_lock import acquire
acquire(Path(sys.argv[1]), {"pid": __import__("os").getpid(), "database": sys.argv[2]}, "x")
print("held", flush=True)
time.sleep(120)
"""


def hold_in_subprocess(path: Path, database: str) -> subprocess.Popen[str]:
    """Another process takes the lock and keeps it until killed."""
    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), database], cwd=REPO,
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "held"
    return process


def test_a_lock_held_by_another_process_refuses_and_names_it_until_that_process_dies(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ballast.db.lock"
    holder = hold_in_subprocess(path, "/srv/ballast.db")
    try:
        with pytest.raises(AlreadyRunning) as refused:
            acquire(path, {"pid": os.getpid()}, "database /srv/ballast.db")
        assert f"pid {holder.pid}" in str(refused.value)
        assert "database /srv/ballast.db" in str(refused.value)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # The kernel dropped the dead holder's lock: no stale lock file blocks a restart.
    acquire(path, {"pid": os.getpid()}, "database /srv/ballast.db").release()


def test_the_account_lock_is_named_by_a_hash_never_the_key(tmp_path: Path) -> None:
    settings = load_settings(env={}, mode="live", exchange_api_key="my-secret-key",
                             exchange_api_secret="s", lock_dir=str(tmp_path))
    path = account_lock_path(settings)
    assert path is not None and path.parent == tmp_path
    assert "my-secret-key" not in str(path)
    assert path.name == account_key("binance", "my-secret-key") + ".lock"
    assert account_key("binance", "other-key") != account_key("binance", "my-secret-key")
    assert account_lock_path(load_settings(env={}, lock_dir=str(tmp_path))) is None  # paper
    assert database_lock_path(tmp_path / "x.db") == (tmp_path / "x.db.lock").resolve()


def test_two_engines_in_one_process_on_one_database_are_refused_too(tmp_path: Path) -> None:
    settings = load_settings(env={}, db=str(tmp_path / "ballast.db"), lock_dir=str(tmp_path))
    with one_bot_per_account(settings), pytest.raises(AlreadyRunning), \
            one_bot_per_account(settings):
        pass
    with one_bot_per_account(settings):  # released on leaving the block
        pass


async def test_a_second_ballast_run_on_the_same_database_or_account_exits_naming_the_first(
    tmp_path: Path,
) -> None:
    async with BinanceStandIn(balances=ACCOUNT, prices=PRICES) as binance:
        env = {
            **os.environ,
            "BALLAST_MODE": "live",
            "BALLAST_EXCHANGE_API_KEY": binance.api_key,
            "BALLAST_EXCHANGE_API_SECRET": binance.api_secret,
            "BALLAST_EXCHANGE_API_URL": binance.url,
            "BALLAST_DB": str(tmp_path / "first.db"),
            "BALLAST_LOCK_DIR": str(tmp_path / "locks"),
            "BALLAST_WATCHLIST": "BTC,ETH,SOL,AVAX",
            "BALLAST_LOG_FILE": "",
            "BALLAST_BACKUP_DIR": "",
        }
        env.pop("BALLAST_TELEGRAM_TOKEN", None)
        ballast = str(Path(sys.executable).parent / "ballast")
        first = await asyncio.create_subprocess_exec(
            ballast, "run", cwd=tmp_path, env=env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            assert first.stdout is not None
            line = await asyncio.wait_for(first.stdout.readline(), START_TIMEOUT)
            assert b"ballast running" in line, line

            async def second(db: str) -> tuple[int, str]:
                process = await asyncio.create_subprocess_exec(
                    ballast, "run", cwd=tmp_path, env={**env, "BALLAST_DB": db},
                    stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE)
                out, err = await asyncio.wait_for(process.communicate(), START_TIMEOUT)
                assert process.returncode is not None
                return process.returncode, " ".join((out + err).decode().split())

            code, said = await second(str(tmp_path / "first.db"))
            assert code != 0
            assert "already running on database" in said
            assert f"pid {first.pid}" in said and "first.db" in said

            orders_before = binance.count("POST /api/v3/order")
            code, said = await second(str(tmp_path / "second.db"))
            assert code != 0
            assert "already running on the same binance account" in said
            assert f"pid {first.pid}" in said and "first.db" in said
            assert binance.count("POST /api/v3/order") == orders_before
            assert not (tmp_path / "second.db").exists(), "refused before opening anything"
        finally:
            await stop_gently(first)
