"""Helpers shared by CLI commands: failing with a clear message, reading a time option, and JSON
output."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console

console = Console()
error_console = Console(stderr=True)

# Exit codes, the same for every command. 1: the exchange failed or refused (an unknown
# exchange id, unreachable, keys refused), or `ballast check` found a problem. 2: an invalid
# setting, option or input file, named in the message; nothing was done.
EXIT_PROBLEM = 1
EXIT_INVALID = 2

# The three curves of a backtest as tables, charts and studies name them.
CURVE_NAMES = {"ballast": "Ballast", "hodl": "Buy & hold", "calendar": "Calendar (monthly)"}


def parse_moment(text: str, option: str, *, end_of_day: bool = False) -> datetime:
    """The UTC day (`2024-12-31`) or ISO time (`2024-12-31T12:00:00Z`) typed for `option`.

    A time typed without a zone is UTC. With `end_of_day`, a bare day means the end of that day
    (a `--to` day includes it). A ValueError names the option and what was typed.
    """
    try:
        if len(text) == 10:
            day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
            return day + timedelta(days=1 if end_of_day else 0)
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{option} {text!r}: expected a day like 2024-12-31 "
                         "or an ISO time like 2024-12-31T12:00:00Z") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """`1 config`, `2 configs`, `1,200 folds`: a count with its noun in the right number."""
    return f"{count:,} {noun if count == 1 else plural or noun + 's'}"


def fail(message: str, code: int = EXIT_INVALID) -> NoReturn:
    """Print `message` to stderr and exit non-zero (nothing else is printed)."""
    error_console.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
    raise typer.Exit(code)


def candle_directory(given: Path | None) -> Path:
    """`--candles DIR` as given, else the candle directory of the settings
    (`BALLAST_CANDLES_DIR`, docs/settings.md); a default one without candle files fails,
    naming the command that fills it."""
    if given is not None:
        return given
    import os

    from core.config.settings import SettingsError, load_settings
    from core.market.candles import CandleFileName
    from core.market.download import DOWNLOAD_HINT, default_candle_dir

    try:
        folder = default_candle_dir(load_settings().candles_dir, os.environ)
    except SettingsError as error:
        fail(str(error))
    if not (folder.is_dir() and any(CandleFileName.parse(p.name) for p in folder.iterdir())):
        fail(f"no candle files in {folder}, the candle directory (BALLAST_CANDLES_DIR): fill it "
             f"with `{DOWNLOAD_HINT}`, or give --candles DIR")
    return folder


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def print_json(data: Any) -> None:
    """Print `data` as JSON on stdout (Decimals become JSON numbers)."""
    typer.echo(json.dumps(data, default=_json_default, indent=2))
