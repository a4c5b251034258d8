"""Helpers shared by CLI commands: failing with a clear message, and JSON output."""

from __future__ import annotations

import json
from decimal import Decimal
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


def fail(message: str, code: int = EXIT_INVALID) -> NoReturn:
    """Print `message` to stderr and exit non-zero (nothing else is printed)."""
    error_console.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
    raise typer.Exit(code)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def print_json(data: Any) -> None:
    """Print `data` as JSON on stdout (Decimals become JSON numbers)."""
    typer.echo(json.dumps(data, default=_json_default, indent=2))
