"""The `ballast` command line. Importing this package registers every command on `app`."""

# Each module registers its command on `app` when imported.
from bot.cli import (  # noqa: F401
    backtest,
    backup,
    candles,
    check,
    demo,
    plan,
    portfolio,
    run,
    signals,
    study,
)
from bot.cli.app import app

__all__ = ["app"]
