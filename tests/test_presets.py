"""`preset` (docs/rules.md): chosen through every settings path, resolved first, overridden
beside it.

`seed-literal` must stay the seed whatever the defaults become, so it is checked against the
seed's own numbers here, not against the model's defaults.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.cli import app
from core.config.presets import SEED_LITERAL
from core.config.rules import PolicySettings, SignalSettings
from core.config.settings import Settings, SettingsError, load_settings, validate_policy_overrides
from core.policy.whatif import WhatIfError, load_whatif
from tests.factories import NOW

# Settings whose defaults the lead may change after the study: set them all away from the seed,
# as new defaults would be, and the preset must still bring the seed back.
NOT_THE_SEED: dict[str, Any] = {
    "sell_rule": "score",
    "strong_buy_score": 0.75,
    "sizing": "conviction",
    "plan_on": "candle_close",
    "trim_band": "0.05",
    "cash_band": "0.05",
    "cost_multiple": "5",
    "turnover_budget": "2",
    "keep_small_holdings": True,
    "timeframe": "1d",
    "min_cash": "0.25",
    "target_cash": "0.3",
    "rebalance_interval": 3600,
}


def seed_values(settings: Settings | PolicySettings | SignalSettings) -> dict[str, object]:
    fields = type(settings).model_fields
    return {key: getattr(settings, key) for key in SEED_LITERAL if key in fields}


def test_seed_literal_is_the_seeds_rule_set() -> None:
    settings = Settings(preset="seed-literal")
    assert settings.sell_rule == "any" and settings.strong_buy_score == 1.0
    assert settings.sizing == "all_or_nothing" and settings.plan_on == "interval"
    assert settings.trim_band == settings.cash_band == settings.cost_multiple == 0
    assert settings.turnover_budget is None and not settings.keep_small_holdings
    # The seed buys on its signals whatever the trend: pinned, whatever the default becomes.
    assert Settings(preset="seed-literal", buy_in_downtrend=False).buy_in_downtrend is False
    assert SEED_LITERAL["buy_in_downtrend"] is True and settings.buy_in_downtrend
    assert (settings.min_cash, settings.max_position, settings.rebalance_interval) == (
        Decimal("0.20"), Decimal("0.30"), 300)
    assert settings.timeframe == "1h"


def test_the_preset_wins_over_defaults_and_loses_to_settings_given_beside_it() -> None:
    """Simulates defaults moved away from the seed: passing the old defaults' opposites as the
    model's input is what a changed default would look like to the preset — except that a
    value given beside the preset must win. So: everything of the preset applies where nothing
    is given, and `min_cash` given beside it stays."""
    settings = Settings(preset="seed-literal", min_cash="0.22")
    assert settings.min_cash == Decimal("0.22")
    expected = {key: value for key, value in SEED_LITERAL.items() if key != "min_cash"}
    assert {k: v for k, v in seed_values(settings).items() if k != "min_cash"} == expected
    assert settings.policy.preset == "seed-literal"
    assert settings.policy.min_cash == Decimal("0.22")  # the policy part keeps what was given
    assert settings.signal.sell_rule == "any"


def test_preset_through_the_environment_and_toml(tmp_path: Path) -> None:
    path = tmp_path / "ballast.toml"
    path.write_text('preset = "seed-literal"\n[policy]\nmax_position = 0.35\n')
    from_file = load_settings(path, env={"BALLAST_SIZING": "conviction"})
    assert from_file.preset == "seed-literal"
    assert from_file.max_position == Decimal("0.35")  # beside the preset, in the file
    assert from_file.sizing == "conviction"  # beside the preset, in the environment
    assert from_file.sell_rule == "any" and from_file.rebalance_interval == 300
    from_env = load_settings(env={"BALLAST_PRESET": "seed-literal", "BALLAST_TRIM_BAND": "0.02"})
    assert from_env.trim_band == Decimal("0.02")
    assert from_env.sell_rule == "any"
    overridden = load_settings(env={"BALLAST_PRESET": "seed-literal"}, sell_rule="majority")
    assert overridden.sell_rule == "majority"


def test_every_setting_given_beside_the_preset_wins() -> None:
    settings = load_settings(env={}, preset="seed-literal", **NOT_THE_SEED)
    given = {key: getattr(settings, key) for key in NOT_THE_SEED}
    assert given == Settings(**NOT_THE_SEED).model_dump(include=set(NOT_THE_SEED))


def test_an_unknown_preset_is_named() -> None:
    with pytest.raises(SettingsError, match="BALLAST_PRESET = 'seed': Input should be 'default'"):
        load_settings(env={"BALLAST_PRESET": "seed"})


def test_a_plan_input_can_choose_the_preset() -> None:
    """`"settings": {"preset": "seed-literal", ...}` starts from the seed's rules and applies
    the other settings given beside it."""
    base = validate_policy_overrides({"sizing": "conviction", "trim_band": "0.1"})
    policy = validate_policy_overrides({"preset": "seed-literal", "fee_rate": 0}, base)
    assert policy.sizing == "all_or_nothing" and policy.trim_band == 0 and policy.fee_rate == 0
    doc = {"balances": {"USDT": {"free": 10}}, "prices": {},
           "settings": {"preset": "seed-literal", "cost_multiple": 3}}
    whatif = load_whatif(json.dumps(doc), default_now=NOW)
    assert whatif.settings.preset == "seed-literal" and whatif.settings.cost_multiple == 3
    with pytest.raises(WhatIfError, match=r"settings\.preset = 'x'"):
        load_whatif(json.dumps({**doc, "settings": {"preset": "x"}}), default_now=NOW)


def test_ballast_plan_reads_the_preset_and_the_new_settings(tmp_path: Path) -> None:
    """V = $10,000 with 17% cash: the seed raises $300 from the weakest (BTC and ETH tie at
    28%; BTC by name); a cash band of 5% lets 17% be and says why."""
    doc: dict[str, Any] = {
        "balances": {"BTC": {"free": "0.028"}, "ETH": {"free": "1.12"}, "SOL": {"free": 18},
                     "USDT": {"free": 1700}},
        "prices": {"BTC": 100000, "ETH": 2500, "SOL": 150},
        "settings": {"preset": "seed-literal", "fee_rate": 0},
    }
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps(doc))
    banded = tmp_path / "banded.json"
    banded.write_text(json.dumps({**doc, "settings": {**doc["settings"], "cash_band": 0.05}}))
    runner = CliRunner()
    out = json.loads(runner.invoke(app, ["plan", "--input", str(seed), "--json"]).stdout)
    assert [(t["asset"], t["value"], t["reasons"]) for t in out["trades"]] == [
        ("BTC", 300.0, ["raise_cash"])
    ]
    result = runner.invoke(app, ["plan", "--input", str(banded), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["trades"] == []
    assert out["skipped"] == [{"asset": "BTC", "side": "sell", "reason": "within_band"}]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"sell_exit_score": "0.8"}, "sell_exit_score = 0.8: must be ≤ sell_enter_score"),
        ({"buy_exit_score": "0.9"}, "buy_exit_score = 0.9: must be ≤ buy_enter_score"),
        ({"sell_rule": "score", "strong_buy_score": "0.25"},
         "strong_buy_score = 0.25: must be ≥ buy_enter_score"),
        ({"trim_band": "0.8"}, "trim_band = 0.8: max_position (0.30) + trim_band must be ≤ 1"),
        ({"cash_band": "0.3"}, "cash_band = 0.3: must be ≤ min_cash"),
        ({"sizing": "half"}, "sizing = 'half': Input should be 'all_or_nothing' or 'conviction'"),
        ({"plan_on": "tick"}, "plan_on = 'tick': Input should be 'interval' or 'candle_close'"),
        ({"turnover_budget": "0"}, "turnover_budget = '0': Input should be greater than 0"),
        ({"turnover_period": "0"}, "turnover_period = '0': Input should be greater than 0"),
        ({"cost_multiple": "-1"}, "cost_multiple = '-1': Input should be greater than or"),
    ],
)
def test_each_new_setting_is_validated_by_name(values: dict[str, str], message: str) -> None:
    env = {f"BALLAST_{key.upper()}": value for key, value in values.items()}
    with pytest.raises(SettingsError) as caught:
        load_settings(env=env)
    name, rest = message.split(" = ", 1)
    assert f"BALLAST_{name.upper()} = {rest}" in str(caught.value)


def test_an_empty_turnover_budget_means_none() -> None:
    assert load_settings(env={"BALLAST_TURNOVER_BUDGET": ""}).turnover_budget is None
    assert load_settings(env={"BALLAST_TURNOVER_BUDGET": "0.5"}).turnover_budget == Decimal("0.5")
