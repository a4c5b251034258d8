"""`ballast plan --input FILE [--json]`: what would the policy do with this portfolio?

The input and output formats: docs/formats.md.

Reads a what-if JSON file (`-` for stdin), runs the same pure policy the bot runs, and prints
the plan as tables, or as JSON with `--json`. Invalid input exits with code 2 and
a message naming the field on stderr; nothing is printed on stdout then.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from bot.cli.application import app
from bot.cli.common import console, fail, print_json

if TYPE_CHECKING:
    from core.config.rules import PolicySettings
    from core.domain.models import Plan, PlannedTrade, Portfolio
    from core.policy.whatif import WhatIf


@app.command("plan")
def plan_command(
    input_file: Annotated[
        Path,
        typer.Option(
            "--input",
            "-i",
            help="What-if JSON file (docs/formats.md): balances, prices, signals…; - for stdin.",
        ),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the plan as JSON (docs/formats.md).")
    ] = False,
) -> None:
    """Plan the trades the policy would make for a portfolio given in a JSON file.

    The policy settings are loaded as for every command (settings file, .env, BALLAST_*
    variables); the file's `settings` override them.
    """
    from core.config.settings import SettingsError, load_settings
    from core.policy import make_plan
    from core.policy.whatif import plan_output

    try:
        base = load_settings().policy
    except SettingsError as error:
        fail(escape(str(error)))
    whatif = read_input(input_file, now=datetime.now(UTC), base=base)
    plan = make_plan(whatif.plan_input, whatif.settings)
    if as_json:
        print_json(plan_output(plan))
    else:
        show_plan(plan, whatif)


def read_input(path: Path, *, now: datetime, base: PolicySettings | None = None) -> WhatIf:
    """Read and validate the what-if file, or exit 2 naming the problem."""
    from core.policy.whatif import WhatIfError, load_whatif

    try:
        text = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
    except OSError as error:
        fail(f"--input {escape(str(path))}: cannot read the file ({escape(error.strerror or '')})")
    try:
        return load_whatif(text, default_now=now, base=base)
    except WhatIfError as error:
        fail(f"--input {escape(str(path))}: {escape(str(error))}")


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def _pct(fraction: Decimal) -> str:
    return f"{fraction * 100:.1f}%"


def show_plan(plan: Plan, whatif: WhatIf) -> None:
    """Print the plan for a person: trades, skipped trades, cash and allocations."""
    from core.policy import CASH_KEY
    from core.policy.words import skip_reason, skips_worth_saying

    portfolio = whatif.plan_input.portfolio
    quote = portfolio.quote
    console.print(
        f"Portfolio value [bold]{_money(plan.total_value)} {quote}[/], cash "
        f"{_money(plan.cash_before)} ({_pct(plan.before[CASH_KEY])}) → "
        f"{_money(plan.cash_after)} ({_pct(plan.after[CASH_KEY])})",
        highlight=False,
    )
    if plan.trades:
        trades = Table(title="Trades", title_justify="left")
        for column in ("#", "side", "asset", "amount", "price", f"value {quote}", "fee", "why"):
            trades.add_column(column, justify="right" if column in ("#", "amount", "price")
                              else "left")
        for number, trade in enumerate(plan.trades, 1):
            style = "red" if trade.side.value == "sell" else "green"
            trades.add_row(
                str(number),
                f"[{style}]{trade.side.value}[/]",
                trade.asset,
                f"{trade.amount.normalize():f}",
                f"{trade.price.normalize():f}",
                _money(trade.value),
                _money(trade.fee),
                escape(_why(plan, trade)),
            )
        console.print(trades)
    else:
        console.print("Nothing to trade: the portfolio is within the policy's limits.")
    worth_saying = skips_worth_saying(plan)
    if worth_saying:
        skipped = Table(title="Considered, not planned", title_justify="left")
        for column in ("asset", "side", "reason", "detail"):
            skipped.add_column(column)
        for skip in worth_saying:
            words = skip_reason(skip)
            detail = "" if skip.detail == words else skip.detail
            skipped.add_row(skip.asset, skip.side.value, words, escape(detail))
        console.print(skipped)
    console.print(_allocations(plan))
    _notes(portfolio)


def _why(plan: Plan, trade: PlannedTrade) -> str:
    """Why a trade is made, in words (core.policy.words): for a sell the share of the holding
    it takes, for a buy why this asset."""
    from core.policy.words import share_sold, trade_why

    words = trade_why(trade)
    share = share_sold(plan, trade)
    if share is not None:
        words = ("sells all of the holding" if share >= 1 else
                 f"sells {_pct(share)} of the holding") + f"; {words}"
    return words


def _allocations(plan: Plan) -> Table:
    table = Table(title="Allocation", title_justify="left")
    for column in ("", "before", "after"):
        table.add_column(column, justify="left" if not column else "right")
    for asset, after in plan.after.items():
        before = plan.before.get(asset, Decimal(0))
        changed = before.quantize(Decimal("0.001")) != after.quantize(Decimal("0.001"))
        shown = f"[bold]{_pct(after)}[/]" if changed else _pct(after)
        table.add_row(asset, _pct(before), shown)
    return table


def _notes(portfolio: Portfolio) -> None:
    if portfolio.dust:
        console.print(f"Dust (too small to trade): {', '.join(portfolio.dust)}", highlight=False)
    if portfolio.unpriced:
        console.print(
            f"[yellow]No usable price (not valued, not traded):[/] {', '.join(portfolio.unpriced)}",
            highlight=False,
        )
