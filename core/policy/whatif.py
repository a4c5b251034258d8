"""What-if planning: a JSON portfolio in, the policy's input out; a plan out as JSON.

The formats: docs/formats.md.

Input rules:
- Only `balances` and `prices` are required. Numbers may be JSON numbers or decimal strings;
  NaN, infinities and negative amounts or prices are refused. A price of 0 leaves the asset
  unpriced (reported, not traded), as a broken ticker would.
- `prices` are keyed by asset (priced in `quote`) or by a `BASE/QUOTE` symbol, which lets an
  asset be priced through BTC like a live exchange would (e.g. `"ETH/BTC"` and `"BTC"`).
- `signals`: `{"signal": "BUY", "score": 0.5}` or just `"BUY"`; a missing score is +1 for
  STRONG_BUY, +0.5 for BUY, 0 for HOLD and −0.5 for SELL. Missing signals are HOLD, score 0.
- `markets`: missing ones get the defaults (min notional = `min_trade_value`, no step).
- `settings` overrides the policy settings (docs/settings.md) plus `fee_rate`; what it leaves
  out comes from the caller's `base` (the CLI: the settings file, `.env` and `BALLAST_*`
  variables).
- `now` (with a timezone) is the clock for min_hold and rebuy_cooldown. Without it, the
  caller's clock is used: the CLI passes the moment it runs.
- `cash_assets` (optional, Ballast's default list) says which assets count as cash.
- Asset names are upper-cased. Unknown fields are refused.

Every problem raises `WhatIfError` naming the field path, e.g.
`balances.BTC.free: Input should be a valid decimal`; no partial result is ever returned.
The backtest's `--input` and paper mode's starting balances read the same document through
`read_portfolio_document`, whose `SettingsError`s also say what was written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from core.config.rules import PolicySettings
from core.config.settings import DEFAULT_CASH_ASSETS, SettingsError, validate_policy_overrides
from core.domain.models import (
    AssetSignal,
    Balance,
    MarketRules,
    Plan,
    PositionFacts,
    Price,
    SignalKind,
)
from core.domain.valuation import value_portfolio
from core.policy import PlanInput

NonNegative = Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]
Positive = Annotated[Decimal, Field(gt=0, allow_inf_nan=False)]
Asset = Annotated[str, Field(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9]+$")]

DEFAULT_SCORES = {
    SignalKind.STRONG_BUY: 1.0,
    SignalKind.BUY: 0.5,
    SignalKind.HOLD: 0.0,
    SignalKind.SELL: -0.5,
}


class WhatIfError(ValueError):
    """The what-if input is invalid; the message names the offending field path."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BalanceIn(_Model):
    """One asset's balance."""

    free: NonNegative
    locked: NonNegative = Decimal(0)


class SignalIn(_Model):
    """One asset's signal; a bare string stands for `{"signal": ...}`."""

    signal: SignalKind
    score: float | None = Field(None, ge=-1, le=1, allow_inf_nan=False)
    downtrend: bool = False

    @model_validator(mode="before")
    @classmethod
    def _bare_signal(cls, value: Any) -> Any:
        return {"signal": value} if isinstance(value, str) else value


class PositionIn(_Model):
    """What Ballast knows about a holding: cost basis and its own last buy and sell."""

    cost_basis: Positive | None = None
    last_buy: AwareDatetime | None = None
    last_sell: AwareDatetime | None = None


class MarketIn(_Model):
    """An asset's market rules against the quote."""

    min_notional: NonNegative = Decimal(0)
    amount_step: Positive | None = None
    min_amount: NonNegative = Decimal(0)
    price_tick: Positive | None = None


def _upper_keys(value: Any) -> Any:
    """Upper-case asset keys, refusing two spellings of one asset."""
    if not isinstance(value, Mapping):
        return value
    result: dict[Any, Any] = {}
    for key, item in value.items():
        upper = key.upper() if isinstance(key, str) else key
        if upper in result:
            raise ValueError(f"{key!r} appears twice (asset names are not case-sensitive)")
        result[upper] = item
    return result


Prices = dict[Annotated[str, Field(pattern=r"^[A-Za-z0-9]+(/[A-Za-z0-9]+)?$")], NonNegative]


class PortfolioDocument(_Model):
    """The what-if JSON document of docs/formats.md, `prices` optional.

    One model for every reader of the format: `ballast plan` (`WhatIfInput`), the backtest's
    and study's `--input` and paper mode's starting balances (`read_portfolio_document`).
    """

    quote: Asset = "USDT"
    cash_assets: tuple[Asset, ...] = DEFAULT_CASH_ASSETS
    balances: dict[Asset, BalanceIn]
    prices: Prices = {}
    signals: dict[Asset, SignalIn] = {}
    positions: dict[Asset, PositionIn] = {}
    markets: dict[Asset, MarketIn] = {}
    watchlist: tuple[Asset, ...] = ()
    settings: dict[str, Any] = {}
    now: AwareDatetime | None = None

    @field_validator("balances", "prices", "signals", "positions", "markets", mode="before")
    @classmethod
    def _upper_asset_keys(cls, value: Any) -> Any:
        return _upper_keys(value)

    @field_validator("quote", mode="after")
    @classmethod
    def _upper_quote(cls, value: str) -> str:
        return value.upper()

    @field_validator("cash_assets", "watchlist", mode="after")
    @classmethod
    def _upper_list(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(a.upper() for a in value))

    def account(self) -> dict[str, Balance]:
        """The balances as the domain's `Balance`s."""
        return {asset: Balance(b.free, b.locked) for asset, b in self.balances.items()}


class WhatIfInput(PortfolioDocument):
    """The what-if document as `ballast plan` reads it: the prices are required."""

    prices: Prices


@dataclass(frozen=True)
class WhatIf:
    """A validated what-if: the policy's input and settings."""

    plan_input: PlanInput
    settings: PolicySettings


def parse_whatif(text: str | bytes) -> WhatIfInput:
    """Parse and validate a what-if JSON document (decimals are read exactly, never as floats)."""
    try:
        data = json.loads(text, parse_float=Decimal)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise WhatIfError(f"input is not valid JSON: {error}") from None
    try:
        return WhatIfInput.model_validate(data)
    except ValidationError as error:
        raise WhatIfError(_describe(error)) from None


def read_json_file(path: Path, where: str) -> Any:
    """The JSON document in the file at `path`, for the readers of the what-if format.

    A missing file, or one that is not JSON, is a `SettingsError` starting with `where`.
    """
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(f"{where} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SettingsError(f"{where} is not valid JSON: {error}") from None


def read_portfolio_document(data: Any, where: str) -> PortfolioDocument:
    """Validate a parsed what-if document (the backtest's `--input`, paper balances).

    Raises `SettingsError` starting with `where`, naming each bad field and what was written
    there, e.g. `balances.BTC.free = 'lots': must be a number or a decimal string`.
    """
    try:
        return PortfolioDocument.model_validate(data)
    except ValidationError as error:
        raise SettingsError(f"{where}: {_describe_written(error)}") from None


def build_whatif(
    doc: WhatIfInput, *, default_now: datetime, base: PolicySettings | None = None
) -> WhatIf:
    """Turn a validated document into the policy's input: a valued portfolio and the rest.

    `default_now` is the clock when the document has no `now`; `base` the policy settings the
    document's `settings` override (the loaded settings file and environment; else defaults).
    """
    try:
        settings = validate_policy_overrides(doc.settings, base)
    except SettingsError as error:
        raise WhatIfError(f"settings.{error}") from None
    now = doc.now or default_now
    quote = doc.quote
    cash_assets = tuple(dict.fromkeys((quote, *doc.cash_assets)))
    prices: dict[str, Price] = {}
    for key, last in doc.prices.items():
        asset, _, against = key.partition("/")
        price = Price(asset, against or quote, last)
        prices[price.symbol] = price
    signals = {
        asset: AssetSignal(
            asset,
            sig.signal,
            DEFAULT_SCORES[sig.signal] if sig.score is None else sig.score,
            downtrend=sig.downtrend,
        )
        for asset, sig in doc.signals.items()
    }
    watchlist = tuple(dict.fromkeys((*doc.watchlist, *signals)))
    markets = {
        asset: MarketRules(m.min_notional, m.amount_step, m.min_amount, m.price_tick)
        for asset, m in doc.markets.items()
    }
    default_market = MarketRules(min_notional=settings.min_trade_value)
    for asset in (*doc.balances, *watchlist):
        if asset not in cash_assets:
            markets.setdefault(asset, default_market)
    portfolio = value_portfolio(
        doc.account(),
        prices,
        quote=quote,
        cash_assets=cash_assets,
        markets=markets,
        now=now,
        max_price_age=timedelta.max,  # what-if prices carry no time: none is stale
        watchlist=watchlist,
    )
    positions = {
        asset: PositionFacts(p.cost_basis, p.last_buy, p.last_sell)
        for asset, p in doc.positions.items()
    }
    return WhatIf(PlanInput(portfolio, signals, positions, markets, watchlist, now), settings)


def load_whatif(
    text: str | bytes, *, default_now: datetime, base: PolicySettings | None = None
) -> WhatIf:
    """Parse, validate and build a what-if document in one go (raises `WhatIfError`)."""
    return build_whatif(parse_whatif(text), default_now=default_now, base=base)


def plan_output(plan: Plan) -> dict[str, Any]:
    """The plan as JSON output (docs/formats.md): money to the cent, allocations to 4 decimals."""
    total = plan.total_value
    return {
        "total_value": _money(total),
        "cash": {
            "value": _money(plan.cash_before),
            "allocation": _fraction(plan.cash_before / total if total else Decimal(0)),
        },
        "before": {asset: _fraction(share) for asset, share in plan.before.items()},
        "after": {asset: _fraction(share) for asset, share in plan.after.items()},
        "trades": [
            {
                "side": trade.side.value,
                "asset": trade.asset,
                "amount": float(trade.amount),
                "value": _money(trade.value),
                "fee": _money(trade.fee),
                "reasons": [reason.value for reason in trade.reasons],
            }
            for trade in plan.trades
        ],
        "skipped": [
            {"asset": skip.asset, "side": skip.side.value, "reason": skip.reason.value}
            for skip in plan.skipped
        ],
    }


def _money(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _fraction(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))


def _describe(error: ValidationError) -> str:
    """Pydantic's errors as `field.path: message` lines (input values are not echoed)."""
    lines = []
    for item in error.errors():
        path = ".".join(str(part) for part in item["loc"]) or "input"
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"{path}: {message}")
    return "; ".join(lines)


# Pydantic's wording for amounts, in the words of the files' other messages.
_AMOUNT_RULES = {
    "decimal_parsing": "must be a number or a decimal string",
    "decimal_type": "must be a number or a decimal string",
    "finite_number": "must be a finite number",
    "greater_than_equal": "must be a finite number ≥ {ge}",
    "greater_than": "must be a finite number > {gt}",
    "less_than_equal": "must be a finite number ≤ {le}",
}


def _describe_written(error: ValidationError) -> str:
    """Pydantic's errors as `field.path = what was written: the rule`, one after another."""
    lines = []
    for item in error.errors():
        path = ".".join(str(part) for part in item["loc"]) or "the document"
        kind = item["type"]
        if kind in ("dict_type", "model_type"):
            lines.append(f"{path} must be an object, got {_written(item['input'])}")
        elif kind == "extra_forbidden":
            lines.append(f"{path} is not a field of the what-if format (docs/formats.md)")
        elif kind == "missing":
            lines.append(f"{path} is required")
        else:
            rule = _AMOUNT_RULES.get(kind)
            message = rule.format(**item.get("ctx", {})) if rule else item["msg"]
            lines.append(f"{path} = {_written(item['input'])}: "
                         f"{message.removeprefix('Value error, ')}")
    return "; ".join(lines)


def _written(value: Any) -> str:
    """A value as the owner wrote it, cut short if long."""
    text = str(value) if isinstance(value, Decimal) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
