"""Build the exchange Ballast trades on: paper (the default) or live, per the settings.

Paper mode needs a price source (the real exchange's public endpoints, or a candle directory
replayed on a clock) and starting balances (`BALLAST_PAPER_PORTFOLIO`: a JSON file, `live` for a
snapshot of the real account, or unset for the seed portfolio), written once into a fresh
database. Live mode needs API keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path

from core.config.settings import Settings, SettingsError
from core.domain.models import Balance, Market
from core.exchange.base import Exchange
from core.exchange.paper import PaperExchange
from core.exchange.paper_markets import MARKETS_DIR, bundled_markets
from core.exchange.prices import Clock, PriceSource, utc_now
from core.policy.whatif import read_json_file, read_portfolio_document
from core.storage.store import Store

D = Decimal

# The owner's account from the seed design document: ETH's 1.54158 includes 0.143 locked.
SEED_PORTFOLIO: dict[str, Balance] = {
    "BTC": Balance(D("0.03482")),
    "ETH": Balance(D("1.39858"), D("0.143")),
    "SOL": Balance(D("25.111")),
    "AVAX": Balance(D("55.662")),
    "USD": Balance(D("28.21"), D("599.29")),
    "USDT": Balance(D("49.50")),
}

PAPER_PORTFOLIO = "BALLAST_PAPER_PORTFOLIO"
API_KEY = "BALLAST_EXCHANGE_API_KEY"
API_SECRET = "BALLAST_EXCHANGE_API_SECRET"


def read_paper_portfolio(path: Path) -> dict[str, Balance]:
    """Starting balances from a JSON file: what-if `balances`, alone or inside a what-if file
    (docs/formats.md), validated by the what-if format's model.

    Raises `SettingsError` naming the variable, the file and the offending field.
    """
    where = f"{PAPER_PORTFOLIO} file {path}"
    data = read_json_file(path, where)
    if not (isinstance(data, Mapping) and "balances" in data):
        data = {"balances": data}  # a file holding only the balances object
    return read_portfolio_document(data, where).account()


def require_keys(settings: Settings, purpose: str) -> None:
    """Stop with a message naming the variables when the exchange keys are not set."""
    missing = [
        name
        for name, value in ((API_KEY, settings.exchange_api_key),
                            (API_SECRET, settings.exchange_api_secret))
        if value is None or not value.get_secret_value()
    ]
    if missing:
        raise SettingsError(f"{purpose} needs {' and '.join(missing)}")


async def starting_balances(settings: Settings) -> dict[str, Balance]:
    """The paper account's starting balances, per `BALLAST_PAPER_PORTFOLIO`."""
    choice = (settings.paper_portfolio or "").strip()
    if not choice:
        return dict(SEED_PORTFOLIO)
    if choice.lower() == "live":
        require_keys(settings, f"{PAPER_PORTFOLIO}=live (a snapshot of the real account)")
        account = _live_exchange(settings)
        try:
            return await account.fetch_balances()
        finally:
            await account.close()
    return read_paper_portfolio(Path(choice))


async def build_exchange(
    settings: Settings,
    store: Store,
    *,
    prices: PriceSource | None = None,
    clock: Clock = utc_now,
    markets: Mapping[str, Market] | None = None,
) -> Exchange:
    """The exchange for `settings.mode`: paper (seeded on first use) or live.

    Paper prices come from `prices` (e.g. `ReplayPrices`) or else the real exchange's public
    endpoints; market rules from `markets`, else the shipped file for `settings.exchange`,
    else the public exchange. Raises `SettingsError` on missing keys or a bad starting file.
    """
    if settings.mode == "live":
        require_keys(settings, "live mode")
        return _live_exchange(settings)
    source: PriceSource = prices if prices is not None else _public_exchange(settings)
    if markets is None:
        markets = await _paper_markets(settings, source)
    paper = PaperExchange(
        store,
        source,
        markets,
        fee_rate=settings.fee_rate,
        slippage=settings.paper_slippage,
        clock=clock,
    )
    if not await paper.is_seeded():
        try:
            await paper.seed(await starting_balances(settings))
        except BaseException:
            await paper.close()
            raise
    return paper


async def _paper_markets(settings: Settings, source: PriceSource) -> Mapping[str, Market]:
    if (MARKETS_DIR / f"{settings.exchange}_spot.json").exists():
        return bundled_markets(settings.exchange)
    if isinstance(source, Exchange):
        return await source.load_markets()
    return bundled_markets(settings.exchange)  # raises, naming the exchanges shipped


# ccxt is imported only when an exchange is actually needed: paper trading on replayed candles
# (backtests, the offline demo) never pays for loading it.
def _live_exchange(settings: Settings) -> Exchange:
    from core.exchange.ccxt_exchange import CcxtExchange

    return CcxtExchange.from_settings(settings)


def _public_exchange(settings: Settings) -> Exchange:
    """The real exchange without keys: public prices, candles and market rules only."""
    from core.exchange.ccxt_exchange import CcxtExchange

    return CcxtExchange(settings.exchange, api_url=settings.exchange_api_url, quote=settings.quote)
