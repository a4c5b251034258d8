"""Settings changed in the chat: kept in the database and applied over the file and environment
at every start, with where each value in force came from.

A `/settings stop_loss 0.08` used to live only in memory, so a restart silently went back to
the file's value. Now each change is a row in `chat_settings` (its own migration); at
start the rows are applied, oldest change first, over the settings read from the TOML file,
`.env` and the environment. A row that no longer fits (the file changed a related limit since)
is skipped and reported, never half-applied: the rest of the settings stay valid.

Sources, as shown in `/settings` and `ballast check`: `chat` (a row here), `env` (a
`BALLAST_<NAME>` variable or `.env` line), `file` (the TOML settings file), `default`.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from pydantic import ValidationError

from core.config.presets import PRESET_GOVERNED
from core.config.settings import Settings, SettingsError, switch_preset
from core.config.sources import format_validation_error
from core.storage.health import explain
from core.storage.store import Store

log = logging.getLogger(__name__)

class Source(StrEnum):
    """Where a setting's value in force came from (later ones win)."""

    DEFAULT = "default"
    FILE = "file"
    ENV = "env"
    CHAT = "chat"


@dataclass(frozen=True, slots=True)
class StoredSetting:
    """One setting as the owner last set it in the chat; `value` is its JSON form."""

    name: str
    value: Any
    changed_at: str
    changed_by: str | None = None


def json_value(settings: Settings, name: str) -> Any:
    """`name`'s value in `settings` as JSON data (Decimals as text, tuples as lists)."""
    return settings.model_dump(mode="json", include={name})[name]


class ChatSettingsRepo:
    """The `chat_settings` table of an open store."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def all(self) -> list[StoredSetting]:
        """Every stored setting, oldest change first (the order they are applied in)."""
        async with self._store.conn.execute(
            "SELECT name, value, changed_at, changed_by FROM chat_settings "
            "ORDER BY changed_at, name"
        ) as rows:
            return [StoredSetting(r["name"], json.loads(r["value"]), r["changed_at"],
                                  r["changed_by"]) for r in await rows.fetchall()]

    async def remember(self, name: str, value: Any, at: datetime, by: str | None) -> None:
        """Store (or replace) the owner's value for `name`."""
        await self._store.conn.execute(
            "INSERT INTO chat_settings (name, value, changed_at, changed_by) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET value = excluded.value, "
            "changed_at = excluded.changed_at, changed_by = excluded.changed_by",
            (name, json.dumps(value), at.isoformat(), by),
        )

    async def forget(self, name: str) -> None:
        """Drop the stored value: the file, environment or default applies again."""
        await self._store.conn.execute("DELETE FROM chat_settings WHERE name = ?", (name,))


def read_stored(path: Path) -> list[StoredSetting]:
    """The stored chat settings of the database at `path`, read-only (for `ballast check`).

    A missing file or one from before this table has none. Raises `DatabaseProblem` when the
    file is not a usable database.
    """
    if not path.is_file():
        return []
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as error:
        raise explain(path, error) from error
    try:
        conn.row_factory = sqlite3.Row
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "chat_settings" not in tables:
            return []
        rows = conn.execute("SELECT name, value, changed_at, changed_by FROM chat_settings "
                            "ORDER BY changed_at, name").fetchall()
    except sqlite3.Error as error:
        raise explain(path, error) from error
    finally:
        conn.close()
    return [StoredSetting(r["name"], json.loads(r["value"]), r["changed_at"], r["changed_by"])
            for r in rows]


def apply_stored(base: Settings, stored: Iterable[StoredSetting],
                 explicit: Iterable[str] = ()) -> tuple[
    Settings, dict[str, StoredSetting], list[str]
]:
    """`base` with the stored chat values over it: the result, the rows applied, and why any
    row was skipped.

    Each row is validated with everything applied before it, so one that no longer fits (its
    setting is gone, or the file moved a related limit) is skipped alone. A `preset` row
    switches presets as the chat did (`switch_preset`): the settings in `explicit` (set in the
    file or environment) and the chat's earlier rows stay on top of it.
    """
    explicit = set(explicit)
    settings = base
    applied: dict[str, StoredSetting] = {}
    skipped: list[str] = []
    for row in stored:
        if row.name not in Settings.model_fields:
            skipped.append(f"{row.name}: no longer a setting; the chat value is ignored")
            continue
        values = {name: getattr(settings, name) for name in Settings.model_fields}
        values[row.name] = row.value
        try:
            if row.name == "preset":
                settings, _ = switch_preset(settings, str(row.value), explicit | set(applied))
            else:
                settings = Settings(**values)
        except SettingsError as error:
            skipped.append(f"{row.name} = {_shown(row.value)} from the chat no longer fits "
                           f"and is ignored: {error}")
            continue
        except ValidationError as error:
            skipped.append(f"{row.name} = {_shown(row.value)} from the chat no longer fits "
                           f"and is ignored: {format_validation_error(error)}")
            continue
        applied[row.name] = row
    return settings, applied, skipped


def base_sources(settings: Settings, env: Mapping[str, str | None] | None = None) -> dict[
    str, Source
]:
    """Where each setting of `settings` (as loaded, before the chat) came from.

    `env` is what `load_settings` was given (None: the process environment and `.env`).
    """
    if env is None:
        dotenv = dotenv_values(".env") if Path(".env").is_file() else {}
        environ: Mapping[str, str | None] = {**dotenv, **os.environ}
    else:
        environ = env
    in_env = {key.upper() for key in environ}
    in_file = _file_keys(settings.settings)
    sources: dict[str, Source] = {}
    for name in Settings.model_fields:
        if f"BALLAST_{name.upper()}" in in_env:
            sources[name] = Source.ENV
        elif name in in_file:
            sources[name] = Source.FILE
        else:
            sources[name] = Source.DEFAULT
    return sources


def _file_keys(path: Path | None) -> set[str]:
    """The setting names a TOML settings file sets (`[policy]`-style tables flattened)."""
    if path is None:
        return set()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return set()  # load_settings has already said what is wrong with it
    keys: set[str] = set()
    for key, value in data.items():
        if isinstance(value, dict):
            keys.update(value)
        else:
            keys.add(key)
    return keys


@dataclass
class SettingsLedger:
    """The settings as loaded (`base`), what the chat changed over them, and where each value
    in force comes from; `record` keeps the chat's changes in the database."""

    base: Settings
    sources_before_chat: dict[str, Source]
    chat: dict[str, StoredSetting] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    repo: ChatSettingsRepo | None = None

    def source(self, name: str) -> Source:
        """Where `name`'s value in force comes from."""
        if name in self.chat:
            return Source.CHAT
        return self.sources_before_chat.get(name, Source.DEFAULT)

    def sources(self) -> dict[str, Source]:
        """Every setting's source."""
        return {name: self.source(name) for name in Settings.model_fields}

    async def record(self, before: Settings, after: Settings, at: datetime,
                     by: str | None = None) -> None:
        """Keep what changed from `before` to `after`: as a chat value, or — when it is back
        at the loaded value — by dropping the chat value, so the file and environment rule it
        again. A preset switch keeps only the `preset` row: the values it brings are the
        preset's, not the chat's (`switch_preset` brings them back at start)."""
        names = ["preset"] if after.preset != before.preset else list(Settings.model_fields)
        for name in names:
            if getattr(after, name) == getattr(before, name):
                continue
            if getattr(after, name) == getattr(self.base, name):
                if self.repo is not None:
                    await self.repo.forget(name)
                self.chat.pop(name, None)
                continue
            row = StoredSetting(name, json_value(after, name), at.isoformat(), by)
            if self.repo is not None:
                await self.repo.remember(name, row.value, at, by)
            self.chat[name] = row


async def load_ledger(store: Store, base: Settings,
                      env: Mapping[str, str | None] | None = None) -> tuple[
    Settings, SettingsLedger
]:
    """The settings in force at start (the chat's over `base`) and their ledger.

    Skipped rows are logged as warnings (and listed by `ballast check`).
    """
    repo = ChatSettingsRepo(store)
    sources = base_sources(base, env)
    explicit = {name for name, source in sources.items() if source is not Source.DEFAULT}
    settings, applied, skipped = apply_stored(base, await repo.all(), explicit)
    for line in skipped:
        log.warning("chat setting skipped: %s", line)
    if applied:
        log.info("settings changed in the chat apply: %s",
                 ", ".join(f"{n} = {_shown(r.value)}" for n, r in applied.items()))
    return settings, SettingsLedger(base, sources, applied, skipped, repo)


def switch_preset_in_chat(ledger: SettingsLedger | None, current: Settings, preset: str
                          ) -> tuple[Settings, str]:
    """`/settings preset NAME`: the settings under that preset, as if chosen at start — its
    values replace every value a preset sets, and only what the owner set beside it (in the
    chat, the settings file or the environment) stays on top. Returns them and a line for the
    owner saying what changed and what stays on top. Raises SettingsError (unknown preset)."""
    keep = [] if ledger is None else [name for name, source in ledger.sources().items()
                                      if source is not Source.DEFAULT]
    name = preset.strip().lower()
    switched, on_top = switch_preset(current, name, keep)
    changed = sorted(n for n in PRESET_GOVERNED if getattr(switched, n) != getattr(current, n))
    note = f"Preset {name}: {len(changed)} value(s) changed"
    if changed:
        note += " (" + ", ".join(changed[:8]) + (", …" if len(changed) > 8 else "") + ")"
    if not on_top:
        return switched, note + "; nothing you set stays on top of it."
    where = {} if ledger is None else {n: ledger.source(n).value for n in on_top}
    kept = ", ".join(f"{n} = {_shown(json_value(switched, n))} ({where.get(n, 'set')})"
                     for n in on_top)
    return switched, f"{note}. Staying on top of it, as you set them: {kept}."


def _shown(value: Any) -> str:
    if value is None:
        return "off"
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "(none)"
    return str(value)
