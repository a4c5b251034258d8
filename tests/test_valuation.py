"""Valuation (docs/rules.md): cash, free vs locked, dust, unpriced assets, routing through BTC."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from core.domain.models import Balance, Portfolio, Price
from core.domain.valuation import is_dust, route_price, symbols_to_price, value_portfolio
from tests.factories import NOW, d, portfolio, price, rules

CASH = ("USDT", "USDC", "FDUSD", "USD", "DAI", "TUSD")


def value(
    balances: dict[str, Balance],
    prices: list[Price],
    *,
    quote: str = "USDT",
    max_price_age: float | timedelta = 120,
    watchlist: tuple[str, ...] = (),
) -> Portfolio:
    return value_portfolio(
        balances,
        {p.symbol: p for p in prices},
        quote=quote,
        cash_assets=CASH,
        markets={},
        now=NOW,
        max_price_age=max_price_age,
        watchlist=watchlist,
    )


def test_seed_portfolio_values_cash_holdings_and_locked_amounts() -> None:
    p = portfolio(
        {
            "BTC": ("0.03482", "91182"),
            "ETH": ("1.39858", "2988.49"),
            "SOL": ("25.111", "137.87"),
            "AVAX": ("55.662", "13.65"),
        },
        {"USD": "28.21", "USDT": "49.50"},
        locked={"ETH": "0.143", "USD": "599.29"},
    )
    assert p.cash_balances == {"USD": d("627.50"), "USDT": d("49.50")}
    assert p.cash_value == d("677.00")
    assert p.quote_free == d("49.50")
    eth = p.holdings["ETH"]
    assert (eth.free, eth.locked, eth.amount) == (d("1.39858"), d("0.143"), d("1.54158"))
    assert eth.value == d("1.54158") * d("2988.49")
    assert p.holdings["BTC"].value == d("3174.95724")
    expected_total = d("677.00") + sum(h.value for h in p.holdings.values())
    assert p.total_value == expected_total
    assert p.holdings["ETH"].allocation == eth.value / expected_total
    assert p.cash_allocation == d("677.00") / expected_total
    assert p.dust == () and p.unpriced == ()


def test_stablecoins_use_their_market_price_when_usable_else_one() -> None:
    p = value(
        {"USDT": Balance(d(100)), "USDC": Balance(d(100)), "DAI": Balance(d(50), d(50))},
        [price("USDC/USDT", "0.998"), price("DAI/USDT", "0", None)],
    )
    assert p.cash_balances == {"DAI": d(100), "USDC": d(100), "USDT": d(100)}
    # USDC at its market price; DAI's price is broken, so it counts at 1.0.
    assert p.cash_value == d("100") + d("99.8") + d("100")
    assert p.holdings == {} and "USDC" not in p.prices


def test_quote_is_always_worth_one_and_free_quote_is_what_buys_can_spend() -> None:
    p = value({"USDT": Balance(d(10), d(5))}, [price("USDT/USD", "2")])
    assert p.cash_value == d(15)
    assert p.quote_free == d(10)
    assert value({}, []).quote_free == 0


@pytest.mark.parametrize(
    ("last", "age"),
    [
        (None, 0),  # missing last price
        ("0", 0),  # zero
        ("-3", 0),  # negative
        ("NaN", 0),  # not a number
        ("Infinity", 0),
        ("25", 121),  # older than max_price_age
    ],
)
def test_broken_or_stale_prices_make_a_holding_unpriced_and_leave_it_out_of_v(
    last: str | None, age: int
) -> None:
    p = value(
        {"USDT": Balance(d(100)), "SOL": Balance(d(4)), "BTC": Balance(d(1))},
        [price("SOL/USDT", last, NOW - timedelta(seconds=age)), price("BTC/USDT", "900")],
    )
    assert p.unpriced == ("SOL",)
    assert "SOL" not in p.holdings and "SOL" not in p.prices
    assert p.total_value == d(1000)
    assert p.holdings["BTC"].allocation == d("0.9")


def test_asset_with_no_market_at_all_is_unpriced() -> None:
    p = value({"USDT": Balance(d(1)), "XYZ": Balance(d(3))}, [])
    assert p.unpriced == ("XYZ",) and p.total_value == d(1)


def test_price_exactly_max_age_old_is_fresh_and_unknown_age_is_accepted() -> None:
    at_limit = NOW - timedelta(seconds=120)
    p = value(
        {"SOL": Balance(d(1)), "AVAX": Balance(d(1))},
        [price("SOL/USDT", "10", at_limit), price("AVAX/USDT", "20", None)],
    )
    assert p.prices == {"AVAX": d(20), "SOL": d(10)}
    q = value(
        {"SOL": Balance(d(1))},
        [price("SOL/USDT", "10", at_limit)],
        max_price_age=timedelta(seconds=119),
    )
    assert q.unpriced == ("SOL",)


def test_missing_quote_market_routes_through_btc() -> None:
    p = value(
        {"ETH": Balance(d(2)), "USDT": Balance(d(0))},
        [price("ETH/BTC", "0.05"), price("BTC/USDT", "60000")],
    )
    assert p.prices["ETH"] == d(3000)
    assert p.holdings["ETH"].value == d(6000)


def test_inverse_markets_are_used_for_either_leg() -> None:
    # USDT/XYZ exists only inverted; BTC/ABC inverted and USDT/BTC inverted as well.
    p = value(
        {"XYZ": Balance(d(10)), "ABC": Balance(d(1))},
        [price("USDT/XYZ", "4"), price("BTC/ABC", "1000"), price("USDT/BTC", "0.00002")],
    )
    assert p.prices["XYZ"] == d("0.25")
    assert p.prices["ABC"] == d(1) / d(1000) * (d(1) / d("0.00002"))


def test_other_cash_assets_are_intermediaries_e_g_a_usd_quote() -> None:
    p = value(
        {"SOL": Balance(d(3))},
        [price("SOL/USDT", "100"), price("USDT/USD", "0.999")],
        quote="USD",
    )
    assert p.prices["SOL"] == d("99.9")


def test_direct_market_wins_over_route_and_a_stale_direct_price_is_not_papered_over() -> None:
    fresh_route = [price("ETH/BTC", "0.05"), price("BTC/USDT", "60000")]
    p = value({"ETH": Balance(d(1))}, [price("ETH/USDT", "2990"), *fresh_route])
    assert p.prices["ETH"] == d(2990)
    stale = price("ETH/USDT", "2990", NOW - timedelta(hours=1))
    q = value({"ETH": Balance(d(1))}, [stale, *fresh_route])
    assert q.unpriced == ("ETH",)


def test_a_stale_leg_of_the_btc_route_makes_the_asset_unpriced() -> None:
    p = value(
        {"ETH": Balance(d(1))},
        [price("ETH/BTC", "0.05"), price("BTC/USDT", "60000", NOW - timedelta(seconds=600))],
    )
    assert p.unpriced == ("ETH",)


def test_dust_is_below_the_market_minimum_and_still_counts_in_v() -> None:
    markets = {
        "DOGE": rules(min_notional=5, step="1"),
        "SHIB": rules(min_amount=1000),
        "PEPE": rules(step="10"),
        "BTC": rules(min_notional=10, step="0.00001"),
    }
    p = portfolio(
        {
            "DOGE": ("40", "0.1"),
            "SHIB": ("999", "1"),
            "PEPE": ("9", "100"),
            "BTC": ("0.001", "60000"),
            "NOMKT": ("0.001", "1"),
        },
        {"USDT": "100"},
        markets=markets,
    )
    assert p.dust == ("DOGE", "PEPE", "SHIB")
    assert p.holdings["DOGE"].dust and not p.holdings["BTC"].dust
    assert not p.holdings["NOMKT"].dust  # no known rules: the policy's minimum decides
    assert p.total_value == d(100) + d(4) + d(999) + d(900) + d(60) + d("0.001")


def test_is_dust_boundaries() -> None:
    r = rules(min_notional=10, step="0.01", min_amount="0.05")
    assert not is_dust(d("0.1"), d(100), r)  # exactly the minimum notional
    assert is_dust(d("0.09"), d(100), r)
    assert is_dust(d("0.04"), d(1000), r)  # below the minimum amount
    assert not is_dust(d("0.001"), d(1), None)


def test_watchlist_assets_are_priced_without_being_held() -> None:
    p = value(
        {"USDT": Balance(d(100))},
        [price("LINK/USDT", "15"), price("USDC/USDT", "1")],
        watchlist=("LINK", "ADA", "USDC"),
    )
    assert p.prices == {"LINK": d(15)}
    assert p.unpriced == ("ADA",)  # watched but no price: reported, not in V
    assert p.holdings == {} and p.total_value == d(100)


def test_zero_balances_are_ignored_and_negative_ones_refused() -> None:
    p = value({"SOL": Balance(d(0)), "USDT": Balance(d(0))}, [price("SOL/USDT", "10")])
    assert p.holdings == {} and p.cash_balances == {} and p.total_value == 0
    assert p.cash_allocation == 0
    with pytest.raises(ValueError, match="SOL"):
        value({"SOL": Balance(d(-1))}, [price("SOL/USDT", "10")])


def test_route_price_of_the_quote_is_one() -> None:
    assert route_price("USDT", {}, quote="USDT", now=NOW, max_price_age=1) == 1


def test_symbols_to_price_picks_the_first_listed_route_per_asset() -> None:
    available = {"BTC/USDT", "ETH/USDT", "ETH/BTC", "XYZ/BTC", "USDT/TRY", "ABC/ETH"}
    assert symbols_to_price(
        ["BTC", "ETH", "XYZ", "TRY", "ABC", "USDT", "ETH"], quote="USDT", available=available
    ) == ["BTC/USDT", "ETH/USDT", "USDT/TRY", "XYZ/BTC"]
    assert symbols_to_price(["ABC"], quote="USDT", available=available, via=("BTC", "ETH")) == [
        "ABC/ETH",
        "ETH/USDT",
    ]


def test_symbols_to_price_feeds_value_portfolio() -> None:
    available = {"BTC/USDT", "XYZ/BTC", "XYZ/ETH"}
    symbols = symbols_to_price(["XYZ"], quote="USDT", available=available)
    tickers = {"BTC/USDT": price("BTC/USDT", "50000"), "XYZ/BTC": price("XYZ/BTC", "0.001")}
    p = value({"XYZ": Balance(d(2))}, [tickers[s] for s in symbols])
    assert p.holdings["XYZ"].value == d(100)
    assert Decimal(p.total_value) == d(100)
