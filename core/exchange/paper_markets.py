"""Market rules shipped with Ballast, so paper trading refuses what the real exchange refuses.

`core/data/markets/<exchange>_spot.json` holds, per `BASE/QUOTE` symbol, the amount step, the
minimum amount, the price tick and the minimum notional, parsed from a real Binance
`exchangeInfo` response (see the file's `source`). Regenerate it with
`python -m core.exchange.paper_markets INFO.json.gz > core/data/markets/binance_spot.json`.
"""

from __future__ import annotations

import gzip
import json
import sys
from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from core.domain.models import ZERO, Market, MarketRules

MARKETS_DIR = Path(__file__).resolve().parent.parent / "data" / "markets"

# The assets the shipped file covers: the seed portfolio, the default watchlist and the other
# large, long-listed spot assets, against the quotes a portfolio is valued in.
BUNDLED_ASSETS = (
    "BTC", "ETH", "SOL", "AVAX", "BNB", "XRP", "ADA", "LINK", "DOGE", "DOT", "MATIC", "LTC", "TRX",
    "ATOM", "NEAR", "BCH", "XLM", "UNI", "ETC", "XTZ", "AAVE", "SHIB", "FIL", "ICP", "NEO", "ARB",
    "OP", "USDC", "FDUSD", "TUSD", "BUSD", "DAI", "USDT",
)
BUNDLED_QUOTES = ("USDT", "USD", "BTC", "FDUSD", "USDC", "TUSD", "DAI")


class MarketsFileError(ValueError):
    """A markets file is missing or malformed; the message names the file and the entry."""


def _decimal_text(value: Decimal) -> str:
    """Write a Decimal without exponent or trailing zeros ("10", "0.00001")."""
    return format(value.normalize(), "f")


def _filter_value(filters: Mapping[str, Mapping[str, Any]], kind: str, key: str) -> Decimal:
    entry = filters.get(kind)
    if entry is None or key not in entry:
        return ZERO
    return Decimal(str(entry[key]))


def markets_from_exchange_info(
    info: Mapping[str, Any],
    *,
    assets: Collection[str] = BUNDLED_ASSETS,
    quotes: Collection[str] = BUNDLED_QUOTES,
) -> dict[str, Market]:
    """Trading spot markets of `assets` against `quotes` from a Binance `exchangeInfo` response.

    Reads `LOT_SIZE` (step, minimum amount), `PRICE_FILTER` (tick) and the minimum notional from
    `NOTIONAL` (since 2023) or `MIN_NOTIONAL` (before). Symbols not `TRADING` are left out.
    """
    markets: dict[str, Market] = {}
    for entry in info.get("symbols", []):
        base, quote = entry.get("baseAsset"), entry.get("quoteAsset")
        if base not in assets or quote not in quotes or entry.get("status") != "TRADING":
            continue
        filters = {f["filterType"]: f for f in entry.get("filters", [])}
        step = _filter_value(filters, "LOT_SIZE", "stepSize")
        tick = _filter_value(filters, "PRICE_FILTER", "tickSize")
        notional = _filter_value(filters, "NOTIONAL", "minNotional") or _filter_value(
            filters, "MIN_NOTIONAL", "minNotional"
        )
        rules = MarketRules(
            min_notional=notional.normalize(),
            amount_step=step.normalize() if step > 0 else None,
            min_amount=_filter_value(filters, "LOT_SIZE", "minQty").normalize(),
            price_tick=tick.normalize() if tick > 0 else None,
        )
        symbol = f"{base}/{quote}"
        markets[symbol] = Market(symbol=symbol, base=base, quote=quote, rules=rules)
    return dict(sorted(markets.items()))


def markets_to_json(markets: Iterable[Market], source: str) -> str:
    """Serialise markets in the shipped file's shape (decimals as strings)."""

    def optional(value: Decimal | None) -> str | None:
        return None if value is None else _decimal_text(value)

    body = {
        "source": source,
        "markets": {
            m.symbol: {
                "base": m.base,
                "quote": m.quote,
                "amount_step": optional(m.rules.amount_step),
                "min_amount": _decimal_text(m.rules.min_amount),
                "price_tick": optional(m.rules.price_tick),
                "min_notional": _decimal_text(m.rules.min_notional),
            }
            for m in markets
        },
    }
    return json.dumps(body, indent=1) + "\n"


def read_markets_file(path: Path) -> dict[str, Market]:
    """Read a markets file written by `markets_to_json`."""
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MarketsFileError(f"markets file {path} does not exist") from None
    except json.JSONDecodeError as error:
        raise MarketsFileError(f"markets file {path} is not valid JSON: {error}") from None
    markets: dict[str, Market] = {}
    for symbol, entry in body.get("markets", {}).items():
        try:
            step, tick = entry.get("amount_step"), entry.get("price_tick")
            rules = MarketRules(
                min_notional=Decimal(entry["min_notional"]),
                amount_step=None if step is None else Decimal(step),
                min_amount=Decimal(entry["min_amount"]),
                price_tick=None if tick is None else Decimal(tick),
            )
            markets[symbol] = Market(
                symbol=symbol, base=entry["base"], quote=entry["quote"], rules=rules
            )
        except (KeyError, TypeError, InvalidOperation) as error:
            raise MarketsFileError(
                f"markets file {path}: entry {symbol} is malformed ({error!r})"
            ) from None
    return markets


def bundled_markets(exchange: str = "binance") -> dict[str, Market]:
    """The shipped spot markets of `exchange` (only `binance` is shipped)."""
    path = MARKETS_DIR / f"{exchange}_spot.json"
    if not path.exists():
        shipped = sorted(p.name.removesuffix("_spot.json") for p in MARKETS_DIR.glob("*_spot.json"))
        raise MarketsFileError(
            f"no shipped market rules for exchange {exchange!r} (shipped: {', '.join(shipped)})"
        )
    return read_markets_file(path)


def load_exchange_info(path: Path) -> dict[str, Any]:
    """Read a saved `exchangeInfo` response, gzipped or not."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        info: dict[str, Any] = json.load(handle)
    return info


def main(argv: list[str]) -> int:
    """Print the shipped-markets JSON made from the exchangeInfo file named in `argv[1]`."""
    if len(argv) != 2:
        sys.stderr.write("usage: python -m core.exchange.paper_markets EXCHANGEINFO.json[.gz]\n")
        return 2
    path = Path(argv[1])
    info = load_exchange_info(path)
    markets = markets_from_exchange_info(info)
    server_time = datetime.fromtimestamp(int(info.get("serverTime", 0)) / 1000, UTC)
    source = (
        f"Binance GET /api/v3/exchangeInfo at {server_time:%Y-%m-%d %H:%M:%S} UTC ({path.name})"
    )
    sys.stdout.write(markets_to_json(markets.values(), source=source))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
