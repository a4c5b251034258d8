"""`ballast demo`: Ballast at work in one command — offline, no keys, real market history."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli.application import app
from bot.cli.common import console, fail

if TYPE_CHECKING:
    from bot.telegram.alerts import AlertFilter
    from core.config.settings import Settings
    from core.engine.events import Event, Subscription
    from core.ops.alert_levels import PushCount

INTRO = (
    "Ballast demo · paper trading the seed portfolio (BTC, ETH, SOL, AVAX and some cash) on "
    "real Binance 1h candles bundled with Ballast, default settings, every plan approved "
    "automatically. No keys, no network."
)


@app.command("demo")
def demo_command(
    days: Annotated[int, typer.Option(
        "--days", min=1, max=700,
        help="How many of the last days of 2024 the engine runs through, hour by hour.",
    )] = 3,
    quiet: Annotated[bool, typer.Option(
        "--quiet", help="Leave out the Telegram messages; print only the summaries.",
    )] = False,
    every_message: Annotated[bool, typer.Option(
        "--every-message", help="Print every Telegram message in full (else: the first plan "
        "and its fills in full, then one line per plan and per execution).",
    )] = False,
    full: Annotated[bool, typer.Option(
        "--full/--no-full", help="Also replay all of 2023–2024 with the same rules (fast).",
    )] = True,
    plot: Annotated[Path | None, typer.Option(
        "--plot", help="Write a PNG of the last run shown (the full replay, unless --no-full): "
        "the three equity curves with their returns, and Ballast's cash share.",
    )] = None,
) -> None:
    """Run the real engine over bundled 2023–2024 candles and print what the owner would read."""
    import asyncio

    from bot.cli.backtest import period_days, progress_bar, summary_table, write_plot
    from bot.telegram.alerts import AlertFilter
    from core.backtest.demo import (
        DEMO_END,
        FULL_REPLAY_START,
        closing_cash_reason,
        demo_input,
        demo_replay,
        demo_settings,
    )
    from core.backtest.runner import run_backtest
    from core.backtest.verdict import verdict
    from core.engine.events import EventBus
    from core.exchange.paper_markets import bundled_markets
    from core.ops.alert_levels import PushCount

    console.print(INTRO, highlight=False)
    try:
        settings = demo_settings()
        inp = demo_input(settings)
        markets = bundled_markets()
        start = DEMO_END - timedelta(days=days)
        replay = demo_replay(settings, start)
    except (FileNotFoundError, ValueError) as error:
        fail(str(error))
    console.print(
        f"The engine ticks every hour from {start:%Y-%m-%d} to {DEMO_END:%Y-%m-%d} "
        f"({len(replay.rows):,} hours). Orders fill at the next candle's open, with "
        f"{settings.fee_rate:.2%} fee and Binance's rounding.\n",
        highlight=False,
    )
    bus = EventBus()
    subscription = bus.subscribe()
    alerts = AlertFilter()
    pushes = PushCount()

    shown: set[type] = set()

    def show(_done: int, _total: int) -> None:
        _print_messages(subscription, alerts, settings, quiet, pushes,
                        shown=None if every_message else shown)

    result = asyncio.run(
        run_backtest(replay, inp, markets, driver="engine", bus=bus, progress=show)
    )
    console.print()
    console.print(pushes.words(days), highlight=False)
    console.print(summary_table(
        result.summary(),
        title=f"The engine's run, {result.start:%Y-%m-%d} → {result.end:%Y-%m-%d}",
        days=period_days(result),
    ))
    console.print(closing_cash_reason(result, replay, inp), highlight=False)
    if full:
        whole = demo_replay(settings, FULL_REPLAY_START)
        with progress_bar(enabled=True, total=len(whole.rows)) as progress:
            result = replayed = asyncio.run(run_backtest(whole, inp, markets, progress=progress))
        console.print(summary_table(
            replayed.summary(),
            title=(f"The same rules over {replayed.start:%Y-%m-%d} → {replayed.end:%Y-%m-%d} "
                   f"({replayed.candles:,} hourly decisions, fast replay)"),
            days=period_days(replayed),
        ))
    console.print(
        "Try it on your own history: ballast backtest --candles DIR --from 2021-01-01 "
        "--to 2024-12-31 --input PORTFOLIO.json --plot chart.png",
        highlight=False,
    )
    if plot is not None:
        write_plot(result, plot, settings, title=(
            f"Demo · seed portfolio, default settings · {result.start:%Y-%m-%d} → "
            f"{result.end:%Y-%m-%d} · {result.candles:,} 1h candles"))
        console.print(f"Chart written to {plot}", highlight=False)
    # The verdict speaks of the last run shown: the full replay when there is one.
    console.print(verdict(result.summary(), settings.quote, days=period_days(result)),
                  highlight=False)


def _print_messages(
    subscription: Subscription, alerts: AlertFilter, settings: Settings, quiet: bool,
    pushes: PushCount, *, shown: set[type] | None = None,
) -> None:
    """Print each new message the Telegram bot would have sent, headed by its time and how
    it arrives (silent ones say so); what goes to the daily summary or nowhere is not printed.

    With `shown` (the kinds of plan message already printed in full), a plan or an execution
    after the first reads as one line (`digest_line`). `pushes` counts them as the phone would.
    """
    from bot.telegram.alerts import alert_view
    from bot.telegram.format import visible
    from core.config.settings import AlertLevel
    from core.ops.alert_levels import is_message, level_of

    quote = settings.quote
    for event in subscription.pending():
        level = level_of(event, settings)
        if not is_message(level):
            pushes.count(event, level)
            continue
        if not alerts.admit(event):
            continue
        pushes.count(event, level)
        if quiet:
            continue
        line = digest_line(event, quote)
        if shown is not None and line is not None:
            if type(event) in shown:
                console.print(line, markup=False, highlight=False)
                continue
            shown.add(type(event))
        view = alert_view(event, quote)
        if view is None:
            continue
        how = " (silent)" if level is AlertLevel.SILENT else ""
        console.rule(f"{event.at:%a %Y-%m-%d %H:%M} UTC · Telegram{how}", align="left",
                     style="dim")
        console.print(visible(view.text), markup=False, highlight=False)


def digest_line(event: Event, quote: str) -> str | None:
    """A plan or an execution as one line (None for any other event)."""
    from core.engine.events import PlanExecuted, PlanProposed
    from core.engine.orders import OrderState
    from core.policy.words import trade_reasons

    at = f"{event.at:%a %Y-%m-%d %H:%M}"
    if isinstance(event, PlanProposed):
        trades = "; ".join(
            f"{t.side.value.upper()} {t.amount.normalize():f} {t.asset} ≈ {t.value:,.2f} "
            f"({trade_reasons(t.reasons)})"
            for t in event.plan.trades
        )
        return f"{at} · plan {event.approval_id}: {trades or 'no trades'}"
    if isinstance(event, PlanExecuted):
        filled = sum(1 for r in event.results if r.state is OrderState.FILLED)
        fees = sum((r.fee for r in event.results if r.fee_currency == quote), Decimal(0))
        return (f"{at} · plan {event.approval_id} executed: {filled} of {len(event.results)} "
                f"orders filled, fees {fees:,.2f} {quote}")
    return None
