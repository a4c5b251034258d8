"""Named presets: a whole set of setting values chosen with one setting, `preset` (docs/rules.md).

A preset is resolved when settings load: its values first, then every setting given beside it
(in the same TOML file, a `BALLAST_*` variable, a plan input's `settings`, or a keyword)
overrides them.

- `default`: the model's own defaults (what the evidence in docs/decisions.md chose).
- `seed-literal`: the seed document's rules taken literally — any one SELL vote sells the whole
  holding, STRONG_BUY only when every strategy votes BUY, a plan every 5 minutes, no bands, no
  cost test, no turnover budget. Kept so the seed can be replayed and compared; it churns
  (docs/decisions.md: −89% over 2021–2024 on hourly candles where holding made +421%). Its
  values are pinned here, so they stay the seed's whatever the defaults become.

`fee_rate`, `never_sell`, the quote and the lists of assets are facts about the owner's account,
not rules, so no preset sets them.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Literal

PresetName = Literal["default", "seed-literal"]

SEED_LITERAL: Mapping[str, Any] = {
    # The policy table of docs/rules.md.
    "min_cash": Decimal("0.20"),
    "target_cash": Decimal("0.25"),
    "max_cash": Decimal("0.40"),
    "cash_floor": Decimal("0.15"),
    "buy_cash_threshold": Decimal("0.30"),
    "min_position": Decimal("0.05"),
    "max_position": Decimal("0.30"),
    "max_trades_per_cycle": 3,
    "min_hold": 300,
    "rebuy_cooldown": 3600,
    "signal_sell_max_loss": Decimal("0.10"),
    "stop_loss": None,
    "min_trade_value": Decimal("10"),
    "scan_interval": 30,
    "rebalance_interval": 300,
    "sell_on_signal": True,
    "maintain_reserve": True,
    # The decision mechanisms of docs/rules.md, all off: the seed has none of them.
    "sizing": "all_or_nothing",
    "plan_on": "interval",
    "trim_band": Decimal("0"),
    "cash_band": Decimal("0"),
    "cost_multiple": Decimal("0"),
    "turnover_budget": None,
    "keep_small_holdings": False,
    "buy_in_downtrend": True,
    # The signals of docs/rules.md, as the seed names them.
    "timeframe": "1h",
    "sell_rule": "any",
    "strong_buy_score": 1.0,
    "confirm_candles": 1,
    "strategies": ("rsi", "macd", "ema", "bollinger"),
    "rsi_period": 14,
    "rsi_overbought": 70.0,
    "rsi_oversold": 30.0,
    "macd_fast": 12,
    "macd_slow": 26,
    "macd_signal": 9,
    "ema_fast": 20,
    "ema_slow": 50,
    "bb_period": 20,
    "bb_std": 2.0,
}

PRESETS: Mapping[str, Mapping[str, Any]] = {
    "default": {},
    "seed-literal": SEED_LITERAL,
}


# Every setting some preset sets: switching presets replaces all of them.
PRESET_GOVERNED: frozenset[str] = frozenset(name for values in PRESETS.values() for name in values)


def apply_preset(data: Any, fields: Mapping[str, Any]) -> Any:
    """`data` (a model's raw input) with its preset's values added for the `fields` not given.

    Anything but a mapping, or an unknown preset name, is returned as it is: the model's own
    validation then reports it, naming the setting.
    """
    if not isinstance(data, Mapping):
        return data
    values = PRESETS.get(str(data.get("preset", "default")), {})
    missing = {key: value for key, value in values.items() if key in fields and key not in data}
    return {**missing, **data} if missing else data
