"""`ballast check [--json]`: validate the settings and, read-only, the exchange and its keys."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from bot.cli.application import app
from bot.cli.common import EXIT_PROBLEM, console, fail, print_json

if TYPE_CHECKING:
    from core.config.settings import Settings
    from core.exchange.check import Finding

# Marks by severity value: the check's modules (and ccxt, pydantic) load only when it runs.
_MARKS = {"ok": "[green]✓[/]", "warning": "[yellow]![/]", "problem": "[bold red]✗[/]"}


async def _run_checks(settings: Settings) -> list[Finding]:
    # ccxt (~25 MB) loads only for `ballast check`, not for every command this module registers.
    from core.exchange.ccxt_exchange import CcxtExchange
    from core.exchange.ccxt_retry import RetryPolicy
    from core.exchange.check import Finding, Severity, check_exchange, check_settings
    from core.exchange.errors import ExchangeError
    from core.ops.file_check import check_database, check_env_file, check_sources

    findings = [*check_settings(settings), *check_env_file(), *check_database(settings.db),
                *check_sources(settings)]
    if settings.telegram_token is not None:
        # python-telegram-bot loads only when there is a token to ask Telegram about.
        from bot.telegram.token import telegram_finding

        findings.append(await telegram_finding(settings))
    try:
        # A check should answer quickly: one retry, not the trading loop's patience.
        exchange = CcxtExchange.from_settings(settings, retry=RetryPolicy(attempts=2))
    except ExchangeError as error:
        return [*findings, Finding("exchange", Severity.PROBLEM, str(error))]
    try:
        return [*findings, *await check_exchange(exchange, settings)]
    finally:
        await exchange.close()


@app.command()
def check(
    settings_file: Annotated[
        Path | None, typer.Option("--settings", help="TOML settings file (else BALLAST_SETTINGS)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the findings as JSON")] = False,
) -> None:
    """Check the configuration and, read-only, the exchange connection and API keys."""
    import asyncio

    from core.config.settings import SettingsError, load_settings
    from core.exchange.check import has_problems

    try:
        settings = load_settings(settings_file)
    except SettingsError as error:
        fail(str(error))
    findings = asyncio.run(_run_checks(settings))
    if as_json:
        print_json([{"check": f.check, "severity": f.severity.value, "message": f.message}
                    for f in findings])
    else:
        for finding in findings:
            mark = _MARKS[finding.severity.value]
            console.print(f"{mark} {finding.check}: {escape(finding.message)}",
                          highlight=False, markup=True, soft_wrap=True)
    if has_problems(findings):
        raise typer.Exit(EXIT_PROBLEM)
