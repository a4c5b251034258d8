"""`ballast signals`: each asset's signal from a candle directory, as of a time.

Candle files and the JSON output: docs/formats.md.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from bot.cli.application import app
from bot.cli.common import (
    candle_directory,
    console,
    error_console,
    fail,
    parse_moment,
    print_json,
)

if TYPE_CHECKING:
    from core.domain.models import AssetSignal


@app.command("signals")
def signals_command(
    candles: Annotated[Path | None, typer.Option(
        "--candles", help="Directory of <exchange>_<BASE>_<QUOTE>_<timeframe>.csv[.gz] files "
        "(default: BALLAST_CANDLES_DIR, where `ballast candles download` writes).",
    )] = None,
    timeframe: Annotated[str | None, typer.Option(
        "--timeframe", help="Candle timeframe, e.g. 1h or 1d (default: the timeframe setting).",
    )] = None,
    at: Annotated[str | None, typer.Option(
        "--at", help="ISO-8601 UTC time, e.g. 2024-03-01T00:00:00Z (default: now, or the end "
        "of candles that end before now).",
    )] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (docs/formats.md).")] = False,
) -> None:
    """Each asset's signal as of the last candle closed at or before --at, with its reasons."""
    # Imported here: pandas-ta takes a second to import, which other commands need not pay.
    from core.config.settings import SettingsError, load_settings
    from core.domain.models import epoch_ms
    from core.market.candles import (
        CandleError,
        closed_candles,
        format_ms,
        newest_close,
        read_candle_dir,
        timeframe_ms,
    )
    from core.market.resample import candles_of_timeframe
    from core.signals import on_timeframe, signal_history, timeframes
    from core.signals.words import contradicts_score, explain

    try:
        moment = parse_moment(at, "--at") if at is not None else datetime.now(tz=UTC)
    except ValueError as error:
        fail(str(error))
    at_ms = epoch_ms(moment)
    try:
        config = load_settings()
        tf = timeframe or config.timeframe
        settings = on_timeframe(config.signal, tf)
        directory = candle_directory(candles)
        frames = read_candle_dir(directory, tf)
        # Daily strategies read the directory's 1d files, or days built from these candles.
        longer = {t: candles_of_timeframe(directory, t, frames, tf)
                  for t in timeframes(settings)[1:]}
        end = newest_close(frames, tf)
        if at is None and end is not None and end <= at_ms - timeframe_ms(tf):
            # Past candles (the latest closed one is not among them): read them at their end.
            at_ms = end
            error_console.print(f"The candles end {format_ms(end)}: signals as of then "
                                "(--at chooses another time).", highlight=False)
        signals: dict[str, AssetSignal] = {}
        stands_on: dict[str, int | None] = {}
        for asset, frame in frames.items():
            other = {t: closed_candles(found[asset], t, at_ms) for t, found in longer.items()}
            history = signal_history(asset, closed_candles(frame, tf, at_ms), settings, tf,
                                     other)
            signals[asset] = history.at(at_ms)
            stands_on[asset] = history.candle_at(at_ms)
    except (CandleError, SettingsError) as error:
        fail(str(error))
    if as_json:
        print_json({asset: _as_json(signal) for asset, signal in signals.items()})
        return
    table = Table(
        title=f"Signals as of {format_ms(at_ms)} ({tf} candles closed by then)",
        show_lines=True,
    )
    table.add_column("Asset", style="bold")
    table.add_column("Signal")
    table.add_column("Score", justify="right")
    table.add_column("Candle")
    table.add_column("Votes")
    for asset, signal in signals.items():
        candle = stands_on[asset]
        # A label the score does not explain (SELL at +0.00) says which rule decided it.
        why = [f"[italic]{explain(signal, settings)}[/]"] if contradicts_score(signal) else []
        table.add_row(
            asset,
            f"[{_COLOURS[signal.signal]}]{signal.signal}[/]",
            f"{signal.score:+.2f}",
            format_ms(candle) if candle is not None else "—",
            "\n".join([*why, *(f"{_VOTES[v.vote]} {v.strategy}: {v.reason}"
                                for v in signal.votes)]),
        )
    console.print(table)


_COLOURS = {"STRONG_BUY": "bold green", "BUY": "green", "HOLD": "yellow", "SELL": "red"}
_VOTES = {1: "BUY ", 0: "HOLD", -1: "SELL"}


def _as_json(signal: AssetSignal) -> dict[str, Any]:
    return {
        "signal": str(signal.signal),
        "score": signal.score,
        "votes": [{"strategy": v.strategy, "vote": v.vote, "reason": v.reason}
                  for v in signal.votes],
        "indicators": dict(signal.indicators),
    }
