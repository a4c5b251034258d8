"""Crash test: real `ballast run` processes killed with SIGKILL in the middle of execution.

The Binance stand-in runs in a thread of the test process with its own event loop, so it
outlives every killed Ballast. Each round resets the account to a portfolio short of cash (so
Ballast plans sells and, with auto approval, executes them), arms a kill point at the next order
request, starts Ballast, and SIGKILLs it when the stand-in reaches that point:

* `lost_request`: the order request arrived but is never carried out (the connection dies);
* `lost_answer`: the order is carried out, the answer never reaches Ballast;
* `racy`: the answer is sent, and the kill lands a seeded 0–50 ms later, while Ballast records.

The next round's Ballast starts on the same database and must settle what the previous one left.
A last, undisturbed Ballast (a fresh `ballast` executable, not a fork) finishes everything and
stops on SIGTERM. Then: no client order id twice at the stand-in, every stand-in order known to
Ballast, every approval final, `PRAGMA integrity_check` ok.

Starting Python with ccxt and pandas-ta imported takes seconds, so the killed processes are
forked from a "zygote" that imported Ballast once; each child then runs the `ballast run`
command exactly as the executable does (`python -m tests.test_crash zygote`).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.engine.codec import parse_time
from tests.standins.binance import BinanceStandIn
from tests.standins.binance_book import BinanceReject

REPO = Path(__file__).resolve().parent.parent
KILL_ROUNDS = int(os.environ.get("CRASH_ROUNDS", "20"))
SEED = 20261124
PHASES = ("lost_request", "lost_answer", "racy")
WAIT = 30.0
FINAL_STATES = {"done", "failed", "rejected", "expired", "superseded"}
# Short of cash (5%) and over max_position on ETH, like the seed portfolio: every round plans
# one or more sells.
ACCOUNT = {"USDT": "628", "BTC": "0.0348", "ETH": "1.25", "SOL": "25", "AVAX": "20"}
PRICES = {"BTC/USDT": "91182", "ETH/USDT": "3685", "SOL/USDT": "138.5", "AVAX/USDT": "38"}


class KillSwitchStandIn(BinanceStandIn):
    """The Binance stand-in with a kill point armed on the n-th order request."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.order_posts = 0
        self.armed: tuple[int, str, float] | None = None
        self.reached = threading.Event()
        self.killed = threading.Event()

    def arm(self, at_post: int, phase: str, delay: float) -> None:
        self.armed = (at_post, phase, delay)
        self.reached.clear()
        self.killed.clear()

    async def _new_order(self, params: dict[str, str]) -> Any:
        self.order_posts += 1
        armed = self.armed
        if armed is None or self.order_posts != armed[0]:
            return await super()._new_order(params)
        _, phase, delay = armed
        self.armed = None
        if phase == "lost_request":
            self.reached.set()
            await asyncio.to_thread(self.killed.wait, WAIT)
            raise BinanceReject(503, -1008, "Server is currently overloaded.")
        result = await super()._new_order(params)
        if phase == "lost_answer":
            self.reached.set()
            await asyncio.to_thread(self.killed.wait, WAIT)
        else:
            asyncio.get_running_loop().call_later(delay, self.reached.set)
        return result


@contextmanager
def standin_in_thread() -> Iterator[tuple[KillSwitchStandIn, Callable[[Callable[[], Any]], Any]]]:
    """The stand-in on its own loop in a thread; `call(fn)` runs `fn` on that loop."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def make() -> KillSwitchStandIn:
        standin = KillSwitchStandIn(balances=ACCOUNT, prices=PRICES)
        await standin.start()
        return standin

    standin = asyncio.run_coroutine_threadsafe(make(), loop).result(WAIT)

    def call(fn: Callable[[], Any]) -> Any:
        async def run() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), loop).result(WAIT)

    try:
        yield standin, call
    finally:
        standin.killed.set()
        asyncio.run_coroutine_threadsafe(standin.stop(), loop).result(WAIT)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(WAIT)
        loop.close()


class Zygote:
    """A process with Ballast imported that forks `ballast run` children on request."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.test_crash", "zygote"],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def _ask(self, request: dict[str, Any]) -> int:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def spawn(self, args: list[str], env: dict[str, str], cwd: Path, log: Path) -> int:
        return self._ask({"op": "spawn", "args": args, "env": env, "cwd": str(cwd),
                          "log": str(log)})

    def wait(self, pid: int) -> int:
        return self._ask({"op": "wait", "pid": pid})

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(WAIT)


def zygote_main() -> None:
    """Import Ballast once, then fork a `ballast` child per request read from stdin."""
    from bot.cli import app

    for line in sys.stdin:
        request = json.loads(line)
        if request["op"] == "wait":
            _, status = os.waitpid(request["pid"], 0)
            print(status, flush=True)
            continue
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.chdir(request["cwd"])
                os.environ.clear()
                os.environ.update(request["env"])
                out = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                os.dup2(out, 1)
                os.dup2(out, 2)
                os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
                app(request["args"], prog_name="ballast")
                code = 0
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else 0
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        print(pid, flush=True)


def ballast_env(standin: BinanceStandIn, db: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "NO_PROXY": "127.0.0.1,localhost",
        "BALLAST_MODE": "live",
        "BALLAST_EXCHANGE_API_KEY": standin.api_key,
        "BALLAST_EXCHANGE_API_SECRET": standin.api_secret,
        "BALLAST_EXCHANGE_API_URL": standin.url,
        "BALLAST_APPROVAL": "auto",
        "BALLAST_ALLOW_LIVE_AUTO": "true",
        "BALLAST_DB": str(db),
        "BALLAST_LOCK_DIR": str(db.parent / "locks"),
        "BALLAST_WATCHLIST": "BTC,ETH,SOL,AVAX",
        # The seed's rules trade here at once, a plan every rebalance_interval; the defaults
        # wait for a closed candle, so most rounds would send no order.
        "BALLAST_PRESET": "seed-literal",
        "BALLAST_SCAN_INTERVAL": "1",
        "BALLAST_REBALANCE_INTERVAL": "1",
        # Every round puts the balances back behind Ballast's back, while its reference keeps
        # every fill: changes (up to a few times V) the sanity gate would otherwise hold until
        # the owner confirms them.
        "BALLAST_MAX_BALANCE_CHANGE": "9",
    }


def unsettled(db: Path) -> list[tuple[str, str]]:
    """Approvals not final, and orders not final, as (id, state) pairs."""
    with sqlite3.connect(db, timeout=10) as conn:
        rows = conn.execute(
            "SELECT id, state FROM approvals WHERE state NOT IN"
            " ('done', 'failed', 'rejected', 'expired', 'superseded', 'pending')"
            " UNION ALL SELECT client_order_id, state FROM orders"
            " WHERE state IN ('planned', 'sending', 'open')"
        ).fetchall()
    return [(str(a), str(b)) for a, b in rows]


def last_scan(db: Path) -> datetime:
    """When a Ballast on this database last finished a scan."""
    with sqlite3.connect(db, timeout=10) as conn:
        row = conn.execute("SELECT value FROM engine_state WHERE key = 'last_scan'").fetchone()
    return datetime.min.replace(tzinfo=UTC) if row is None else parse_time(row[0])


def test_sigkill_during_execution_never_sends_an_order_twice(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    db = tmp_path / "ballast.db"
    log = tmp_path / "ballast.log"
    grace = ["run", "--resend-grace", "0.5"]
    phases_seen: list[str] = []
    with standin_in_thread() as (standin, call):
        env = ballast_env(standin, db)
        zygote = Zygote()
        try:
            for round_ in range(KILL_ROUNDS):
                phase = rng.choice(PHASES)
                phases_seen.append(phase)

                def reset(phase: str = phase) -> None:
                    for asset, amount in ACCOUNT.items():
                        standin.set_balance(asset, amount)
                    standin.arm(standin.order_posts + 1, phase, rng.uniform(0, 0.05))

                call(reset)
                pid = zygote.spawn(grace, env, tmp_path, log)
                reached = standin.reached.wait(WAIT)
                os.kill(pid, signal.SIGKILL)
                zygote.wait(pid)
                standin.killed.set()
                assert reached, f"round {round_}: no order reached the stand-in\n" + _tail(log)
        finally:
            zygote.close()

        started = datetime.now(UTC)
        final = subprocess.Popen(
            [str(Path(sys.executable).parent / "ballast"), *grace],
            cwd=tmp_path, env=env, stdin=subprocess.DEVNULL,
            stdout=log.open("a"), stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline and not (last_scan(db) > started and not unsettled(db)):
            time.sleep(0.1)  # polling an observable condition, with a deadline
        final.send_signal(signal.SIGTERM)
        assert final.wait(WAIT) == 0, _tail(log)
        accepted = call(standin.orders_by_client_id)

    assert set(phases_seen) == set(PHASES)
    duplicates = {cid: len(orders) for cid, orders in accepted.items() if len(orders) > 1}
    assert duplicates == {}
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        ours = dict(conn.execute("SELECT client_order_id, state FROM orders").fetchall())
        approvals = dict(conn.execute("SELECT id, state FROM approvals").fetchall())
        resent = conn.execute("SELECT COUNT(*) FROM orders WHERE attempts > 1").fetchone()[0]
    assert set(accepted) <= set(ours), "the stand-in has orders Ballast does not know"
    assert all(ours[cid] == "filled" for cid in accepted)
    assert all(state in FINAL_STATES | {"pending"} for state in approvals.values())
    assert unsettled(db) == []
    assert {cid for cid, state in ours.items() if state == "filled"} == set(accepted)
    assert resent >= 1  # some lost requests were looked up, found absent, and sent once more


def _tail(log: Path, lines: int = 40) -> str:
    if not log.exists():
        return "(no log)"
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


if __name__ == "__main__" and sys.argv[1:] == ["zygote"]:
    zygote_main()
