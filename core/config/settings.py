"""Settings: the policy table, signal parameters, and deployment/secrets (docs/settings.md).

Every command loads them the same way (`load_settings`), with pydantic-settings' own sources:
a TOML file (`BALLAST_SETTINGS`), then `.env`, then `BALLAST_<SETTING>` variables (later wins).
Every relationship between settings is validated, and a broken one stops start-up with a
`SettingsError` whose message names the setting as it was written (`BALLAST_MIN_CASH`, or the
key and its file), the value and the rule.
"""

from __future__ import annotations

import difflib
import re
import tomllib
import warnings
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings import SettingsError as PydanticSettingsError

from core.config.presets import PresetName, apply_preset
from core.config.sources import (
    DotEnvSource,
    EnvSource,
    Origin,
    SettingsWarning,
    TomlSource,
    format_validation_error,
)

Fraction = Decimal
DEFAULT_CASH_ASSETS = ("USDT", "USDC", "FDUSD", "USD", "DAI", "TUSD")
DEFAULT_WATCHLIST = ("BTC", "ETH", "SOL", "AVAX", "BNB", "XRP", "ADA", "LINK")


class SettingsError(ValueError):
    """A setting is invalid; the message names the setting, its value and the rule broken."""


class PolicySettings(BaseModel):
    """The rebalancing policy's settings (docs/rules.md); defaults chosen in docs/decisions.md."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    preset: PresetName = "default"
    min_cash: Fraction = Field(Decimal("0.25"), ge=0, lt=1)
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
    # Decision mechanisms (docs/rules.md), on by default: the study of docs/decisions.md chose
    # them; preset `seed-literal` turns them off.
    sizing: Literal["all_or_nothing", "conviction"] = "conviction"
    plan_on: Literal["interval", "candle_close"] = "candle_close"
    trim_band: Fraction = Field(Decimal("0.05"), ge=0, lt=1)
    cash_band: Fraction = Field(Decimal("0.05"), ge=0, lt=1)
    cost_multiple: Decimal = Field(Decimal("5"), ge=0, le=1000)
    turnover_budget: Fraction | None = Field(Decimal("0.5"), gt=0, le=100,
                                             description="fraction of V")
    turnover_period: int = Field(30 * 86400, gt=0, description="seconds")
    keep_small_holdings: bool = True

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
    """Signal settings (docs/rules.md): timeframe, combination rule and strategy parameters."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    preset: PresetName = "default"
    timeframe: Literal["1m", "5m", "15m", "30m", "1h", "4h", "1d"] = "1h"
    sell_rule: Literal["any", "majority", "all", "score"] = "score"
    # sell_rule = score: hysteresis on the score (core.signals.combine); ignored otherwise.
    sell_enter_score: float = Field(0.75, gt=0, le=1)
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
    # Money safety when the world misbehaves.
    max_slippage: Fraction = Field(
        Decimal("0.01"), gt=0, lt=Decimal("0.5"),
        description="an order's price limit: buys pay at most, sells get at least, the price "
        "seen just before sending ± this fraction; what cannot fill within it is cancelled")
    order_timeout: int = Field(
        120, gt=0, description="seconds an order may stay open or half-filled before Ballast "
        "cancels the rest and ends the plan with what filled")
    max_value_jump: Fraction = Field(
        Decimal("0.15"), gt=0, lt=10,
        description="a scan whose total value moved more than this fraction from the last "
        "scan's, beyond what its prices explain, is not planned from (someone moved funds, or "
        "the exchange answered with missing balances)")
    lock_dir: Path | None = Field(
        None, description="directory of the per-account locks that keep two Ballasts off one "
        "exchange account (default: $XDG_RUNTIME_DIR/ballast or the temp directory)")
    # Telegram push alerts, per family (plan messages with their buttons are always sent).
    alert_signals: bool = True
    alert_trades: bool = True
    alert_cash: bool = True
    alert_exchange: bool = True

    # Running it for real: logs, database backups, the daily summary, outage alerts.
    log_file: Path | None = Field(None, description="a rotating log file; unset: stderr only")
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

    @field_validator("log_file", "backup_dir", "daily_summary_hour", "lock_dir", mode="before")
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
        # load_settings runs pydantic-settings' TOML, dotenv and environment sources itself (so
        # that a test can pass its own environment, and errors name each value's source); the
        # model reads nothing on its own.
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
            return value  # a JSON list the environment source could not decode: refused as such
        return tuple(part for part in (p.strip() for p in text.split(",")) if part)
    return value


def load_settings(
    settings_file: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    *,
    overrides_from: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Load settings: the TOML file, then `.env`, then the environment (later wins), validated.

    The values are read by pydantic-settings' own sources (TOML, dotenv, environment with the
    `BALLAST_` prefix), the same for every command. `settings_file` defaults to
    `BALLAST_SETTINGS`; `env` replaces both `os.environ` and `.env` (for tests); `overrides`
    (the caller's own values) win over everything; `overrides_from` says which of them came from
    a file's `settings` object (key → the file), so that errors name `settings.<key>` there.
    Unknown `BALLAST_*` names warn
    (`SettingsWarning`) with the closest valid name. Raises `SettingsError` naming the setting
    as written, the value and the rule on any invalid value.
    """
    env_sources = [EnvSource(Settings, env, None)]
    if env is None:
        dotenv = Path(".env")
        if dotenv.is_file():
            env_sources.insert(0, DotEnvSource(Settings, dotenv))
    env_values: dict[str, Any] = {}
    origins: dict[str, Origin] = {}
    for source in env_sources:
        try:
            values = source()
        except PydanticSettingsError as error:
            raise SettingsError(f"{source.where or 'environment'}: {error}") from None
        env_values.update(values)
        origins.update(source.origins(values))
        for message in source.unknown():
            warnings.warn(message, SettingsWarning, stacklevel=2)
    path = settings_file or env_values.get("settings")
    file_values: dict[str, Any] = {}
    if path:
        toml = _read_toml(Path(path))
        file_values = toml()
        origins = {**toml.origins(), **origins}
    for key in overrides:
        where = (overrides_from or {}).get(key)
        origins[key] = Origin(f"settings.{key}", where) if where else Origin(key)
    merged: dict[str, Any] = {**file_values, **env_values, **overrides}
    merged = {key: value for key, value in merged.items() if key in Settings.model_fields}
    if path:
        merged["settings"] = Path(path)
    try:
        return Settings(**merged)
    except ValidationError as error:
        raise SettingsError(format_validation_error(error, origins)) from None


def _read_toml(path: Path) -> TomlSource:
    """The TOML source for `path`; a missing file, bad TOML or an unknown key is an error."""
    if not path.is_file():
        raise SettingsError(f"settings file {path} does not exist")
    try:
        toml = TomlSource(Settings, path)
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"settings file {path} is not valid TOML: {error}") from None
    known = list(Settings.model_fields)
    for name, key in sorted(toml.keys.items()):
        if name not in Settings.model_fields:
            message = f"{key}: unknown setting in {path}"
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
            raise SettingsError(message + (f"; did you mean {close[0]}?" if close else ""))
    return toml


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
