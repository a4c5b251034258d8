"""The account snapshot through a real paper exchange: the whole account, priced and valued."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from core.account.snapshot import read_portfolio, unrealised_pnl
from core.config.settings import Settings, load_settings
from core.domain.models import Balance, Holding
from core.exchange.factory import SEED_PORTFOLIO
from core.exchange.paper import PaperExchange
from core.exchange.paper_markets import bundled_markets
from core.storage.store import Store
from tests.fixed_prices import FixedPrices

D = Decimal
NOW = datetime(2026, 11, 24, tzinfo=UTC)
# Portfolio S of docs/rules.md: these prices value the seed account at its stated dollar amounts.
SEED_PRICES = {
    "BTC/USDT": D("91182"), "ETH/USDT": D("2988.49"), "SOL/USDT": D("137.87"),
    "AVAX/USDT": D("13.654"),
}


def settings(**env: str) -> Settings:
    return load_settings(env={f"BALLAST_{k.upper()}": v for k, v in env.items()})


async def paper(store: Store, prices: FixedPrices, balances: dict[str, Balance]) -> PaperExchange:
    exchange = PaperExchange(store, prices, bundled_markets(), fee_rate=D("0.001"),
                             clock=lambda: NOW)
    await exchange.seed(balances)
    return exchange


async def test_seed_account_is_valued_per_spec(store: Store) -> None:
    """Holdings at the seed's dollar values; cash is USD 627.50 + USDT 49.50 = 677.00.

    docs/rules.md rounds cash to $628 (V = $12,632); the seed's own balances add up to $677, so V
    here is $12,681 — the seed's numbers do not add up.
    """
    exchange = await paper(store, FixedPrices(SEED_PRICES, at=NOW), SEED_PORTFOLIO)
    portfolio = await read_portfolio(exchange, settings(watchlist="BTC,ETH,SOL,AVAX"), NOW)
    assert portfolio.quote == "USDT"
    # USD has no market against USDT on Binance: cash at 1.0, locked USD included.
    assert portfolio.cash_value == D("28.21") + D("599.29") + D("49.50")
    assert portfolio.cash_balances == {"USD": D("627.50"), "USDT": D("49.50")}
    eth = portfolio.holdings["ETH"]
    assert (eth.free, eth.locked) == (D("1.39858"), D("0.143"))
    assert eth.value == D("1.54158") * D("2988.49")
    assert abs(portfolio.total_value - D("12681")) < D("1")
    assert sum(h.allocation for h in portfolio.holdings.values()) + portfolio.cash_allocation \
        == pytest.approx(1)
    assert portfolio.unpriced == () and portfolio.dust == ()


async def test_dust_unpriced_and_watchlist(store: Store) -> None:
    prices = FixedPrices({**SEED_PRICES, "DOGE/USDT": D("0.08"), "LINK/USDT": D("15")}, at=NOW)
    balances = {"USDT": Balance(D("1000")), "BTC": Balance(D("0.01")),
                "DOGE": Balance(D("10")), "ZZZ": Balance(D("5"))}
    exchange = await paper(store, prices, balances)
    portfolio = await read_portfolio(exchange, settings(watchlist="LINK,XRP"), NOW)
    assert portfolio.dust == ("DOGE",)  # 0.80 USDT, below the 5 USDT minimum notional
    assert portfolio.holdings["DOGE"].dust
    assert "ZZZ" in portfolio.unpriced  # no market at all
    assert "XRP" in portfolio.unpriced  # watched, market exists, no price
    assert portfolio.prices["LINK"] == D("15")
    assert portfolio.total_value == D("1000") + D("0.01") * D("91182") + D("0.8")


async def test_stale_prices_make_assets_unpriced_unless_allowed(store: Store) -> None:
    old = NOW - timedelta(seconds=600)
    exchange = await paper(store, FixedPrices(SEED_PRICES, at=old),
                           {"BTC": Balance(D("0.01")), "USDT": Balance(D("10"))})
    stale = await read_portfolio(exchange, settings(watchlist="[]"), NOW)
    assert stale.unpriced == ("BTC",) and stale.total_value == D("10")
    allowed = await read_portfolio(exchange, settings(watchlist="[]"), NOW, max_price_age=3600)
    assert allowed.holdings["BTC"].price == D("91182")


def test_unrealised_pnl_against_cost_basis() -> None:
    holding = Holding("SOL", D("2"), D("1"), D("150"), D("450"), D("0.1"))
    assert unrealised_pnl(holding, D("100")) == D("150")
    assert unrealised_pnl(holding, D("200")) == D("-150")
    assert unrealised_pnl(holding, None) is None
