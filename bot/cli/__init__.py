"""The `ballast` command line.

Each command module registers its command on `bot.cli.application.app` when imported. The
`ballast` executable (`main`) imports only the module of the command it runs, so a command pays
neither for the others' imports nor for typer building their options (~30 ms); help, and any
word that is not a command, import them all. `from bot.cli import app` gives the app with every
command.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.cli.application import app

# Command name → its module under bot.cli, in the order help lists them.
COMMANDS = {
    "backtest": "backtest",
    "backup": "backup",
    "check": "check",
    "demo": "demo",
    "plan": "plan",
    "portfolio": "portfolio",
    "run": "run",
    "signals": "signals",
    "study": "study",
    "candles": "candles",
}


def register(names: list[str] | None = None) -> None:
    """Import the modules of the commands `names` (every command when None)."""
    for name in COMMANDS if names is None else names:
        importlib.import_module(f"bot.cli.{COMMANDS[name]}")


def main() -> None:
    """The `ballast` executable: register the command the line names (or all), then run."""
    from bot.cli.application import app

    word = sys.argv[1] if len(sys.argv) > 1 else None
    register([word] if word in COMMANDS else None)
    app()


def __getattr__(name: str) -> Any:
    # `from bot.cli import app`: the application with every command registered.
    if name == "app":
        register()
        from bot.cli.application import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["COMMANDS", "app", "main", "register"]
