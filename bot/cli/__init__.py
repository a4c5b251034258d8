"""The `ballast` command line. Importing this package registers every command on `app`."""

from bot.cli import check as _check  # noqa: F401  (registers `ballast check`)
from bot.cli import signals as _signals  # noqa: F401  (registers `ballast signals`)
from bot.cli import portfolio as _portfolio  # noqa: F401  (registers `ballast portfolio`)
from bot.cli import backup as _backup  # noqa: F401  (registers `ballast backup`)
from bot.cli import run as _run  # noqa: F401  (registers `ballast run`)
from bot.cli import backtest as _backtest  # noqa: F401  (registers `ballast backtest`)
from bot.cli import demo as _demo  # noqa: F401  (registers `ballast demo`)
from bot.cli import plan as _plan  # noqa: F401  (registers `ballast plan`)
from bot.cli.app import app

__all__ = ["app"]
