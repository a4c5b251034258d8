"""Builders for portfolios, market rules, signals and position facts, so tests stay short.

Everything goes through the real `value_portfolio`, so a test portfolio is exactly what the
engine would see. Numbers may be given as str, int or Decimal (never float: no binary noise).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from core.config.rules import PolicySettings
from core.config.settings import DEFAULT_CASH_ASSETS
from core.domain.models import (
    AssetSignal,
    Balance,
    MarketRules,
    Portfolio,
    PositionFacts,
    Price,
    SignalKind,
)
from core.domain.valuation import value_portfolio

Number = str | int | Decimal

NOW = datetime(2026, 11, 24, tzinfo=UTC)

# Real Binance spot rules (exchangeInfo 2023-08-13, data/fixtures): step, minimum amount and
# minimum notional of each asset's USDT market.
BINANCE_USDT_RULES: dict[str, MarketRules] = {
    "BTC": MarketRules(Decimal("10"), Decimal("0.00001"), Decimal("0.00001"), Decimal("0.01")),
    "ETH": MarketRules(Decimal("10"), Decimal("0.0001"), Decimal("0.0001"), Decimal("0.01")),
    "SOL": MarketRules(Decimal("5"), Decimal("0.01"), Decimal("0.01"), Decimal("0.01")),
    "AVAX": MarketRules(Decimal("5"), Decimal("0.01"), Decimal("0.01"), Decimal("0.01")),
    "LINK": MarketRules(Decimal("5"), Decimal("0.01"), Decimal("0.01"), Decimal("0.001")),
}

# Round prices that make the scenario values of docs/rules.md exact amounts (e.g. $3,175 of BTC at
# 100,000 is 0.03175 BTC), so figures in tests are exact to the cent.
SCENARIO_PRICES: dict[str, Decimal] = {
    "BTC": Decimal("100000"),
    "ETH": Decimal("2500"),
    "SOL": Decimal("200"),
    "AVAX": Decimal("40"),
    "BNB": Decimal("500"),
    "LINK": Decimal("20"),
}


def d(value: Number) -> Decimal:
    """A Decimal from a str/int/Decimal (floats are refused: they carry binary noise)."""
    if isinstance(value, float):
        raise TypeError("use str or Decimal, not float")
    return Decimal(value)


def rules(
    min_notional: Number = 0,
    step: Number | None = None,
    min_amount: Number = 0,
    tick: Number | None = None,
) -> MarketRules:
    """Market rules for one asset against the quote."""
    return MarketRules(
        min_notional=d(min_notional),
        amount_step=None if step is None else d(step),
        min_amount=d(min_amount),
        price_tick=None if tick is None else d(tick),
    )


def price(symbol: str, last: Number | None, at: datetime | None = None) -> Price:
    """A ticker price for `BASE/QUOTE`."""
    base, quote = symbol.split("/")
    return Price(base, quote, None if last is None else d(last), at)


def portfolio(
    holdings: Mapping[str, tuple[Number, Number]] | None = None,
    cash: Mapping[str, Number] | None = None,
    *,
    locked: Mapping[str, Number] | None = None,
    quote: str = "USDT",
    markets: Mapping[str, MarketRules] | None = None,
    watch: Mapping[str, Number] | None = None,
    cash_assets: Iterable[str] = DEFAULT_CASH_ASSETS,
) -> Portfolio:
    """A valued portfolio: `holdings` asset → (free amount, price), `cash` asset → amount.

    `locked` adds locked amounts (for holdings or cash); `watch` prices unheld assets.
    """
    balances: dict[str, Balance] = {}
    prices: dict[str, Price] = {}
    locked = locked or {}
    for asset, (amount, last) in (holdings or {}).items():
        balances[asset] = Balance(d(amount), d(locked.get(asset, 0)))
        prices[f"{asset}/{quote}"] = Price(asset, quote, d(last))
    for asset, amount in (cash or {}).items():
        balances[asset] = Balance(d(amount), d(locked.get(asset, 0)))
    for asset, last in (watch or {}).items():
        prices[f"{asset}/{quote}"] = Price(asset, quote, d(last))
    return value_portfolio(
        balances,
        prices,
        quote=quote,
        cash_assets=tuple(cash_assets),
        markets=markets or {},
        now=NOW,
        max_price_age=120,
        watchlist=tuple(watch or ()),
    )


def portfolio_by_value(
    values: Mapping[str, Number],
    cash: Number,
    *,
    watch: Iterable[str] = (),
    markets: Mapping[str, MarketRules] | None = None,
) -> Portfolio:
    """A USDT portfolio from holding *values* at `SCENARIO_PRICES` (exact amounts) + USDT cash."""
    holdings = {
        asset: (d(value) / SCENARIO_PRICES[asset], SCENARIO_PRICES[asset])
        for asset, value in values.items()
    }
    return portfolio(
        holdings,
        {"USDT": cash},
        markets=markets,
        watch={asset: SCENARIO_PRICES[asset] for asset in watch},
    )


def signal(asset: str, kind: SignalKind | str, score: float | None = None) -> AssetSignal:
    """An asset's signal; the score defaults to +1 / +0.5 / 0 / -0.5 by kind."""
    kind = SignalKind(kind)
    default = {
        SignalKind.STRONG_BUY: 1.0,
        SignalKind.BUY: 0.5,
        SignalKind.HOLD: 0.0,
        SignalKind.SELL: -0.5,
    }[kind]
    return AssetSignal(asset=asset, signal=kind, score=default if score is None else score)


def signals(**kinds: SignalKind | str | tuple[SignalKind | str, float]) -> dict[str, AssetSignal]:
    """Signals by asset: `signals(ETH="SELL", BTC=("BUY", 0.5))`."""
    result = {}
    for asset, spec in kinds.items():
        if isinstance(spec, tuple):
            result[asset] = signal(asset, spec[0], spec[1])
        else:
            result[asset] = signal(asset, spec)
    return result


def facts(
    cost_basis: Number | None = None,
    bought_ago: float | None = None,
    sold_ago: float | None = None,
    now: datetime = NOW,
) -> PositionFacts:
    """Position facts with last buy/sell given as seconds before `now`."""
    return PositionFacts(
        cost_basis=None if cost_basis is None else d(cost_basis),
        last_buy=None if bought_ago is None else now - timedelta(seconds=bought_ago),
        last_sell=None if sold_ago is None else now - timedelta(seconds=sold_ago),
    )


def policy(**overrides: object) -> PolicySettings:
    """Policy settings with overrides (validated like a settings file; a `preset` applies)."""
    return PolicySettings.model_validate(overrides)
