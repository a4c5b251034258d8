"""Settings: seed defaults, TOML file + environment precedence, and one named error per rule."""

import os
from decimal import Decimal
from pathlib import Path

import pytest

from core.config.rules import PolicySettings
from core.config.settings import Settings, SettingsError, load_settings, validate_policy_overrides
from core.config.sources import SettingsWarning


def test_defaults_are_the_studied_config() -> None:
    """The defaults are the configuration docs/decisions.md chose; the rest keep the seed's."""
    settings = load_settings(env={})
    policy = settings.policy
    assert policy == PolicySettings()
    # max_cash 0.60, the downtrend skip and the daily trend family: docs/decisions.md §6.
    assert (policy.min_cash, policy.target_cash, policy.max_cash) == (
        Decimal("0.25"), Decimal("0.25"), Decimal("0.60"))
    assert policy.buy_in_downtrend is False
    assert settings.strategies == ("rsi", "macd", "ema", "bollinger", "trend_ma", "trend_score")
    assert settings.signal.trend_ma_days == 100
    assert policy.cash_floor == Decimal("0.15")
    assert policy.buy_cash_threshold == Decimal("0.30")
    assert (policy.min_position, policy.max_position) == (Decimal("0.05"), Decimal("0.30"))
    assert policy.max_trades_per_cycle == 3
    assert (policy.min_hold, policy.rebuy_cooldown) == (300, 3600)
    assert policy.signal_sell_max_loss == Decimal("0.10")
    assert policy.stop_loss is None
    assert policy.min_trade_value == Decimal("10")
    assert (policy.scan_interval, policy.rebalance_interval) == (30, 300)
    assert policy.sell_on_signal and policy.maintain_reserve
    assert policy.fee_rate == Decimal("0.001")
    # The decision mechanisms the study chose (docs/decisions.md §3).
    assert (policy.sizing, policy.plan_on) == ("conviction", "candle_close")
    assert (policy.trim_band, policy.cash_band) == (Decimal("0.05"), Decimal("0.05"))
    assert policy.cost_multiple == Decimal("5")
    assert (policy.turnover_budget, policy.turnover_period) == (Decimal("0.5"), 30 * 86400)
    assert policy.keep_small_holdings
    assert settings.timeframe == "1h" and settings.sell_rule == "score"
    assert (settings.sell_enter_score, settings.sell_exit_score) == (0.75, 0.0)
    assert (settings.buy_enter_score, settings.buy_exit_score) == (0.5, 0.0)
    assert settings.strong_buy_score == 1.0
    assert settings.confirm_candles == 1
    assert settings.quote == "USDT"
    assert settings.cash_assets == ("USDT", "USDC", "FDUSD", "USD", "DAI", "TUSD")
    assert settings.watchlist == ("BTC", "ETH", "SOL", "AVAX", "BNB", "XRP", "ADA", "LINK")
    assert (settings.max_price_age, settings.approval_ttl) == (120, 600)
    assert settings.max_price_drift == Decimal("0.02")
    assert (settings.mode, settings.approval, settings.allow_live_auto) == (
        "paper", "manual", False)
    assert settings.exchange == "binance"
    assert settings.db == Path("ballast.db")


def test_toml_file_then_environment(tmp_path: Path) -> None:
    path = tmp_path / "ballast.toml"
    path.write_text(
        'min_cash = 0.22\nwatchlist = ["btc", "link"]\n[policy]\nmax_trades_per_cycle = 2\n'
    )
    settings = load_settings(path, env={"BALLAST_MIN_CASH": "0.21"})
    assert settings.min_cash == Decimal("0.21")  # the environment wins over the file
    assert settings.max_trades_per_cycle == 2  # tables are flattened
    assert settings.watchlist == ("BTC", "LINK")
    assert settings.settings == path


def test_settings_file_from_environment_variable(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text("stop_loss = 0.25\n")
    settings = load_settings(env={"BALLAST_SETTINGS": str(path)})
    assert settings.stop_loss == Decimal("0.25")


def test_environment_lists_and_secrets() -> None:
    settings = load_settings(env={
        "BALLAST_WATCHLIST": "btc, eth ,sol",
        "BALLAST_NEVER_SELL": "bnb",
        "BALLAST_EXCHANGE_API_KEY": "k-123",
        "BALLAST_EXCHANGE_API_SECRET": "s-456",
        "BALLAST_TELEGRAM_OWNER_ID": "42",
    })
    assert settings.watchlist == ("BTC", "ETH", "SOL")
    assert settings.never_sell == ("BNB",)
    assert settings.telegram_owner_id == 42
    assert settings.exchange_api_secret is not None
    assert settings.exchange_api_secret.get_secret_value() == "s-456"
    # Secrets never show in a printed settings object.
    assert "s-456" not in repr(settings) and "k-123" not in str(settings)


def test_policy_part_is_a_plain_policy_settings() -> None:
    settings = load_settings(env={"BALLAST_MAX_POSITION": "0.35"})
    assert isinstance(settings, Settings)
    assert settings.policy.max_position == Decimal("0.35")
    assert type(settings.policy) is PolicySettings


# Every relationship rule, each error naming the setting, its value and the rule.
RULES = [
    ({"cash_floor": "0.3"}, "cash_floor = 0.3: must be ≤ min_cash"),
    ({"min_cash": "0.30"}, "min_cash = 0.30: must be ≤ target_cash"),
    ({"target_cash": "0.65"}, "target_cash = 0.65: must be ≤ max_cash"),
    ({"buy_cash_threshold": "0.18", "cash_floor": "0.10"},
     "buy_cash_threshold = 0.18: must be ≥ min_cash"),
    ({"buy_cash_threshold": "0.65"}, "buy_cash_threshold = 0.65: must be ≤ max_cash"),
    ({"min_position": "0.30"}, "min_position = 0.30: must be < max_position"),
    ({"max_cash": "1"}, "max_cash = '1': Input should be less than 1"),
    ({"min_position": "0"}, "min_position = '0': Input should be greater than 0"),
    ({"max_position": "1.2"}, "max_position = '1.2': Input should be less than or equal to 1"),
    ({"max_trades_per_cycle": "0"},
     "max_trades_per_cycle = '0': Input should be greater than or equal to 1"),
    ({"scan_interval": "0"}, "scan_interval = '0': Input should be greater than 0"),
    ({"rebalance_interval": "-5"}, "rebalance_interval = '-5': Input should be greater than 0"),
    ({"min_hold": "-1"}, "min_hold = '-1': Input should be greater than or equal to 0"),
    ({"rebuy_cooldown": "-1"}, "rebuy_cooldown = '-1': Input should be greater than or equal"),
    ({"stop_loss": "1.5"}, "stop_loss = '1.5': Input should be less than 1"),
    ({"signal_sell_max_loss": "0"}, "signal_sell_max_loss = '0': Input should be greater than 0"),
    ({"min_trade_value": "-1"}, "min_trade_value = '-1': Input should be greater than or equal"),
    ({"fee_rate": "0.5"}, "fee_rate = '0.5': Input should be less than 0.1"),
    ({"min_cash": "lots"}, "min_cash = 'lots': Input should be a valid decimal"),
    ({"sell_on_signal": "maybe"}, "sell_on_signal = 'maybe': Input should be a valid boolean"),
    ({"max_price_drift": "0"}, "max_price_drift = '0': Input should be greater than 0"),
    ({"approval_ttl": "0"}, "approval_ttl = '0': Input should be greater than 0"),
    ({"max_price_age": "0"}, "max_price_age = '0': Input should be greater than 0"),
    ({"mode": "yolo"}, "mode = 'yolo': Input should be 'paper' or 'live'"),
    ({"approval": "always"}, "approval = 'always': Input should be 'manual' or 'auto'"),
    ({"sell_rule": "some"},
     "sell_rule = 'some': Input should be 'any', 'majority', 'all' or 'score'"),
    ({"timeframe": "7h"}, "timeframe = '7h': Input should be"),
    ({"confirm_candles": "0"}, "confirm_candles = '0': Input should be greater than or equal"),
    ({"rsi_oversold": "80"}, "rsi_oversold = 80.0: must be < rsi_overbought"),
    ({"macd_fast": "30"}, "macd_fast = 30: must be < macd_slow"),
    ({"ema_fast": "60"}, "ema_fast = 60: must be < ema_slow"),
    ({"quote": "EUR"}, "quote = EUR: must be one of cash_assets"),
    ({"telegram_owner_id": "me"}, "telegram_owner_id = 'me': Input should be a valid integer"),
]


@pytest.mark.parametrize(("values", "message"), RULES, ids=[next(iter(v)) for v, _ in RULES])
def test_each_rule_names_setting_value_and_rule(values: dict[str, str], message: str) -> None:
    env = {f"BALLAST_{key.upper()}": value for key, value in values.items()}
    with pytest.raises(SettingsError) as caught:
        load_settings(env=env)
    # The setting is named as it was written: the variable, not the internal field.
    name, rest = message.split(" = ", 1)
    assert f"BALLAST_{name.upper()} = {rest}" in str(caught.value)


def test_file_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(tmp_path / "missing.toml", env={})
    bad = tmp_path / "bad.toml"
    bad.write_text("min_cash = = 3")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(bad, env={})
    typo = tmp_path / "typo.toml"
    typo.write_text("min_csh = 0.2")
    with pytest.raises(SettingsError, match=r"min_csh: unknown setting .*did you mean min_cash"):
        load_settings(typo, env={})


def test_policy_overrides_are_validated() -> None:
    policy = validate_policy_overrides({"fee_rate": 0, "min_cash": "0.21"})
    assert policy.fee_rate == 0 and policy.min_cash == Decimal("0.21")
    with pytest.raises(SettingsError, match=r"min_cash = 0\.5: must be ≤ target_cash"):
        validate_policy_overrides({"min_cash": 0.5})
    with pytest.raises(SettingsError, match="min_csh"):
        validate_policy_overrides({"min_csh": 0.2})


def test_trend_timeframe_is_the_signals_or_longer() -> None:
    """The daily trend family reads candles at least as long as the signal's, never shorter."""
    assert load_settings(env={"BALLAST_TIMEFRAME": "4h", "BALLAST_TREND_TIMEFRAME": "4h"}
                         ).trend_timeframe == "4h"
    with pytest.raises(SettingsError, match=r"BALLAST_TREND_TIMEFRAME = 1h: must be as long as "
                                            r"timeframe \(4h\) or longer"):
        load_settings(env={"BALLAST_TIMEFRAME": "4h", "BALLAST_TREND_TIMEFRAME": "1h"})


def test_env_example_lists_every_setting() -> None:
    """A newcomer learns every knob from .env.example: each setting appears as a variable."""
    text = (Path(__file__).parent.parent / ".env.example").read_text()
    missing = [
        name for name in Settings.model_fields
        if f"BALLAST_{name.upper()}=" not in text
    ]
    assert missing == []


@pytest.mark.parametrize(("written", "words"), [
    ("BTC ETH", "'BTC ETH' is not an asset symbol"),
    ("BTC;ETH", "'BTC;ETH' is not an asset symbol"),
    ("BTC/USDT", "give the asset, not the pair"),
    ("$SOL", "'$SOL' is not an asset symbol"),
])
def test_never_sell_refuses_text_that_is_no_asset_symbol(written: str, words: str) -> None:
    with pytest.raises(SettingsError, match=r"(?i)never_sell") as raised:
        load_settings(env={"BALLAST_NEVER_SELL": written})
    assert words in str(raised.value)


def test_never_sell_and_watchlist_take_symbols_in_any_case() -> None:
    settings = load_settings(env={"BALLAST_NEVER_SELL": "btc, 1inch,T",
                                  "BALLAST_WATCHLIST": "eth,1000SATS"})
    assert settings.never_sell == ("BTC", "1INCH", "T")
    assert settings.watchlist == ("ETH", "1000SATS")
    with pytest.raises(SettingsError, match=r"(?i)watchlist"):
        load_settings(env={"BALLAST_WATCHLIST": "BTC,ET H"})


# ---- one settings path: pydantic-settings' sources, named as written --------------------------

def test_file_errors_name_the_key_as_written_and_the_file(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text('[policy]\nmin_cash = "abc"\n')
    with pytest.raises(SettingsError) as caught:
        load_settings(path, env={})
    assert str(caught.value) == (
        f"{path}: policy.min_cash = 'abc': Input should be a valid decimal")
    path.write_text("cash_floor = 0.3\n")
    with pytest.raises(SettingsError, match=r"settings\.toml: cash_floor = 0\.3: must be ≤"):
        load_settings(path, env={})


def test_an_empty_variable_is_unset() -> None:
    settings = load_settings(env={
        "BALLAST_TELEGRAM_OWNER_ID": "",  # as `cp .env.example .env` leaves it
        "BALLAST_EXCHANGE_API_KEY": "",
        "BALLAST_MIN_CASH": " ",
        "BALLAST_WATCHLIST": "",
    })
    assert settings.telegram_owner_id is None and settings.exchange_api_key is None
    assert settings.min_cash == PolicySettings().min_cash
    assert settings.watchlist == Settings.model_fields["watchlist"].default
    # A setting that can be off is off when empty, as .env.example documents.
    off = load_settings(env={"BALLAST_SIGNAL_SELL_MAX_LOSS": "", "BALLAST_LOG_FILE": ""})
    assert off.signal_sell_max_loss is None and off.log_file is None


def test_lists_as_json_or_commas() -> None:
    assert load_settings(env={"BALLAST_WATCHLIST": '["btc", "ETH"]'}).watchlist == ("BTC", "ETH")
    assert load_settings(env={"BALLAST_WATCHLIST": "btc,eth"}).watchlist == ("BTC", "ETH")
    assert load_settings(env={"BALLAST_STRATEGIES": '["rsi"]'}).strategies == ("rsi",)
    with pytest.raises(SettingsError, match="BALLAST_WATCHLIST = "):
        load_settings(env={"BALLAST_WATCHLIST": '["BTC",'})


def test_variable_names_are_not_case_sensitive() -> None:
    assert load_settings(env={"ballast_min_cash": "0.21"}).min_cash == Decimal("0.21")


def test_an_unknown_variable_warns_with_the_closest_name() -> None:
    with pytest.warns(SettingsWarning, match="BALLAST_MIN_CAHS .*did you mean BALLAST_MIN_CASH"):
        settings = load_settings(env={"BALLAST_MIN_CAHS": "0.3"})
    assert settings.min_cash == PolicySettings().min_cash
    with pytest.warns(SettingsWarning, match="BALLAST_NOTHING_LIKE_IT is not a Ballast setting"):
        load_settings(env={"BALLAST_NOTHING_LIKE_IT": "1"})


def test_dotenv_is_read_warned_about_and_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in [k for k in os.environ if k.upper().startswith("BALLAST_")]:
        monkeypatch.delenv(name)
    (tmp_path / ".env").write_text(
        "BALLAST_TELEGRAM_OWNER_ID=\nBALLAST_MAX_POSITION=0.35\nBALLAST_MAX_POSITON=0.4\n")
    with pytest.warns(SettingsWarning, match=r"\.env: BALLAST_MAX_POSITON .*BALLAST_MAX_POSITION"):
        settings = load_settings()
    assert settings.max_position == Decimal("0.35") and settings.telegram_owner_id is None
    # The environment wins over .env.
    monkeypatch.setenv("BALLAST_MAX_POSITION", "0.32")
    with pytest.warns(SettingsWarning):
        assert load_settings().max_position == Decimal("0.32")
    (tmp_path / ".env").write_text("BALLAST_MIN_CASH=abc\n")
    with pytest.raises(SettingsError, match=r"^\.env: BALLAST_MIN_CASH = 'abc': Input should be"):
        load_settings()


def test_old_names_keep_working(tmp_path: Path) -> None:
    """Flat keys and [policy]/[signals] tables in the file; BALLAST_SETTINGS names it."""
    path = tmp_path / "ballast.toml"
    path.write_text('min_cash = 0.21\n[policy]\nmax_position = 0.35\n[signals]\ntimeframe = "4h"\n')
    settings = load_settings(env={"BALLAST_SETTINGS": str(path)})
    assert (settings.min_cash, settings.max_position, settings.timeframe) == (
        Decimal("0.21"), Decimal("0.35"), "4h")
