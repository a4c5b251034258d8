"""Daily backups against a wrong clock and a full disk (issue 21 findings 6 and 7).

A clock that jumped forward once deleted every backup (seven daily copies, one `run_due` at
2036-12-07 left only that day's). Now the newest `backup_keep_days` are never pruned, copies
dated after today are neither pruned nor counted, a day the clock looks to have jumped prunes
nothing, and the owner is told once. A backup that fails for want of space leaves no
half-written file, keeps the older ones and tells the owner once per stretch of failures.
Real SQLite files, a real outbox, a real file size limit in a child process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from bot.telegram.letters import letter_view
from core.ops.backup import (
    BackupsResumed,
    BackupTrouble,
    DailyBackups,
    backups_to_prune,
    daily_backup_name,
)
from core.ops.outbox import Outbox, decode
from core.storage.store import Store
from tests.test_backup import make_database

REPO = Path(__file__).resolve().parent.parent
T = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
JUMP = datetime(2036, 12, 7, 3, 0, tzinfo=UTC)


def seven_daily_backups(directory: Path) -> list[str]:
    """Backups of 2026-11-18 … 2026-11-24 as the daily task leaves them."""
    directory.mkdir(parents=True, exist_ok=True)
    names = [daily_backup_name(T.date() - timedelta(days=n)) for n in range(7)]
    for name in names:
        (directory / name).write_bytes(b"a backup")
    return sorted(names)


async def outbox_letters(store: Store) -> list[object]:
    return [decode(p.kind, p.text) for p in await Outbox(store).waiting()]


async def test_a_forward_clock_jump_deletes_no_backup_and_tells_the_owner_once(
    tmp_path: Path,
) -> None:
    database = tmp_path / "ballast.db"
    await make_database(database)
    directory = tmp_path / "backups"
    before = seven_daily_backups(directory)
    async with await Store.open(tmp_path / "outbox.db") as store:
        outbox = Outbox(store)

        async def tell(letter: BackupTrouble | BackupsResumed) -> None:
            await outbox.post(letter, letter.at)

        daily = DailyBackups(database, directory, keep_days=7, zone=UTC, tell=tell)
        assert await daily.attempt(JUMP)
        assert await daily.attempt(JUMP + timedelta(hours=1))
        kept = sorted(p.name for p in directory.iterdir())
        assert kept == [*before, "ballast-2036-12-07.db"], "the jump deleted nothing"
        letters = await outbox_letters(store)
    assert len(letters) == 1 and isinstance(letters[0], BackupTrouble)
    assert "2026-11-24" in letters[0].problem and "jumped forward" in letters[0].problem
    view = letter_view(letters[0], "USDT")
    assert view is not None and "Backups need attention" in view.text


async def test_backups_dated_after_today_are_kept_not_counted_and_told_once(
    tmp_path: Path,
) -> None:
    """The clock went back to 2026-11-24 after a stay in 2036: the 2036 copy stays, the
    newest seven real days stay, and the older ones go as usual."""
    database = tmp_path / "ballast.db"
    await make_database(database)
    directory = tmp_path / "backups"
    before = seven_daily_backups(directory)
    (directory / "ballast-2026-11-10.db").write_bytes(b"old")
    (directory / "ballast-2036-12-07.db").write_bytes(b"from the jump")
    told: list[BackupTrouble | BackupsResumed] = []

    async def tell(letter: BackupTrouble | BackupsResumed) -> None:
        told.append(letter)

    daily = DailyBackups(database, directory, keep_days=7, zone=UTC, tell=tell)
    await daily.attempt(T + timedelta(days=1))
    await daily.attempt(T + timedelta(days=2))
    kept = sorted(p.name for p in directory.iterdir())
    assert "ballast-2036-12-07.db" in kept and "ballast-2026-11-10.db" not in kept
    assert kept[-3:-1] == ["ballast-2026-11-25.db", "ballast-2026-11-26.db"]
    assert set(before[2:]) <= set(kept) and before[0] not in kept
    assert len(told) == 1 and isinstance(told[0], BackupTrouble)
    assert "dated after today" in told[0].problem and "2036-12-07" in told[0].problem


@given(days=st.sets(st.integers(-400, 400), max_size=30), today=st.integers(-400, 400),
       keep=st.integers(1, 30))
def test_pruning_never_touches_the_newest_copies_or_future_ones(
    days: set[int], today: int, keep: int
) -> None:
    base = date(2030, 1, 1)
    names = {daily_backup_name(base + timedelta(days=d)): d for d in days}
    pruned = backups_to_prune(names, base + timedelta(days=today), keep)
    past = sorted((d, n) for n, d in names.items() if d <= today)
    newest = {n for _, n in past[-keep:]}
    for name in pruned:
        assert names[name] <= today - keep, "only copies older than the window"
        assert name not in newest, "never one of the newest keep_days"
    assert len(past) - len(pruned) >= min(keep, len(past))


# A child process whose files may not grow past 96 KiB (RLIMIT_FSIZE, SIGXFSZ ignored): the
# kernel refuses the backup's writes as a full disk would. Two attempts, then a success once
# the limit is lifted; it prints the letters it would tell the owner.
FULL_DISK = """
import asyncio, json, resource, signal, sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo
from core.ops.backup import DailyBackups

database, directory = Path(sys.argv[1]), Path(sys.argv[2])
when = datetime.fromisoformat(sys.argv[3])
told = []

async def tell(letter):
    told.append({"kind": type(letter).__name__, "text": getattr(letter, "problem", "")})

async def main():
    daily = DailyBackups(database, directory, 7, ZoneInfo("UTC"), tell=tell)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (96 * 1024, hard))
    first = await daily.attempt(when)
    left = sorted(p.name for p in directory.iterdir())
    second = await daily.attempt(when + timedelta(hours=1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    third = await daily.attempt(when + timedelta(hours=2))
    print(json.dumps({"attempts": [first, second, third], "left": left, "told": told}))

asyncio.run(main())
"""


async def test_a_full_disk_leaves_no_half_backup_keeps_the_old_ones_and_tells_once(
    tmp_path: Path,
) -> None:
    database = tmp_path / "ballast.db"
    await make_database(database, candles=5000)
    assert database.stat().st_size > 4 * 96 * 1024
    directory = tmp_path / "backups"
    before = seven_daily_backups(directory)
    done = subprocess.run(
        [sys.executable, "-c", FULL_DISK, str(database), str(directory),
         (T + timedelta(days=1)).isoformat()],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["attempts"] == [False, False, True]
    assert report["left"] == before, "no half-written file, every older backup kept"
    assert [letter["kind"] for letter in report["told"]] == ["BackupTrouble", "BackupsResumed"]
    assert "the daily backup failed" in report["told"][0]["text"]
    assert "older backups are kept" in report["told"][0]["text"]
    names = sorted(p.name for p in directory.iterdir())
    assert names == sorted([*before[1:], "ballast-2026-11-25.db"])


async def test_upkeep_sends_the_backups_alerts_through_the_outbox(tmp_path: Path) -> None:
    from tests.test_summary_upkeep import build

    async with await Store.open(tmp_path / "ballast.db") as store:
        seven_daily_backups(tmp_path / "backups")
        _, upkeep, _ = await build(store, db=str(tmp_path / "ballast.db"),
                                   backup_dir=str(tmp_path / "backups"))
        assert upkeep.backups is not None
        assert await upkeep.backups.attempt(JUMP)
        letters = await outbox_letters(store)
    assert [type(letter) for letter in letters] == [BackupTrouble]
    assert len(list((tmp_path / "backups").iterdir())) == 8
