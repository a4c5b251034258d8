"""One Ballast per database and per exchange account on this machine.

Two bots on one account sell the same holding twice. `ballast run` therefore takes its locks
before it starts the engine:

* the **database locks**: `<database>.lock` beside the SQLite file (the path, before the file
  exists), then one keyed by the file's device and inode, so that a hard link or another path
  to the same file finds the same lock;
* the **account lock** (live mode with keys): named after the exchange and a hash of the API
  key — never the key itself.

Where the lock files live does not depend on the environment of the shell that started the bot:
the state directory `~/.local/state/ballast` of the user Ballast runs as, the home read from the
system's user database (`pwd`), never from `$HOME`, `$XDG_*` or the temp directory. A systemd
unit with `PrivateTmp` and a cron job or shell of the same user find the same files.

On Linux each lock is also an abstract unix socket name (`@ballast-account-…`,
`@ballast-database-…`): the kernel keeps one name per network namespace, whatever the users,
homes, temp or mount namespaces involved, so it also stops a second Ballast run by another user
(root in a shell beside the `ballast` service) or behind `ProtectHome`/`PrivateTmp`. Only one
process can bind a name; the kernel frees it when the process dies.

The files are `flock` locks on open files: the kernel drops them when the process ends, however
it ends (SIGKILL, a crash), so a stale lock file never blocks a restart. The holder writes its
pid, database and start time into the file, so a second Ballast can say which one is running.
(Lock files rather than the database itself: SQLite's own POSIX locks on that file would be
dropped when any other descriptor of it closes.)
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import hashlib
import json
import os
import pwd
import socket
import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.config.settings import Settings
from core.runtime.periodic import sleep_or_stop

# How often a running Ballast checks that its database path still names the file it opened.
DATABASE_CHECK_INTERVAL = 1.0
ABSTRACT_SOCKETS = sys.platform.startswith("linux")


class AlreadyRunning(Exception):
    """Another Ballast holds the lock; the message names it (pid, database, since when)."""


class LockUnavailable(Exception):
    """The lock file cannot be created or opened (a directory that is not writable …)."""


@dataclass
class HeldLock:
    """A lock this process holds until `release()` (or until it exits)."""

    path: Path | str  # a lock file, or `@name` for an abstract socket
    fd: int

    def release(self) -> None:
        """Drop the lock (the kernel does the same when the process ends)."""
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = -1


@dataclass(frozen=True, slots=True)
class DatabaseFile:
    """The database file as it was when locked: its path, device and inode."""

    path: Path
    device: int
    inode: int

    @classmethod
    def at(cls, path: Path) -> DatabaseFile:
        """The file at `path` now (raises OSError if there is none)."""
        found = os.stat(path)
        return cls(path, found.st_dev, found.st_ino)

    def problem(self) -> str | None:
        """Why the path no longer names this file (deleted, renamed, replaced), or None."""
        try:
            now = os.stat(self.path)
        except FileNotFoundError:
            return (f"was deleted or moved away while Ballast ran: Ballast stopped rather than "
                    f"write into a file no one can see. Put the database back at {self.path} "
                    f"(or restore a backup) and start Ballast again")
        except OSError as error:
            return f"can no longer be examined ({error.strerror or error}): Ballast stopped"
        if (now.st_dev, now.st_ino) != (self.device, self.inode):
            return ("was replaced by another file while Ballast ran: Ballast stopped rather "
                    "than keep writing into the old one. Start it again to use the file now at "
                    "that path (restore backups only while Ballast is stopped)")
        return None


@dataclass
class HeldLocks:
    """What `one_bot_per_account` holds: its locks and the database file it locked."""

    locks: list[HeldLock] = field(default_factory=list)
    database: DatabaseFile | None = None


def user_home() -> Path:
    """The home of the user this process runs as, from the system's user database.

    Not `$HOME`: sudo, cron and systemd each set (or leave) it differently.
    """
    return Path(pwd.getpwuid(os.getuid()).pw_dir)


def state_dir() -> Path:
    """Ballast's state directory for locks: `~/.local/state/ballast` of the running user."""
    return user_home() / ".local" / "state" / "ballast"


def lock_dir(settings: Settings) -> Path:
    """Where the lock files go: the `lock_dir` setting if set, else the state directory."""
    return settings.lock_dir or state_dir()


def account_key(exchange: str, api_key: str) -> str:
    """A short, stable name for an exchange account that does not reveal the API key."""
    digest = hashlib.sha256(f"ballast-account\0{exchange}\0{api_key}".encode()).hexdigest()
    return f"{exchange}-{digest[:16]}"


def database_lock_path(database: Path) -> Path:
    """The path lock of a database: `<database>.lock` beside it (path resolved)."""
    resolved = database.expanduser().resolve()
    return resolved.with_name(resolved.name + ".lock")


def database_key(database: DatabaseFile) -> str:
    """The name of a database file's own lock: its device and inode, whatever the path."""
    return f"database-{database.device}-{database.inode}"


def account_lock_path(settings: Settings) -> Path | None:
    """The account lock of live mode with keys (None: paper mode trades no real account)."""
    key = _account(settings)
    return None if key is None else lock_dir(settings) / f"{key}.lock"


def account_socket_name(settings: Settings) -> str | None:
    """The abstract socket name of the account lock (None: paper mode).

    An explicit `lock_dir` setting (tests side by side on one machine) gets names of its own;
    without it the name depends on the account alone.
    """
    key = _account(settings)
    if key is None:
        return None
    if settings.lock_dir is None:
        return f"ballast-account-{key}"
    place = hashlib.sha256(str(settings.lock_dir.expanduser().resolve()).encode()).hexdigest()
    return f"ballast-account-{key}-{place[:8]}"


def _account(settings: Settings) -> str | None:
    if settings.mode != "live" or settings.exchange_api_key is None:
        return None
    # Keys reach here checked: whitespace anywhere in them is refused by the settings.
    return account_key(settings.exchange, settings.exchange_api_key.get_secret_value())


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


def acquire_name(name: str, what: str) -> HeldLock | None:
    """Bind the abstract unix socket `@name` (Linux; None elsewhere): one holder per machine.

    Raises `AlreadyRunning` with the holder's pid and user (from the kernel) if it is bound.
    """
    if not ABSTRACT_SOCKETS:
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        sock.bind("\0" + name)
        sock.listen(8)
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise AlreadyRunning(f"another Ballast is already running on {what}: "
                                 f"{_name_holder(name)}. Stop it first (lock @{name})") from None
        raise LockUnavailable(f"cannot take the lock @{name} ({what}): "
                              f"{error.strerror or error}") from None
    return HeldLock(f"@{name}", sock.detach())


def _name_holder(name: str) -> str:
    """The pid and user of the process bound to `@name`, as the kernel reports them."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC) as probe:
        probe.setblocking(False)
        try:
            probe.connect("\0" + name)
            pid, uid, _ = struct.unpack(
                "3i", probe.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
        except OSError:
            return "a process that did not say who it is"
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    return f"pid {pid} (user {user})"


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
def one_bot_per_account(settings: Settings) -> Iterator[HeldLocks]:
    """Hold the database locks and (live mode) the account lock for the `with` block.

    The database file is created (empty, as SQLite would) if missing, once the account lock is
    held, so that its device and inode can be locked; `HeldLocks.database` is that file.
    """
    facts = holder_facts(settings)
    database = settings.db.expanduser()
    if not database.parent.is_dir():
        # The database's folder is the owner's to make: creating it for the lock would hide a
        # mistyped path behind a fresh, empty database.
        raise LockUnavailable(f"database {settings.db}: cannot be opened or created: the folder "
                              f"{settings.db.parent} does not exist")
    on_database = f"database {facts['database']}"
    held = HeldLocks()
    try:
        held.locks.append(acquire(database_lock_path(database), facts, on_database))
        account = account_lock_path(settings)
        name = account_socket_name(settings)
        if account is not None and name is not None:
            on_account = f"the same {settings.exchange} account (same API key)"
            held.locks.append(acquire(account, facts, on_account))
            _append(held.locks, acquire_name(name, on_account))
        held.database = _database_file(database)
        key = database_key(held.database)
        held.locks.append(acquire(lock_dir(settings) / f"{key}.lock", facts, on_database))
        _append(held.locks, acquire_name(f"ballast-{key}", on_database))
        yield held
    finally:
        for lock in reversed(held.locks):
            lock.release()


def _append(locks: list[HeldLock], lock: HeldLock | None) -> None:
    if lock is not None:
        locks.append(lock)


def _database_file(database: Path) -> DatabaseFile:
    """The database file, created empty if missing (an empty file is a new SQLite database)."""
    try:
        if not database.exists():
            os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))
        return DatabaseFile.at(database)
    except OSError as error:
        raise LockUnavailable(f"database {database}: cannot be opened or created: "
                              f"{error.strerror or error}") from None


async def watch_database(database: DatabaseFile, stop: asyncio.Event,
                         interval: float = DATABASE_CHECK_INTERVAL) -> str | None:
    """Check every `interval` seconds that the database path still names the locked file.

    Returns the problem (and sets `stop`) as soon as it does not; None once `stop` is set.
    """
    while not stop.is_set():
        problem = database.problem()
        if problem is not None:
            stop.set()
            return problem
        await sleep_or_stop(stop, interval)
    return None
