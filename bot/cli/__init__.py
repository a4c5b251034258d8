"""The `ballast` command line. Importing this package registers every command on `app`."""

from bot.cli.app import app

__all__ = ["app"]
