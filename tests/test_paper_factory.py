"""The exchange factory: paper by default, seeded once from the seed, a file, or nothing else."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from core.config.settings import Settings, SettingsError, load_settings
from core.domain.models import Balance, Side
from core.exchange.base import OrderRequest
from core.exchange.factory import (
    SEED_PORTFOLIO,
    build_exchange,
    read_paper_portfolio,
    starting_balances,
)
from core.exchange.paper import PaperExchange
from core.storage.store import Store
from tests.fixed_prices import FixedPrices

D = Decimal
NOW = datetime(2024, 3, 1, tzinfo=UTC)


def settings(**env: str) -> Settings:
    return load_settings(env={f"BALLAST_{k.upper()}": v for k, v in env.items()})


def prices() -> FixedPrices:
    return FixedPrices({"BTC/USDT": D("60000")}, at=NOW)


def test_seed_portfolio_is_the_design_documents_account() -> None:
    assert SEED_PORTFOLIO["ETH"].total == D("1.54158")
    assert SEED_PORTFOLIO["ETH"].locked == D("0.143")
    assert SEED_PORTFOLIO["USD"] == Balance(D("28.21"), D("599.29"))
    assert set(SEED_PORTFOLIO) == {"BTC", "ETH", "SOL", "AVAX", "USD", "USDT"}


async def test_default_is_a_paper_exchange_seeded_with_the_seed(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "b.db") as store:
        exchange = await build_exchange(settings(), store, prices=prices())
        assert isinstance(exchange, PaperExchange)
        assert await exchange.fetch_balances() == SEED_PORTFOLIO
        assert "BTC/USDT" in await exchange.load_markets()


async def test_a_restart_keeps_the_paper_balances(tmp_path: Path) -> None:
    portfolio = tmp_path / "start.json"
    portfolio.write_text(json.dumps({"balances": {"USDT": {"free": 500}}}))
    async with await Store.open(tmp_path / "b.db") as store:
        first = await build_exchange(settings(), store, prices=prices())
        assert (await first.fetch_balances())["BTC"].free == D("0.03482")
    async with await Store.open(tmp_path / "b.db") as store:
        again = await build_exchange(
            settings(paper_portfolio=str(portfolio)), store, prices=prices()
        )
        assert await again.fetch_balances() == SEED_PORTFOLIO


async def test_starting_balances_from_a_balances_file(tmp_path: Path) -> None:
    path = tmp_path / "balances.json"
    path.write_text(json.dumps({
        "balances": {"btc": {"free": "0.5", "locked": 0.1}, "USDT": {"free": 1000}},
    }))
    balances = await starting_balances(settings(paper_portfolio=str(path)))
    assert balances == {"BTC": Balance(D("0.5"), D("0.1")), "USDT": Balance(D("1000"))}


def test_a_whole_what_if_file_gives_its_balances(tmp_path: Path) -> None:
    path = tmp_path / "whatif.json"
    path.write_text(json.dumps({
        "quote": "USDT", "balances": {"SOL": {"free": 3, "locked": 0}},
        "prices": {"SOL": 100}, "settings": {"min_cash": 0.2},
    }))
    assert read_paper_portfolio(path) == {"SOL": Balance(D("3"))}


def test_a_bare_balances_object_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bare.json"
    path.write_text(json.dumps({"ETH": {"free": 2}}))
    assert read_paper_portfolio(path) == {"ETH": Balance(D("2"))}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not valid JSON"),
        ('{"balances": []}', "balances must be an object"),
        ('{"balances": {"BTC": 1}}', r"balances\.BTC must be"),
        ('{"balances": {"BTC": {"free": "lots"}}}', r"balances\.BTC\.free = 'lots'"),
        ('{"balances": {"BTC": {"free": -1}}}', r"balances\.BTC\.free = -1: must be a finite"),
        ('{"balances": {"BTC": {"free": 1, "held": 2}}}', r"balances\.BTC\.held is not"),
    ],
)
def test_bad_files_name_the_variable_and_the_field(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(SettingsError, match=message) as raised:
        read_paper_portfolio(path)
    assert "BALLAST_PAPER_PORTFOLIO" in str(raised.value)


async def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"BALLAST_PAPER_PORTFOLIO file .*nope\.json"):
        await starting_balances(settings(paper_portfolio=str(tmp_path / "nope.json")))


async def test_live_snapshot_needs_keys() -> None:
    with pytest.raises(SettingsError, match="BALLAST_EXCHANGE_API_KEY and BALLAST_EXCHANGE_API"):
        await starting_balances(settings(paper_portfolio="live"))


async def test_live_mode_needs_keys_and_names_them(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "b.db") as store:
        with pytest.raises(SettingsError, match="live mode needs BALLAST_EXCHANGE_API_KEY"):
            await build_exchange(settings(mode="live"), store)
        with pytest.raises(SettingsError, match=r"needs BALLAST_EXCHANGE_API_SECRET$"):
            await build_exchange(settings(mode="live", exchange_api_key="k"), store)


async def test_a_bad_starting_file_leaves_no_account(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"balances": {"BTC": {"free": "x"}}}')
    async with await Store.open(tmp_path / "b.db") as store:
        with pytest.raises(SettingsError):
            await build_exchange(settings(paper_portfolio=str(path)), store, prices=prices())
        exchange = await build_exchange(settings(), store, prices=prices())
        assert await exchange.fetch_balances() == SEED_PORTFOLIO


async def test_fee_and_slippage_come_from_the_settings(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "b.db") as store:
        exchange = await build_exchange(
            settings(fee_rate="0.002", paper_slippage="0.001"), store, prices=prices()
        )
        order = await exchange.create_order(OrderRequest("BTC/USDT", Side.SELL, D("0.01"), "s"))
        assert order.average_price == D("59940")
        assert order.fee == D("0.01") * D("59940") * D("0.002")
