"""What is wrong with a database file Ballast cannot use, said so an operator can act on it.

SQLite's own messages ("file is not a database", "attempt to write a readonly database") name
neither the file nor a remedy, and a failure half-way through opening used to leave the
connection's thread alive, so `ballast run` printed a traceback and then hung instead of
exiting (and systemd's `Restart=on-failure` never fired). `DatabaseProblem` carries the file
and the way out; `quick_check` is the integrity check `ballast run` makes before it starts.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

RESTORE = ("restore the newest backup (ballast backup, or the daily copies in BALLAST_BACKUP_DIR) "
           "to that path, or move the file aside to start with an empty database")


class DatabaseProblem(RuntimeError):
    """The database file cannot be used; the message names the file and what to do."""

    def __init__(self, path: Path | str, message: str) -> None:
        super().__init__(f"database {path}: {message}")
        self.path = Path(path)


def explain(path: Path | str, error: sqlite3.Error) -> DatabaseProblem:
    """A `DatabaseProblem` for an error SQLite raised while opening or using `path`."""
    name = getattr(error, "sqlite_errorname", "") or ""
    text = str(error)
    if name.startswith("SQLITE_NOTADB") or "not a database" in text:
        return DatabaseProblem(path, f"is not a SQLite database (damaged, or another kind of "
                                     f"file): {RESTORE}")
    if name.startswith("SQLITE_CORRUPT") or "malformed" in text:
        return DatabaseProblem(path, f"is damaged ({text}; a truncated or partly overwritten "
                                     f"file): {RESTORE}")
    if name.startswith("SQLITE_READONLY") or "readonly" in text:
        return DatabaseProblem(path, "is read-only for this user: make the file and its "
                                     "folder writable by the user Ballast runs as (e.g. "
                                     f"chown and chmod u+rw), or set BALLAST_DB to a writable "
                                     f"file ({text})")
    if name.startswith("SQLITE_CANTOPEN") or "unable to open" in text:
        return DatabaseProblem(path, "cannot be opened or created: check that its folder "
                                     "exists and is writable by the user Ballast runs as, or "
                                     f"set BALLAST_DB ({text})")
    if name.startswith("SQLITE_BUSY") or "locked" in text:
        return DatabaseProblem(path, f"is locked by another program ({text}); is another "
                                     "Ballast running on it?")
    return DatabaseProblem(path, f"cannot be used: {text}")


def newer_schema(path: Path | str, version: int, known: int) -> DatabaseProblem:
    """A database written by a newer Ballast: left untouched, never downgraded."""
    return DatabaseProblem(path, f"has schema version {version}, newer than this Ballast "
                                 f"knows ({known}): upgrade Ballast, or set BALLAST_DB to "
                                 "another file (the database was not changed)")


def failed_check(path: Path | str, lines: list[str]) -> DatabaseProblem:
    """`PRAGMA quick_check` found damage; the first findings are quoted."""
    found = "; ".join(line.replace("\n", " ") for line in lines[:3])
    return DatabaseProblem(path, f"is damaged: it failed its integrity check ({found}): {RESTORE}")
