"""The shipped market rules are the real exchange's, parsed from a recorded exchangeInfo."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from core.domain.models import MarketRules
from core.exchange.paper_markets import (
    MARKETS_DIR,
    MarketsFileError,
    bundled_markets,
    load_exchange_info,
    markets_from_exchange_info,
    markets_to_json,
    read_markets_file,
)

FIXTURES = Path(__file__).parent / "fixtures" / "exchange"
INFO_2023 = FIXTURES / "binance_spot_exchangeInfo_2023-08-13.json.gz"
INFO_2021 = FIXTURES / "binance_spot_exchangeInfo_2021-04-29_BTC.json.gz"
D = Decimal


def test_known_binance_rules_from_the_shipped_file() -> None:
    markets = bundled_markets("binance")
    assert markets["BTC/USDT"].rules == MarketRules(
        min_notional=D("10"), amount_step=D("0.00001"), min_amount=D("0.00001"),
        price_tick=D("0.01"),
    )
    assert markets["SOL/USDT"].rules.min_notional == D("5")
    assert markets["AVAX/USDT"].rules.amount_step == D("0.01")
    assert markets["ETH/BTC"].quote == "BTC"
    assert {"BTC/FDUSD", "BTC/USDC", "USDC/USDT"} <= set(markets)
    seed_and_watchlist = {"BTC", "ETH", "SOL", "AVAX", "BNB", "XRP", "ADA", "LINK"}
    assert seed_and_watchlist <= {m.base for m in markets.values() if m.quote == "USDT"}


def test_shipped_file_is_small() -> None:
    assert (MARKETS_DIR / "binance_spot.json").stat().st_size < 50_000


def test_shipped_file_is_exactly_what_the_recorded_exchange_info_gives() -> None:
    parsed = markets_from_exchange_info(load_exchange_info(INFO_2023))
    assert bundled_markets("binance") == parsed


def test_pre_2023_min_notional_filter_is_read() -> None:
    markets = markets_from_exchange_info(load_exchange_info(INFO_2021), assets=("BTC",))
    assert markets["BTC/USDT"].rules.min_notional == D("10")
    assert markets["BTC/USDT"].rules.amount_step == D("0.000001")


def test_symbols_not_trading_are_left_out() -> None:
    info = {"symbols": [
        {"symbol": "SOLUSDC", "status": "BREAK", "baseAsset": "SOL", "quoteAsset": "USDC",
         "filters": []},
        {"symbol": "SOLUSDT", "status": "TRADING", "baseAsset": "SOL", "quoteAsset": "USDT",
         "filters": [{"filterType": "LOT_SIZE", "minQty": "0.01000000",
                      "stepSize": "0.01000000"}]},
    ]}
    markets = markets_from_exchange_info(info)
    assert list(markets) == ["SOL/USDT"]
    assert markets["SOL/USDT"].rules.price_tick is None


def test_round_trip_through_the_file_format(tmp_path: Path) -> None:
    markets = bundled_markets()
    path = tmp_path / "m.json"
    path.write_text(markets_to_json(markets.values(), source="test"))
    assert read_markets_file(path) == markets


def test_unknown_exchange_and_broken_files_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(MarketsFileError, match=r"kraken.*shipped: binance"):
        bundled_markets("kraken")
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"markets": {"BTC/USDT": {"base": "BTC"}}}))
    with pytest.raises(MarketsFileError, match="BTC/USDT is malformed"):
        read_markets_file(broken)
