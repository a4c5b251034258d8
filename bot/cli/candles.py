"""`ballast candles download`: the exchange's candle history into the candle directory.

What it writes, and where: docs/formats.md (candle files) and docs/settings.md
(`BALLAST_CANDLES_DIR`). Exit 0 when done, 2 on bad input (nothing fetched), 1 when the
exchange fails (what was fetched is kept; running again resumes).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli.application import app
from bot.cli.common import EXIT_PROBLEM, console, error_console, fail, parse_moment

if TYPE_CHECKING:
    from core.config.settings import Settings
    from core.market.download import Downloaded, Progress

candles_app = typer.Typer(
    name="candles",
    help="Candle files for backtests, studies and signals: download them from the exchange.",
    no_args_is_help=True,
)
app.add_typer(candles_app)


@candles_app.command("download")
def download_command(
    symbols: Annotated[str, typer.Option(
        "--symbols", help="Markets, comma-separated, e.g. BTC/USDT,ETH/USDT.",
    )],
    start: Annotated[str, typer.Option(
        "--from", help="First UTC day, e.g. 2024-01-01.",
    )],
    timeframe: Annotated[str | None, typer.Option(
        "--timeframe", help="Candle timeframe, e.g. 1h or 1d (default: the timeframe setting).",
    )] = None,
    end: Annotated[str | None, typer.Option(
        "--to", help="Last UTC day, included (default: up to the last closed candle).",
    )] = None,
    directory: Annotated[Path | None, typer.Option(
        "--dir", help="Where to write the files (default: BALLAST_CANDLES_DIR).",
    )] = None,
) -> None:
    """Download closed candles from the exchange of the settings; resumes where files end."""
    import asyncio
    import os

    from core.config.settings import SettingsError, load_settings
    from core.domain.models import epoch_ms
    from core.exchange.errors import ExchangeError
    from core.market.candles import CandleError, timeframe_ms
    from core.market.download import default_candle_dir, parse_symbols

    try:
        settings = load_settings()
        tf = timeframe or settings.timeframe
        timeframe_ms(tf)
        markets = parse_symbols(symbols)
        start_ms = epoch_ms(parse_moment(start, "--from"))
        end_ms = epoch_ms(parse_moment(end, "--to", end_of_day=True)) if end else None
        folder = directory or default_candle_dir(settings.candles_dir, os.environ)
        results = asyncio.run(_download(settings, markets, tf, start_ms, end_ms, folder))
    except (CandleError, SettingsError, ValueError) as error:
        fail(str(error))
    except ExchangeError as error:
        fail(f"exchange: {error}", EXIT_PROBLEM)
    for result in results:
        console.print(_report(result, tf), highlight=False, soft_wrap=True)
    console.print(f"candles in {folder}", highlight=False, soft_wrap=True)


async def _download(settings: Settings, symbols: list[str], timeframe: str, start_ms: int,
                    end_ms: int | None, folder: Path) -> list[Downloaded]:
    """Open the exchange (public endpoints only), download, close."""
    from core.domain.models import epoch_ms
    from core.exchange.ccxt_exchange import CcxtExchange
    from core.market.download import download_candles

    now_ms = epoch_ms(datetime.now(UTC))
    # The adapter keeps only markets touching its quote and cash assets: add each symbol's.
    quotes = tuple(symbol.split("/")[1] for symbol in symbols)
    exchange = CcxtExchange(settings.exchange, api_url=settings.exchange_api_url,
                            quote=settings.quote, cash_assets=(*settings.cash_assets, *quotes))
    try:
        with _progress_bar() as progress:
            return await download_candles(exchange, symbols, timeframe, start_ms=start_ms,
                                          end_ms=end_ms or now_ms, now_ms=now_ms,
                                          directory=folder, progress=progress)
    finally:
        await exchange.close()


@contextmanager
def _progress_bar() -> Iterator[Progress]:
    """One bar per market on stderr, by candles fetched of those missing."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  console=error_console, transient=True) as bar:
        tasks: dict[str, TaskID] = {}

        def advance(symbol: str, done: int, total: int) -> None:
            if symbol not in tasks:
                tasks[symbol] = bar.add_task(symbol, total=total)
            bar.update(tasks[symbol], completed=done, total=total)

        yield advance


def _report(result: Downloaded, timeframe: str) -> str:
    """One market's outcome in words: new candles, the span held, and the gaps."""
    from core.market.candles import format_ms

    noun = "candle" if result.new_candles == 1 else "candles"
    line = (f"{result.symbol}: {result.new_candles:,} new {timeframe} {noun} "
            f"({result.requests} {'request' if result.requests == 1 else 'requests'})")
    if result.first is None or result.last is None:
        return f"{line}; the exchange has none in this period"
    line += f", {format_ms(result.first)} → {format_ms(result.last)} in {result.path.name}"
    if not result.gaps:
        return f"{line}; no gaps"
    missing = sum(gap.missing for gap in result.gaps)
    shown = "; ".join(gap.describe() for gap in result.gaps[:5])
    more = f"; and {len(result.gaps) - 5} more" if len(result.gaps) > 5 else ""
    return f"{line}; {missing:,} missing in {len(result.gaps)} gap(s): {shown}{more}"
