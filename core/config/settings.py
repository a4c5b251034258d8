"""Settings: deployment and secrets over the rules' settings (docs/settings.md).

`Settings` adds the market, approvals, money safety, alerts, logs, backups, the exchange and
Telegram to the policy table and signal parameters of `core.config.rules`.

Every command loads them the same way (`load_settings`), with pydantic-settings' own sources:
a TOML file (`BALLAST_SETTINGS`), then `.env`, then `BALLAST_<SETTING>` variables (later wins).
Every relationship between settings is validated, and a broken one stops start-up with a
`SettingsError` whose message names the setting as it was written (`BALLAST_MIN_CASH`, or the
key and its file), the value and the rule.
"""

from __future__ import annotations

import difflib
import tomllib
import warnings
from collections.abc import Iterable, Mapping
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings import SettingsError as PydanticSettingsError

from core.config.presets import PRESET_GOVERNED
from core.config.rules import (
    Fraction,
    PolicySettings,
    SignalSettings,
    asset_symbols,
    split_list,
)
from core.config.sources import (
    DotEnvSource,
    EnvSource,
    Origin,
    SettingsWarning,
    TomlSource,
    format_validation_error,
)


class AlertLevel(StrEnum):
    """How an alert reaches the owner."""

    LOUD = "loud"  # a message that rings
    SILENT = "silent"  # a message without a sound (disable_notification)
    SUMMARY = "summary"  # no message: told in the daily summary
    OFF = "off"  # not told


DEFAULT_CASH_ASSETS = ("USDT", "USDC", "FDUSD", "USD", "DAI", "TUSD")
DEFAULT_WATCHLIST = ("BTC", "ETH", "SOL", "AVAX", "BNB", "XRP", "ADA", "LINK")


# Settings whose values no message ever shows.
SECRETS = ("exchange_api_key", "exchange_api_secret", "telegram_token")


class SettingsError(ValueError):
    """A setting is invalid; the message names the setting, its value and the rule broken."""


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
    reject_snooze: int = Field(
        86400, gt=0, description="seconds a rejected trade stays out of plans unless something "
        "material changes (its price, its or cash's band, its signal)")
    snooze_price_move: Fraction = Field(
        Decimal("0.05"), gt=0, lt=1, description="a rejected trade's price moving more than this "
        "fraction ends its snooze")
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
    max_price_jump: Fraction = Field(
        Decimal("0.3"), gt=0, lt=10,
        description="a price further than this fraction from the median of its recent accepted "
        "prices holds planning until it is back, or holds still for an hour")
    peg_band: Fraction = Field(
        Decimal("0.03"), gt=0, lt=Decimal("0.5"),
        description="a cash asset priced further than this from 1 quote unit is off its peg: "
        "planning waits until it is back")
    max_balance_change: Fraction = Field(
        Decimal("0.02"), gt=0, lt=10,
        description="a balance that moved, beyond Ballast's own fills, by more than this "
        "fraction of the value holds planning until the owner confirms it")
    immaterial_share: Fraction = Field(
        Decimal("0.005"), ge=0, lt=1,
        description="an unpriced holding last worth less than this fraction of the value (or "
        "than min_trade_value) is reported and left out, never holding planning")
    delisted_after: int = Field(
        86400, gt=0, description="seconds a holding with no market on the exchange holds "
        "planning before it is left out")
    lock_dir: Path | None = Field(
        None, description="directory of the lock files that keep two Ballasts off one "
        "database or exchange account (default: ~/.local/state/ballast of the user Ballast "
        "runs as, whatever the environment says; leave it unset: Ballasts with different "
        "values do not see each other's locks)")
    # Telegram alerts, a level per kind (core.ops.alert_levels): loud, silent, summary (only in
    # the daily summary) or off; `true` means the kind's default, `false` off (the old switches).
    alert_plans: AlertLevel = AlertLevel.LOUD
    alert_trades: AlertLevel = AlertLevel.LOUD
    alert_failures: AlertLevel = AlertLevel.LOUD
    alert_safety: AlertLevel = AlertLevel.LOUD
    alert_signals: AlertLevel = AlertLevel.SUMMARY
    alert_cash: AlertLevel = AlertLevel.SILENT
    alert_exchange: AlertLevel = AlertLevel.SILENT

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
    candles_dir: Path | None = Field(
        None, description="directory of candle files that `ballast candles download` fills and "
        "backtest, study and signals read without --candles (default: "
        "$XDG_DATA_HOME/ballast/candles, else ~/.local/share/ballast/candles)")
    paper_portfolio: str | None = None
    settings: Path | None = Field(None, description="the TOML settings file that was read")

    @field_validator("alert_plans", "alert_trades", "alert_failures", "alert_safety",
                     "alert_signals", "alert_cash", "alert_exchange", mode="before")
    @classmethod
    def _alert_switch(cls, value: Any, info: ValidationInfo) -> Any:
        # The old on/off switches keep working: on is the kind's default level.
        word = str(value).strip().lower() if isinstance(value, str | bool) else value
        if word in (True, "true", "on", "yes", "1"):
            default = cls.model_fields[str(info.field_name)].default
            return default
        if word in (False, "false", "no", "0"):
            return AlertLevel.OFF
        return word

    @field_validator("alert_plans")
    @classmethod
    def _plans_reach_the_owner(cls, value: AlertLevel) -> AlertLevel:
        if value in (AlertLevel.SUMMARY, AlertLevel.OFF):
            raise ValueError("a plan carries the Approve button, so it is sent: loud or silent")
        return value

    @field_validator("cash_assets", "watchlist", mode="before")
    @classmethod
    def _split_asset_lists(cls, value: Any) -> Any:
        return split_list(value)

    @field_validator("quote", "cash_assets", "watchlist")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        if isinstance(value, str):
            return value.strip().upper()
        return asset_symbols(value)

    @field_validator("log_file", "backup_dir", "daily_summary_hour", "lock_dir", "candles_dir",
                     mode="before")
    @classmethod
    def _empty_is_off(cls, value: Any) -> Any:
        # `BALLAST_LOG_FILE=` in an env file means "none", not the current directory.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("exchange_api_key", "exchange_api_secret", mode="before")
    @classmethod
    def _no_whitespace_in_keys(cls, value: Any) -> Any:
        # A key pasted with a trailing space or line break may still authenticate (exchanges
        # trim it) but names another account lock: refused, never silently trimmed.
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(text, str) and any(char.isspace() for char in text):
            where = "at its start or end" if text != text.strip() else "inside"
            raise ValueError(f"contains a space, tab or line break {where}; exchange keys "
                             "and secrets have none: remove it")
        return value

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
        raise SettingsError(format_validation_error(error, origins, SECRETS)) from None


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


def switch_preset(settings: Settings, preset: str, keep: Iterable[str] = ()) -> tuple[
    Settings, dict[str, Any]
]:
    """`settings` under another preset, as if it had been chosen at start: the new preset's
    values replace every value a preset sets (`PRESET_GOVERNED`), except the settings named in
    `keep` (set beside it: in the file, the environment or the chat), which stay on top.

    Returns the result and the kept settings whose values differ from the preset's own, by name.
    Raises SettingsError naming the preset when it is unknown or a kept value no longer fits.
    """
    kept = set(keep) - {"preset"}
    values = {name: getattr(settings, name) for name in Settings.model_fields
              if name not in PRESET_GOVERNED or name in kept}
    values["preset"] = preset
    try:
        switched = Settings.model_validate(values)
        pure = Settings.model_validate(
            {name: value for name, value in values.items()
             if name not in kept or name not in PRESET_GOVERNED})
    except ValidationError as error:
        raise SettingsError(format_validation_error(error)) from None
    on_top = {name: getattr(switched, name) for name in sorted(kept & PRESET_GOVERNED)
              if getattr(switched, name) != getattr(pure, name)}
    return switched, on_top
