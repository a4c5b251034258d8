"""`--candles DIR`, the candle directory every bench that reads candles must be given.

The repository ships only the few candles its tests and demo need; a bench measures years of
real 1h candles, which live outside it. There is no default: a bench without them must say so
rather than measure nothing, or something else.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "directory of real Binance candle files, binance_<BASE>_USDT_1h.csv[.gz] (required)"


def add_candles_argument(parser: argparse.ArgumentParser) -> None:
    """Add `--candles DIR`; not argparse-required, since benches re-run themselves as children."""
    parser.add_argument("--candles", type=Path, metavar="DIR", help=HELP)


def candles_dir(parser: argparse.ArgumentParser, value: Path | None) -> Path:
    """The given candle directory; otherwise exit 2 with a message that names the flag."""
    if value is None:
        parser.error("--candles DIR is required: a directory of real Binance 1h candle files "
                     "(binance_<BASE>_USDT_1h.csv.gz); nothing was measured")
    if not value.is_dir():
        parser.error(f"--candles {value}: no such directory; nothing was measured")
    return value
