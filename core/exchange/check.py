"""`ballast check`: is the configuration sound, and does the exchange accept it? (read-only)

Each check yields a `Finding` in words: what was checked, whether it is fine, worth a warning,
or a problem that stops Ballast from working safely. Nothing here places or cancels an order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from core.config.settings import Settings
from core.domain.models import Balance, Market
from core.exchange.errors import AuthenticationFailed, ExchangeError

if TYPE_CHECKING:
    # Only named here: importing ccxt (~25 MB) is left to whoever builds the live exchange.
    from core.exchange.ccxt_exchange import KeyPermissions

# Binance refuses signed requests whose timestamp is more than ~1 s ahead of its clock.
MAX_CLOCK_SKEW_SECONDS = 1.0


class Severity(StrEnum):
    """How a finding weighs: `problem` makes `ballast check` fail."""

    OK = "ok"
    WARNING = "warning"
    PROBLEM = "problem"


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing checked and what was found, in words."""

    check: str
    severity: Severity
    message: str


class CheckedExchange(Protocol):
    """The read-only calls the checks make (the live ccxt adapter has them all)."""

    @property
    def name(self) -> str: ...

    @property
    def has_keys(self) -> bool: ...

    async def load_markets(self) -> Mapping[str, Market]: ...

    async def fetch_server_time(self) -> datetime | None: ...

    async def fetch_balances(self) -> dict[str, Balance]: ...

    async def fetch_key_permissions(self) -> KeyPermissions: ...


def has_problems(findings: Sequence[Finding]) -> bool:
    """Whether any finding is a problem."""
    return any(f.severity is Severity.PROBLEM for f in findings)


def check_settings(settings: Settings) -> list[Finding]:
    """What the settings alone say (their values were validated when they were loaded)."""
    findings: list[Finding] = []

    def add(severity: Severity, message: str) -> None:
        findings.append(Finding("settings", severity, message))

    key, secret = settings.exchange_api_key, settings.exchange_api_secret
    has_key = key is not None and bool(key.get_secret_value())
    has_secret = secret is not None and bool(secret.get_secret_value())
    if has_key != has_secret:
        missing = "BALLAST_EXCHANGE_API_SECRET" if has_key else "BALLAST_EXCHANGE_API_KEY"
        add(Severity.PROBLEM, f"{missing} is not set while its partner is: set both or neither")
    if settings.mode == "live" and not (has_key and has_secret):
        add(Severity.PROBLEM, "BALLAST_MODE=live needs BALLAST_EXCHANGE_API_KEY and "
                              "BALLAST_EXCHANGE_API_SECRET")
    portfolio = (settings.paper_portfolio or "").strip()
    if settings.mode == "paper" and portfolio.lower() == "live" and not (has_key and has_secret):
        add(Severity.PROBLEM, "BALLAST_PAPER_PORTFOLIO=live reads the real account: it needs "
                              "read-only exchange keys")
    elif settings.mode == "paper" and portfolio and portfolio.lower() != "live" \
            and not Path(portfolio).is_file():
        add(Severity.PROBLEM, f"BALLAST_PAPER_PORTFOLIO = {portfolio!r}: no such file")
    if settings.mode == "live" and settings.approval == "auto" and not settings.allow_live_auto:
        add(Severity.PROBLEM, "BALLAST_APPROVAL=auto in live mode also needs "
                              "BALLAST_ALLOW_LIVE_AUTO=true (or use manual approval)")
    if settings.telegram_token is None:
        add(Severity.WARNING, "BALLAST_TELEGRAM_TOKEN is not set: `ballast run` cannot reach "
                              "you on Telegram")
    elif settings.telegram_owner_id is None:
        add(Severity.PROBLEM, "BALLAST_TELEGRAM_OWNER_ID is not set: the bot would not know "
                              "whom to obey")
    if not findings:
        add(Severity.OK, f"{settings.mode} mode, {settings.approval} approval, quote "
                         f"{settings.quote} on {settings.exchange}")
    return findings


async def check_exchange(exchange: CheckedExchange, settings: Settings,
                         now: datetime | None = None) -> list[Finding]:
    """Connectivity, markets for the quote, and — with keys — the keys and their permissions."""
    findings = await _check_public(exchange, settings, now or datetime.now(UTC))
    if not findings or findings[0].severity is Severity.PROBLEM:
        return findings
    if not exchange.has_keys:
        if settings.mode == "paper":
            findings.append(Finding("keys", Severity.OK, "no API keys: paper mode reads public "
                                                         "prices only"))
        return findings
    findings.extend(await _check_keys(exchange, settings))
    return findings


async def _check_public(exchange: CheckedExchange, settings: Settings,
                        now: datetime) -> list[Finding]:
    try:
        server_time = await exchange.fetch_server_time()
        markets = await exchange.load_markets()
    except ExchangeError as error:
        return [Finding("connectivity", Severity.PROBLEM, f"cannot reach {exchange.name}: "
                                                          f"{error}")]
    findings = [Finding("connectivity", Severity.OK,
                        f"{exchange.name} answers ({len(markets)} spot markets)")]
    if server_time is not None:
        skew = (now - server_time).total_seconds()
        if abs(skew) > MAX_CLOCK_SKEW_SECONDS:
            findings.append(Finding(
                "clock", Severity.WARNING,
                f"this server's clock is {abs(skew):.1f} s {'ahead of' if skew > 0 else 'behind'}"
                f" {exchange.name}'s: signed requests may be refused; synchronise it (NTP)"))
    quoted = {m.base for m in markets.values() if m.quote == settings.quote and m.active}
    if not quoted:
        quotes = sorted({m.quote for m in markets.values()} & {"USDT", "USD", "USDC", "FDUSD"})
        findings.append(Finding("markets", Severity.PROBLEM,
                                f"{exchange.name} lists no spot markets against "
                                f"{settings.quote}; set BALLAST_QUOTE to one it has "
                                f"({', '.join(quotes) or 'none of the usual'})"))
        return findings
    missing = [a for a in settings.watchlist if a not in quoted and a != settings.quote]
    if missing:
        findings.append(Finding("markets", Severity.WARNING,
                                f"no {settings.quote} market for watchlist assets "
                                f"{', '.join(missing)}: they will not be priced or bought"))
    else:
        findings.append(Finding("markets", Severity.OK,
                                f"{len(quoted)} markets against {settings.quote}, every "
                                "watchlist asset included"))
    unprotected = [a for a in settings.never_sell if a not in quoted and a != settings.quote]
    if unprotected:
        # Probably a typo: the asset meant to be protected is not the one named.
        findings.append(Finding("never_sell", Severity.WARNING,
                                f"{', '.join(unprotected)}: no {settings.quote} market on "
                                f"{exchange.name}, so never_sell protects nothing there; "
                                "check the spelling"))
    return findings


async def _check_keys(exchange: CheckedExchange, settings: Settings) -> list[Finding]:
    try:
        balances = await exchange.fetch_balances()
        permissions = await exchange.fetch_key_permissions()
    except AuthenticationFailed as error:
        return [Finding("keys", Severity.PROBLEM, str(error))]
    except ExchangeError as error:
        return [Finding("keys", Severity.PROBLEM, f"could not check the keys: {error}")]
    findings = [Finding("keys", Severity.OK,
                        f"the API key is accepted; {len(balances)} assets hold a balance")]
    if permissions.can_trade is False:
        severity = Severity.PROBLEM if settings.mode == "live" else Severity.WARNING
        findings.append(Finding("trading", severity,
                                "the key may not trade spot: enable spot trading for it on "
                                f"{exchange.name}" + ("" if settings.mode == "live" else
                                                      " before switching to live mode")))
    elif permissions.can_trade is True:
        findings.append(Finding("trading", Severity.OK, "the key may trade spot"))
    if permissions.can_withdraw is True:
        findings.append(Finding(
            "withdrawals", Severity.PROBLEM,
            f"DANGER: this key can WITHDRAW funds ({permissions.source}). Ballast never needs "
            f"that: turn withdrawals off for this key on {exchange.name}"))
    elif permissions.can_withdraw is False:
        findings.append(Finding("withdrawals", Severity.OK,
                                f"withdrawals are disabled ({permissions.source})"))
    else:
        findings.append(Finding("withdrawals", Severity.WARNING,
                                f"{exchange.name} does not say whether this key can withdraw: "
                                "make sure withdrawals are off for it"))
    return findings
