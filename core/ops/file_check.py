"""`ballast check`'s look at the files beside the settings: the database (its health and the
settings changed in the chat, with where every value comes from) and the `.env` file's mode.

Read-only throughout: the database is opened with `mode=ro`, never created or migrated.
"""

from __future__ import annotations

import sqlite3
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from pydantic import SecretStr

from core.config.settings import Settings
from core.exchange.check import Finding, Severity
from core.storage.chat_settings import Source, apply_stored, base_sources, read_stored
from core.storage.health import DatabaseProblem, explain, failed_check, newer_schema
from core.storage.store import MIGRATIONS

_SOURCE_WORDS = {Source.CHAT: "from the chat (kept in the database)",
                 Source.ENV: "from the environment",
                 Source.FILE: "from the settings file"}


def check_database(path: Path) -> list[Finding]:
    """Whether the database at `path` is one `ballast run` can use: a SQLite file, not from a
    newer Ballast, whole (`PRAGMA quick_check`)."""
    if not path.exists():
        return [Finding("database", Severity.OK,
                        f"{path} does not exist yet: `ballast run` creates it")]
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version > len(MIGRATIONS):
                raise newer_schema(path, version, len(MIGRATIONS))
            lines = [str(row[0]) for row in conn.execute("PRAGMA quick_check")]
            if lines != ["ok"]:
                raise failed_check(path, lines)
        finally:
            conn.close()
    except sqlite3.Error as error:
        return [Finding("database", Severity.PROBLEM, str(explain(path, error)))]
    except DatabaseProblem as problem:
        return [Finding("database", Severity.PROBLEM, str(problem))]
    return [Finding("database", Severity.OK, f"{path} is whole (schema version {version})")]


def check_sources(settings: Settings, env: Mapping[str, str | None] | None = None) -> (
    list[Finding]
):
    """The settings `ballast run` would start with and where each comes from: the chat's
    stored changes over the environment, the settings file and the defaults."""
    try:
        stored = read_stored(settings.db)
    except DatabaseProblem:
        stored = []  # check_database says what is wrong with the file
    in_force, applied, skipped = apply_stored(settings, stored)
    sources = base_sources(settings, env)
    sources.update({name: Source.CHAT for name in applied})
    findings: list[Finding] = []
    for source in (Source.CHAT, Source.ENV, Source.FILE):
        names = sorted(name for name, where in sources.items()
                       if where is source and name != "settings")
        if not names:
            continue
        shown = ", ".join(f"{name} = {_value(in_force, name)}" for name in names)
        findings.append(Finding("sources", Severity.OK, f"{_SOURCE_WORDS[source]}: {shown}"))
    defaults = [name for name, where in sources.items() if where is Source.DEFAULT]
    findings.append(Finding("sources", Severity.OK, f"{len(defaults)} more at their defaults"))
    for line in skipped:
        findings.append(Finding("sources", Severity.WARNING, line))
    return findings


def _value(settings: Settings, name: str) -> str:
    value: Any = getattr(settings, name)
    if isinstance(value, SecretStr):
        return "(secret)"
    if value is None:
        return "off"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value) or "(none)"
    return str(value)


SECRET_VARIABLES = ("BALLAST_EXCHANGE_API_KEY", "BALLAST_EXCHANGE_API_SECRET",
                    "BALLAST_TELEGRAM_TOKEN")


def check_env_file(path: Path = Path(".env")) -> list[Finding]:
    """Whether an env file that holds keys or the bot token is open to anyone but its owner
    (group or others may read or write it: `mode & 0o077`)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        values = dotenv_values(path)
    except FileNotFoundError:
        return []
    except OSError as error:
        return [Finding("secrets", Severity.WARNING, f"cannot look at {path}: {error}")]
    held = [name for name in SECRET_VARIABLES if (values.get(name) or "").strip()]
    if not held:
        return []
    if mode & 0o077:
        return [Finding("secrets", Severity.PROBLEM,
                        f"{path} holds {', '.join(held)} and is open to others (mode "
                        f"{mode:04o}): run "
                        f"`chmod 600 {path}` so only its owner can read it")]
    return [Finding("secrets", Severity.OK, f"{path} is readable by its owner only "
                                            f"(mode {mode:04o})")]
