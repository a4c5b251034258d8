"""The rules' settings: the policy table and the signal parameters (docs/rules.md).

Each is a frozen model validated as a whole, so a broken relationship (cash floor above the
minimum cash, a fast average slower than its slow one) is refused wherever the rules are built:
inside `core.config.settings.Settings` at start-up, or on their own (a what-if file's policy).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Literal, Self, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core.config.presets import PresetName, apply_preset

Fraction = Decimal
# Shortest first: a strategy may read a timeframe as long as the signal's or longer.
Timeframe = Literal["1m", "5m", "15m", "30m", "1h", "4h", "1d"]
TIMEFRAMES: tuple[str, ...] = get_args(Timeframe)


class PolicySettings(BaseModel):
    """The rebalancing policy's settings (docs/rules.md); defaults chosen in docs/decisions.md."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    preset: PresetName = "default"
    min_cash: Fraction = Field(Decimal("0.25"), ge=0, lt=1)
    target_cash: Fraction = Field(Decimal("0.25"), ge=0, lt=1)
    max_cash: Fraction = Field(Decimal("0.60"), ge=0, lt=1)
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
    # The reserve as the seed means it (docs/rules.md): off, an asset in a downtrend is not
    # bought whatever its signal (skipped as `downtrend`).
    buy_in_downtrend: bool = False

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
        return split_list(value)

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
    timeframe: Timeframe = "1h"
    sell_rule: Literal["any", "majority", "all", "score"] = "score"
    # sell_rule = score: hysteresis on the score (core.signals.combine); ignored otherwise.
    sell_enter_score: float = Field(0.75, gt=0, le=1)
    sell_exit_score: float = Field(0.0, ge=0, le=1)
    buy_enter_score: float = Field(0.5, gt=0, le=1)
    buy_exit_score: float = Field(0.0, ge=0, le=1)
    strong_buy_score: float = Field(1.0, gt=0, le=1)
    confirm_candles: int = Field(1, ge=1)
    strategies: tuple[str, ...] = ("rsi", "macd", "ema", "bollinger", "trend_ma", "trend_score")
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
    # The long-horizon trend family (core.signals.long_trend), read from its own candles.
    trend_timeframe: Timeframe = "1d"
    trend_ma_days: int = Field(100, ge=2)
    trend_band: float = Field(0.02, ge=0, lt=1)
    trend_lookbacks: tuple[int, ...] = (20, 60, 120, 200)
    trend_share: float = Field(0.75, gt=0.5, le=1)

    @model_validator(mode="before")
    @classmethod
    def _signal_preset(cls, data: Any) -> Any:
        return apply_preset(data, cls.model_fields)

    @field_validator("strategies", mode="before")
    @classmethod
    def _split_strategies(cls, value: Any) -> Any:
        return split_list(value)

    @field_validator("trend_lookbacks", mode="before")
    @classmethod
    def _split_lookbacks(cls, value: Any) -> Any:
        return split_list(value)

    @field_validator("trend_lookbacks")
    @classmethod
    def _check_lookbacks(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or min(value) < 1 or len(set(value)) != len(value):
            raise ValueError("give one or more different whole numbers of days, e.g. 20,60,120")
        return value

    @model_validator(mode="after")
    def _check_signal_relationships(self) -> Self:
        if TIMEFRAMES.index(self.trend_timeframe) < TIMEFRAMES.index(self.timeframe):
            raise ValueError(f"trend_timeframe = {self.trend_timeframe}: must be as long as "
                             f"timeframe ({self.timeframe}) or longer")
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


def split_list(value: Any) -> Any:
    """Accept comma-separated strings (handy in environment variables) as lists."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return value  # a JSON list the environment source could not decode: refused as such
        return tuple(part for part in (p.strip() for p in text.split(",")) if part)
    return value
