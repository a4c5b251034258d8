"""`ballast backup FILE`: a consistent copy of the database, safe while Ballast runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bot.cli.application import app
from bot.cli.common import fail


@app.command()
def backup(
    file: Annotated[Path, typer.Argument(help="where to write the backup")],
    db: Annotated[
        Path | None,
        typer.Option("--db", help="the database to back up (default: BALLAST_DB)"),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="replace FILE if it exists")
    ] = False,
) -> None:
    """Back up the database to FILE (SQLite online backup: safe while `ballast run` runs)."""
    from core.config.settings import SettingsError, load_settings
    from core.ops.backup import BackupError, backup_database

    if db is None:
        try:
            db = load_settings().db
        except SettingsError as error:
            fail(str(error))
    if file.exists() and not force:
        fail(f"{file} exists; choose another name or pass --force to replace it")
    try:
        result = backup_database(db, file)
    except BackupError as error:
        fail(str(error))
    typer.echo(f"backed up {db} to {result.path} ({result.size:,} bytes, schema version "
               f"{result.schema_version})")
