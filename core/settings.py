"""Settings: the policy table of SPEC §3, signal parameters, and deployment/secrets (SPEC §10).

Policy and signal settings come from a TOML file (`BALLAST_SETTINGS`) and `BALLAST_<SETTING>`
variables; secrets and deployment only from the environment or `.env`. Every relationship
between settings is validated, and a broken one stops start-up with a `SettingsError` whose
message names the setting, the value and the rule.
"""

from __future__ import annotations

import os
import re
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from core.presets import PresetName, apply_preset

Fraction = Decimal
DEFAULT_CASH_ASSETS = ("USDT", "USDC", "FDUSD", "USD", "DAI", "TUSD")
DEFAULT_WATCHLIST = ("BTC", "ETH", "SOL", "AVAX", "BNB", "XRP", "ADA", "LINK")


class SettingsError(ValueError):
    """A setting is invalid; the message names the setting, its value and the rule broken."""


class PolicySettings(BaseModel):
    """The rebalancing policy's settings (SPEC §3) with the seed's defaults."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    preset: PresetName = "default"
    min_cash: Fraction = Field(Decimal("0.20"), ge=0, lt=1)
    target_cash: Fraction = Field(Decimal("0.25"), ge=0, lt=1)
    max_cash: Fraction = Field(Decimal("0.40"), ge=0, lt=1)
    cash_floor: Fraction = Field(Decimal("0.15"), ge=0, lt=1)
    buy_cash_threshold: Fraction = Field(Decimal("0.30"), ge=0, lt=1)
    min_position: Fraction = Field(Decimal("0.05"), gt=0, le=1)
    max_position: Fraction = Field(Decimal("0.30"), gt=0, le=1)
    max_trades_per_cycle: int = Field(3, ge=1)
    min_hold: int = Field(300, ge=0, description="seconds")
    rebuy_cooldown: int = Field(3600, ge=0, description="seconds")
    signal_sell_max_loss: Fraction | None = Field(Decimal("0.10"), gt=0, lt=1)
    stop_loss: Fraction | None = Field(None, gt=0, lt=1)
    min_trade_value: Decimal = Field(Decimal("10"), ge=0)
    scan_interval: int = Field(30, gt=0, description="seconds")
    rebalance_interval: int = Field(300, gt=0, description="seconds")
    sell_on_signal: bool = True
    maintain_reserve: bool = True
    fee_rate: Fraction = Field(Decimal("0.001"), ge=0, lt=Decimal("0.1"))
    never_sell: tuple[str, ...] = ()
    # Decision mechanisms (SPEC §11; docs/rules.md). Each default keeps the seed's behaviour.
    sizing: Literal["all_or_nothing", "conviction"] = "all_or_nothing"
    plan_on: Literal["interval", "candle_close"] = "interval"
    trim_band: Fraction = Field(Decimal("0"), ge=0, lt=1)
    cash_band: Fraction = Field(Decimal("0"), ge=0, lt=1)
    cost_multiple: Decimal = Field(Decimal("0"), ge=0, le=1000)
    turnover_budget: Fraction | None = Field(None, gt=0, le=100, description="fraction of V")
    turnover_period: int = Field(30 * 86400, gt=0, description="seconds")
    keep_small_holdings: bool = False

    @model_validator(mode="before")
    @classmethod
    def _policy_preset(cls, data: Any) -> Any:
        return apply_preset(data, cls.model_fields)

    @field_validator("signal_sell_max_loss", "stop_loss", "turnover_budget", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        # `BALLAST_STOP_LOSS=` (as .env.example shows it) means "off".
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("never_sell", mode="before")
    @classmethod
    def _split_assets(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("never_sell")
    @classmethod
    def _upper_assets(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return asset_symbols(value)

    @model_validator(mode="after")
    def _check_relationships(self) -> Self:
        def require(ok: bool, name: str, rule: str) -> None:
            if not ok:
                raise ValueError(f"{name} = {getattr(self, name)}: {rule}")

        require(self.cash_floor <= self.min_cash, "cash_floor",
                f"must be ≤ min_cash ({self.min_cash})")
        require(self.min_cash <= self.target_cash, "min_cash",
                f"must be ≤ target_cash ({self.target_cash})")
        require(self.target_cash <= self.max_cash, "target_cash",
                f"must be ≤ max_cash ({self.max_cash})")
        require(self.min_cash <= self.buy_cash_threshold, "buy_cash_threshold",
                f"must be ≥ min_cash ({self.min_cash})")
        require(self.buy_cash_threshold <= self.max_cash, "buy_cash_threshold",
                f"must be ≤ max_cash ({self.max_cash})")
        require(self.min_position < self.max_position, "min_position",
                f"must be < max_position ({self.max_position})")
        require(self.max_position + self.trim_band <= 1, "trim_band",
                f"max_position ({self.max_position}) + trim_band must be ≤ 1")
        require(self.cash_band <= self.min_cash, "cash_band",
                f"must be ≤ min_cash ({self.min_cash})")
        return self


class SignalSettings(BaseModel):
    """Signal settings (SPEC §2): timeframe, combination rule and strategy parameters."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    preset: PresetName = "default"
    timeframe: Literal["1m", "5m", "15m", "30m", "1h", "4h", "1d"] = "1h"
    sell_rule: Literal["any", "majority", "all", "score"] = "any"
    # sell_rule = score: hysteresis on the score (core.signals.combine); ignored otherwise.
    sell_enter_score: float = Field(0.5, gt=0, le=1)
    sell_exit_score: float = Field(0.0, ge=0, le=1)
    buy_enter_score: float = Field(0.5, gt=0, le=1)
    buy_exit_score: float = Field(0.0, ge=0, le=1)
    strong_buy_score: float = Field(1.0, gt=0, le=1)
    confirm_candles: int = Field(1, ge=1)
    strategies: tuple[str, ...] = ("rsi", "macd", "ema", "bollinger")
    rsi_period: int = Field(14, ge=2)
    rsi_overbought: float = Field(70.0, gt=0, lt=100)
    rsi_oversold: float = Field(30.0, gt=0, lt=100)
    macd_fast: int = Field(12, ge=1)
    macd_slow: int = Field(26, ge=2)
    macd_signal: int = Field(9, ge=1)
    ema_fast: int = Field(20, ge=1)
    ema_slow: int = Field(50, ge=2)
    bb_period: int = Field(20, ge=2)
    bb_std: float = Field(2.0, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _signal_preset(cls, data: Any) -> Any:
        return apply_preset(data, cls.model_fields)

    @field_validator("strategies", mode="before")
    @classmethod
    def _split_strategies(cls, value: Any) -> Any:
        return _split_list(value)

    @model_validator(mode="after")
    def _check_signal_relationships(self) -> Self:
        if self.rsi_oversold >= self.rsi_overbought:
            raise ValueError(
                f"rsi_oversold = {self.rsi_oversold}: must be < rsi_overbought "
                f"({self.rsi_overbought})"
            )
        if self.macd_fast >= self.macd_slow:
            raise ValueError(
                f"macd_fast = {self.macd_fast}: must be < macd_slow ({self.macd_slow})"
            )
        if self.ema_fast >= self.ema_slow:
            raise ValueError(f"ema_fast = {self.ema_fast}: must be < ema_slow ({self.ema_slow})")
        for side in ("sell", "buy"):
            enter, leave = getattr(self, f"{side}_enter_score"), getattr(self, f"{side}_exit_score")
            if leave > enter:
                raise ValueError(f"{side}_exit_score = {leave}: must be ≤ {side}_enter_score "
                                 f"({enter}); the signal is left nearer zero than it is entered")
        if self.sell_rule == "score" and self.strong_buy_score < self.buy_enter_score:
            raise ValueError(f"strong_buy_score = {self.strong_buy_score}: must be ≥ "
                             f"buy_enter_score ({self.buy_enter_score}) with sell_rule = score")
        return self


class Settings(PolicySettings, SignalSettings, BaseSettings):
    """Everything Ballast is configured with: policy, signals, market, deployment and secrets."""

    model_config = SettingsConfigDict(
        extra="ignore",
        frozen=True,
        validate_default=True,
    )

    quote: str = "USDT"
    cash_assets: tuple[str, ...] = DEFAULT_CASH_ASSETS
    watchlist: tuple[str, ...] = DEFAULT_WATCHLIST
    max_price_age: int = Field(120, gt=0, description="seconds")
    approval_ttl: int = Field(600, gt=0, description="seconds")
    max_price_drift: Fraction = Field(Decimal("0.02"), gt=0, lt=1)
    approval: Literal["manual", "auto"] = "manual"
    allow_live_auto: bool = False
    paper_slippage: Fraction = Field(Decimal("0"), ge=0, lt=Decimal("0.1"))
    # Telegram push alerts, per family (plan messages with their buttons are always sent).
    alert_signals: bool = True
    alert_trades: bool = True
    alert_cash: bool = True
    alert_exchange: bool = True

    # Running it for real: logs, database backups, the daily summary, outage alerts.
    log_file: Path | None = Path("ballast.log")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_max_bytes: int = Field(5_000_000, ge=10_000, description="bytes before the log rotates")
    log_backups: int = Field(5, ge=0, description="rotated log files kept")
    backup_dir: Path | None = Path("backups")
    backup_keep_days: int = Field(7, ge=0, description="days; 0: no automatic backups")
    timezone: str = "UTC"
    daily_summary_hour: int | None = Field(8, ge=0, le=23, description="hour in `timezone`")
    scan_failure_alert_after: int = Field(900, gt=0, description="seconds")

    mode: Literal["paper", "live"] = "paper"
    exchange: str = "binance"
    exchange_api_key: SecretStr | None = None
    exchange_api_secret: SecretStr | None = None
    exchange_api_url: str | None = None
    telegram_token: SecretStr | None = None
    telegram_owner_id: int | None = None
    telegram_api_url: str | None = None
    db: Path = Path("ballast.db")
    paper_portfolio: str | None = None
    settings: Path | None = Field(None, description="the TOML settings file that was read")

    @field_validator("cash_assets", "watchlist", mode="before")
    @classmethod
    def _split_asset_lists(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("quote", "cash_assets", "watchlist")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        if isinstance(value, str):
            return value.strip().upper()
        return asset_symbols(value)

    @field_validator("log_file", "backup_dir", "daily_summary_hour", mode="before")
    @classmethod
    def _empty_is_off(cls, value: Any) -> Any:
        # `BALLAST_LOG_FILE=` in an env file means "none", not the current directory.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("not a known time zone (use an IANA name such as "
                             "Europe/Berlin or UTC)") from None
        return value

    @model_validator(mode="after")
    def _check_deployment(self) -> Self:
        if self.quote not in self.cash_assets:
            raise ValueError(f"quote = {self.quote}: must be one of cash_assets {self.cash_assets}")
        return self

    @property
    def policy(self) -> PolicySettings:
        """The policy part alone, as the pure policy takes it."""
        return PolicySettings.model_validate(
            {name: getattr(self, name) for name in PolicySettings.model_fields}
        )

    @property
    def signal(self) -> SignalSettings:
        """The signal part alone."""
        return SignalSettings.model_validate(
            {name: getattr(self, name) for name in SignalSettings.model_fields}
        )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # load_settings merges the TOML file, .env and the environment itself, so that a test
        # can pass its own environment; the model reads nothing on its own.
        return (init_settings,)


# Exchange asset codes: letters and digits (1INCH, 1000SATS, T). Anything else is a typo or a
# pair or a name, and a typo in never_sell would silently protect nothing.
_ASSET_SYMBOL = re.compile(r"[A-Z0-9]{1,20}")


def asset_symbols(values: tuple[str, ...]) -> tuple[str, ...]:
    """`values` as upper-case asset symbols; raises ValueError quoting the first that is none."""
    symbols = []
    for raw in values:
        symbol = raw.strip().upper()
        if not symbol:
            continue
        if not _ASSET_SYMBOL.fullmatch(symbol):
            hint = ("give the asset, not the pair (BTC, not BTC/USDT)" if "/" in symbol
                    else "an asset symbol is letters and digits, e.g. BTC; separate several "
                    "with commas")
            raise ValueError(f"{raw.strip()!r} is not an asset symbol: {hint}")
        symbols.append(symbol)
    return tuple(symbols)


def _split_list(value: Any) -> Any:
    """Accept comma-separated strings (handy in environment variables) as lists."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return value  # JSON list: pydantic-settings already decodes these
        return tuple(part for part in (p.strip() for p in text.split(",")) if part)
    return value


def format_validation_error(error: ValidationError) -> str:
    """Turn pydantic's report into lines that name the setting, the value and the rule."""
    lines = []
    for item in error.errors():
        loc = ".".join(str(part) for part in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        if loc:
            lines.append(f"{loc} = {item.get('input')!r}: {message}")
        else:
            lines.append(message)
    return "; ".join(lines)


def load_settings(
    settings_file: Path | str | None = None,
    env: dict[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Load settings: the TOML file, then `.env`, then the environment (later wins), validated.

    `settings_file` defaults to `BALLAST_SETTINGS`; `env` replaces `os.environ` (for tests).
    Raises `SettingsError` naming the setting, value and rule on any invalid value.
    """
    if env is None:
        dotenv = {k: v for k, v in dotenv_values(".env").items() if v is not None}
        environ = {**dotenv, **os.environ}
    else:
        environ = dict(env)
    path = settings_file or environ.get("BALLAST_SETTINGS")
    file_values: dict[str, Any] = {}
    if path:
        file_values = read_settings_file(Path(path))
    env_values = {
        key.removeprefix("BALLAST_").lower(): value
        for key, value in environ.items()
        if key.startswith("BALLAST_") and key != "BALLAST_SETTINGS"
    }
    known = set(Settings.model_fields)
    unknown = sorted(set(file_values) - known)
    if unknown:
        raise SettingsError(f"{unknown[0]}: unknown setting in {path}")
    merged: dict[str, Any] = {**file_values, **env_values, **overrides}
    merged = {key: value for key, value in merged.items() if key in known}
    if path:
        merged["settings"] = Path(path)
    try:
        return Settings(**merged)
    except ValidationError as error:
        raise SettingsError(format_validation_error(error)) from None


def read_settings_file(path: Path) -> dict[str, Any]:
    """Read a TOML settings file; a `[policy]`/`[signals]` table is flattened into the top level."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(f"settings file {path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"settings file {path} is not valid TOML: {error}") from None
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(value)
        else:
            flat[key] = value
    return flat


def validate_policy_overrides(values: dict[str, Any], base: PolicySettings | None = None) -> (
    PolicySettings
):
    """Apply overrides to policy settings (e.g. a what-if file's `settings`), validated.

    A `preset` among the overrides starts afresh from that preset (not from `base`).
    """
    start = {} if "preset" in values else (base or PolicySettings()).model_dump()
    merged = {**start, **values}
    try:
        return PolicySettings.model_validate(merged)
    except ValidationError as error:
        raise SettingsError(format_validation_error(error)) from None
