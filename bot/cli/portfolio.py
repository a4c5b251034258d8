"""`ballast portfolio [--json]`: the live or paper account, valued as in docs/rules.md."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from bot.cli.application import app
from bot.cli.common import EXIT_PROBLEM, console, fail, parse_moment, print_json

# The engine, the exchange and the signals (pandas) load when the command runs, not when
# `ballast` starts.
if TYPE_CHECKING:
    from core.config.settings import Settings
    from core.domain.models import Portfolio, PositionFacts, SignalKind
    from core.exchange.base import Exchange
    from core.exchange.prices import Clock, ReplayPrices
    from core.storage.store import Store

CENT = Decimal("0.01")
FOURTH = Decimal("0.0001")
PRICE_DIGITS = Decimal("0.00000001")


@dataclass(frozen=True, slots=True)
class AccountView:
    """What the command shows: the valued portfolio, cost bases and signals."""

    portfolio: Portfolio
    facts: dict[str, PositionFacts]
    signals: dict[str, SignalKind]


def _round(value: Decimal | None, step: Decimal) -> Decimal | None:
    return None if value is None else value.quantize(step, rounding=ROUND_HALF_EVEN)


def portfolio_json(view: AccountView) -> dict[str, Any]:
    """The `portfolio --json` shape (docs/formats.md): values to the cent, allocations as
    fractions."""
    from core.account.snapshot import unrealised_pnl
    from core.domain.models import PositionFacts, SignalKind

    portfolio = view.portfolio
    holdings: dict[str, Any] = {}
    for asset, holding in sorted(portfolio.holdings.items(), key=lambda kv: -kv[1].value):
        basis = view.facts.get(asset, PositionFacts()).cost_basis
        # A holding with no signal (dust, or no candles to read one from) shows HOLD.
        holdings[asset] = {
            "free": holding.free,
            "locked": holding.locked,
            "price": holding.price,
            "value": _round(holding.value, CENT),
            "allocation": _round(holding.allocation, FOURTH),
            "cost_basis": _round(basis, PRICE_DIGITS),
            "pnl": _round(unrealised_pnl(holding, basis), CENT),
            "signal": view.signals.get(asset, SignalKind.HOLD).value,
        }
    return {
        "quote": portfolio.quote,
        "total_value": _round(portfolio.total_value, CENT),
        "cash": {
            "value": _round(portfolio.cash_value, CENT),
            "allocation": _round(portfolio.cash_allocation, FOURTH),
        },
        "holdings": holdings,
        "dust": list(portfolio.dust),
        "unpriced": list(portfolio.unpriced),
    }


def _percent(fraction: Decimal) -> str:
    return f"{fraction * 100:.1f}%"


def _limit(fraction: Decimal) -> str:
    return f"{(fraction * 100).normalize():f}%"


def _allocation_cell(allocation: Decimal, dust: bool, settings: Settings) -> str:
    """The allocation, marked against the position limits (docs/rules.md)."""
    text = _percent(allocation)
    if dust:
        return f"[dim]{text} dust[/]"
    if allocation > settings.max_position:
        return f"[red]{text} >{_limit(settings.max_position)}[/]"
    if allocation < settings.min_position:
        return f"[yellow]{text} <{_limit(settings.min_position)}[/]"
    return f"[green]{text}[/]"


def _cash_cell(cash: Decimal, settings: Settings) -> str:
    """Cash %, marked against the reserve's band."""
    text = _percent(cash)
    if cash < settings.min_cash:
        return f"[red]{text} <{_limit(settings.min_cash)}[/]"
    if cash > settings.max_cash:
        return f"[yellow]{text} >{_limit(settings.max_cash)}[/]"
    return f"[green]{text}[/]"


def _amount_text(free: Decimal, locked: Decimal) -> str:
    amount = f"{(free + locked).normalize():f}"
    return amount if locked == 0 else f"{amount} ({locked.normalize():f} locked)"


def portfolio_table(view: AccountView, settings: Settings) -> Table:
    """A readable table: amount, value, allocation against the limits, cost basis, P&L."""
    from core.account.snapshot import unrealised_pnl
    from core.domain.models import PositionFacts, SignalKind

    portfolio = view.portfolio
    table = Table(
        title=f"Portfolio in {portfolio.quote}",
        title_justify="left",
        caption=f"limits: position {_limit(settings.min_position)}–"
        f"{_limit(settings.max_position)}, cash {_limit(settings.min_cash)}–"
        f"{_limit(settings.max_cash)}; signals on {settings.timeframe} candles",
        caption_justify="left",
    )
    table.add_column("asset")
    for name in ("amount", "price", "value", "alloc", "cost", "P&L"):
        table.add_column(name, justify="right")
    table.add_column("signal")
    for asset, holding in sorted(portfolio.holdings.items(), key=lambda kv: -kv[1].value):
        basis = view.facts.get(asset, PositionFacts()).cost_basis
        pnl = unrealised_pnl(holding, basis)
        table.add_row(
            asset,
            _amount_text(holding.free, holding.locked),
            f"{holding.price.normalize():f}",
            f"{holding.value:,.2f}",
            _allocation_cell(holding.allocation, holding.dust, settings),
            "unknown" if basis is None else f"{basis:,.2f}",
            "—" if pnl is None else f"[{'green' if pnl >= 0 else 'red'}]{pnl:+,.2f}[/]",
            view.signals.get(asset, SignalKind.HOLD).value,
        )
    table.add_section()
    table.add_row("cash", "", "", f"{portfolio.cash_value:,.2f}",
                  _cash_cell(portfolio.cash_allocation, settings), "", "", "")
    table.add_row("total", "", "", f"{portfolio.total_value:,.2f}", "100.0%", "", "", "")
    return table


async def read_account_view(
    settings: Settings, *, candles: Path | None, at: datetime | None, timeframe: str
) -> AccountView:
    """Open the database and exchange, value the account, and read cost bases."""
    from core.account.cost_basis import read_position_facts
    from core.account.snapshot import read_portfolio
    from core.config.settings import SettingsError
    from core.exchange.factory import build_exchange
    from core.exchange.prices import ManualClock, ReplayPrices, utc_now
    from core.market.candles import CandleError, timeframe_ms
    from core.storage.store import Store

    replay: ReplayPrices | None = None
    clock: Clock = utc_now
    max_price_age: int | None = None
    if candles is not None:
        if settings.mode != "paper":
            raise SettingsError("--candles prices the paper account: it needs BALLAST_MODE=paper")
        frozen = ManualClock(at or datetime.now(UTC))
        replay = ReplayPrices(candles, frozen, timeframe=timeframe)
        if at is None:
            latest = replay.latest_close()
            if latest is None:
                raise CandleError(f"no {timeframe} candle files in {candles}")
            frozen.set(latest)
        clock = frozen
        # A replayed price is the last close, up to one candle old at any moment.
        max_price_age = max(settings.max_price_age, timeframe_ms(timeframe) // 1000)
    async with Store.opened(settings.db) as store:
        exchange = await build_exchange(settings, store, prices=replay, clock=clock)
        try:
            now = clock()
            portfolio = await read_portfolio(exchange, settings, now, max_price_age=max_price_age)
            held = {asset: h.amount for asset, h in portfolio.holdings.items()}
            facts = await read_position_facts(store, exchange, held, settings.quote)
            signals = await _read_signals(exchange, store, portfolio, settings, now, replay)
        finally:
            await exchange.close()
    return AccountView(portfolio, facts, signals)


async def _read_signals(
    exchange: Exchange,
    store: Store,
    portfolio: Portfolio,
    settings: Settings,
    now: datetime,
    replay: ReplayPrices | None,
) -> dict[str, SignalKind]:
    """Each holding's signal, computed as the engine's scan does (assets without candles: none).

    Live candles go through the database's candle cache, shared with `ballast run`; replayed
    ones through a throwaway cache, so a replay never mixes history into the live cache.
    """
    from core.engine.signals import SignalScanner
    from core.market.candle_cache import CandleCache
    from core.storage.store import Store

    if replay is None:
        scanned = await SignalScanner(exchange, CandleCache(store, exchange), settings)(
            portfolio, now
        )
    else:
        async with await Store.open(":memory:") as scratch:
            scanner = SignalScanner(exchange, CandleCache(scratch, exchange), settings)
            scanned = await scanner(portfolio, now)
    return {asset: signal.signal for asset, signal in scanned.items()}


@app.command("portfolio")
def portfolio_command(
    json_output: Annotated[
        bool, typer.Option("--json", help="Print JSON (docs/formats.md) instead of a table.")
    ] = False,
    candles: Annotated[
        Path | None,
        typer.Option("--candles", help="Price the paper account from this candle directory."),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option("--at", help="With --candles: the UTC time to price at (default: the "
                                  "last candle's close)."),
    ] = None,
    timeframe: Annotated[
        str | None,
        typer.Option("--timeframe", help="With --candles: the candle files to price from, and "
                     "the candles the signals are read on (default: BALLAST_TIMEFRAME)."),
    ] = None,
) -> None:
    """Show the live or paper portfolio: value, allocation against the limits, cash, P&L."""
    import asyncio

    from core.config.settings import SettingsError, load_settings
    from core.exchange.errors import ExchangeError
    from core.exchange.paper_markets import MarketsFileError
    from core.market.candles import CandleError
    from core.storage.health import DatabaseProblem

    try:
        if timeframe is not None and candles is None:
            raise SettingsError("--timeframe needs --candles (live signals use "
                                "BALLAST_TIMEFRAME)")
        # Prices and signals come from the same candles: --timeframe is the signals' too.
        settings = load_settings(timeframe=timeframe) if timeframe else load_settings()
        moment = parse_moment(at, "--at") if at is not None else None
        if moment is not None and candles is None:
            raise SettingsError("--at needs --candles (the live exchange only has prices now)")
        view = asyncio.run(
            read_account_view(settings, candles=candles, at=moment, timeframe=settings.timeframe)
        )
    except (SettingsError, CandleError, MarketsFileError, DatabaseProblem, ValueError) as error:
        fail(str(error), 2)
    except ExchangeError as error:
        fail(f"exchange: {error}", EXIT_PROBLEM)
    if json_output:
        print_json(portfolio_json(view))
        return
    console.print(portfolio_table(view, settings))
    portfolio = view.portfolio
    if portfolio.dust:
        console.print(f"dust (shown, never traded): {', '.join(portfolio.dust)}")
    if portfolio.unpriced:
        console.print(f"[yellow]unpriced (no recent price, left out of the total):[/] "
                      f"{', '.join(portfolio.unpriced)}")
