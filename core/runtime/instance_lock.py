"""One Ballast per database and per exchange account on this machine.

Two bots on one account sell the same holding twice. `ballast run` therefore takes two
operating-system locks before it starts the engine:

* the **database lock**: `<database>.lock` beside the SQLite file;
* the **account lock** (live mode with keys): a file in `lock_dir` (default: the user's runtime
  directory) named after the exchange and a hash of the API key — never the key itself.

The locks are `flock` locks on open files: the kernel drops them when the process ends, however
it ends (SIGKILL, a crash, power loss of the process), so a stale lock file never blocks a
restart. The holder writes its pid, database and start time into the file, so a second Ballast
can say which one is running. (A lock file beside the database rather than the database itself:
SQLite's own POSIX locks on that file would be dropped when any other descriptor of it closes.)
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.config.settings import Settings


class AlreadyRunning(Exception):
    """Another Ballast holds the lock; the message names it (pid, database, since when)."""


class LockUnavailable(Exception):
    """The lock file cannot be created or opened (a directory that is not writable …)."""


@dataclass
class HeldLock:
    """A lock this process holds until `release()` (or until it exits)."""

    path: Path
    fd: int

    def release(self) -> None:
        """Drop the lock (the kernel does the same when the process ends)."""
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = -1


def default_lock_dir() -> Path:
    """The user's runtime directory for account locks (`$XDG_RUNTIME_DIR/ballast`, else tmp)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_dir():
        return Path(runtime) / "ballast"
    return Path(tempfile.gettempdir()) / f"ballast-{os.getuid()}"


def account_key(exchange: str, api_key: str) -> str:
    """A short, stable name for an exchange account that does not reveal the API key."""
    digest = hashlib.sha256(f"ballast-account\0{exchange}\0{api_key}".encode()).hexdigest()
    return f"{exchange}-{digest[:16]}"


def database_lock_path(database: Path) -> Path:
    """The lock file of a database: `<database>.lock` beside it (path resolved)."""
    resolved = database.expanduser().resolve()
    return resolved.with_name(resolved.name + ".lock")


def account_lock_path(settings: Settings) -> Path | None:
    """The account lock of live mode with keys (None: paper mode trades no real account)."""
    if settings.mode != "live" or settings.exchange_api_key is None:
        return None
    directory = settings.lock_dir or default_lock_dir()
    key = account_key(settings.exchange, settings.exchange_api_key.get_secret_value())
    return directory / f"{key}.lock"


def acquire(path: Path, holder: dict[str, Any], what: str) -> HeldLock:
    """Take the lock at `path` without waiting, and write `holder` into it.

    Raises `AlreadyRunning` naming the running holder (as it wrote itself into the file), or
    `LockUnavailable` if the file cannot be opened.
    """
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as error:
        raise LockUnavailable(f"cannot open the lock file {path} ({what}): "
                              f"{error.strerror or error}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        running = describe_holder(_read(fd))
        os.close(fd)
        raise AlreadyRunning(f"another Ballast is already running on {what}: {running}. "
                             f"Stop it first (lock file {path})") from None
    except OSError as error:
        os.close(fd)
        raise LockUnavailable(f"cannot lock {path} ({what}): {error.strerror or error}") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(holder).encode(), 0)
    return HeldLock(path, fd)


def describe_holder(text: str) -> str:
    """The running Ballast as its lock file names it: pid, database, start time."""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return "a process that did not say who it is"
    parts = [f"pid {data.get('pid', '?')}"]
    if data.get("database"):
        parts.append(f"database {data['database']}")
    if data.get("exchange"):
        parts.append(f"exchange {data['exchange']}")
    if data.get("started"):
        parts.append(f"started {data['started']}")
    return ", ".join(parts)


def _read(fd: int) -> str:
    with contextlib.suppress(OSError):
        return os.pread(fd, 4096, 0).decode(errors="replace")
    return ""


def holder_facts(settings: Settings, now: datetime | None = None) -> dict[str, Any]:
    """What this process writes into its locks."""
    started = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    return {"pid": os.getpid(), "database": str(settings.db.expanduser().resolve()),
            "exchange": settings.exchange if settings.mode == "live" else "paper",
            "started": started}


@contextlib.contextmanager
def one_bot_per_account(settings: Settings) -> Iterator[list[HeldLock]]:
    """Hold the database lock and (live mode) the account lock for the `with` block."""
    facts = holder_facts(settings)
    if not settings.db.parent.is_dir():
        # The database's folder is the owner's to make: creating it for the lock would hide a
        # mistyped path behind a fresh, empty database.
        raise LockUnavailable(f"database {settings.db}: cannot be opened or created: the folder "
                              f"{settings.db.parent} does not exist")
    held: list[HeldLock] = []
    try:
        held.append(acquire(database_lock_path(settings.db),
                            facts, f"database {facts['database']}"))
        account = account_lock_path(settings)
        if account is not None:
            held.append(acquire(account, facts,
                                f"the same {settings.exchange} account (same API key)"))
        yield held
    finally:
        for lock in reversed(held):
            lock.release()
