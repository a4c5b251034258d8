"""The offline demo's ingredients: bundled candles, the seed portfolio, default settings.

The candles ship inside the `core` package (`core/data/demo/`), so the demo finds them the same
way from a checkout and from an installed wheel. Settings are the defaults with auto approval,
whatever the environment says: the demo must behave the same for everyone, with no keys and no
network.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from core.backtest.replay import MarketReplay, load_replay
from core.backtest.runner import BacktestResult, starting_portfolio
from core.backtest.simulation import BacktestInput
from core.config.settings import Settings, load_settings
from core.domain.models import epoch_ms
from core.exchange.factory import SEED_PORTFOLIO
from core.policy.reserve import cash_reason

DEMO_CANDLES = Path(__file__).resolve().parent.parent / "data" / "demo"
DEMO_TIMEFRAME = "1h"
DEMO_QUOTE = "USDT"
DEMO_START = datetime(2023, 1, 1, tzinfo=UTC)
DEMO_END = datetime(2025, 1, 1, tzinfo=UTC)
# The signals warm up on candles before the first decision, so the full replay starts later.
FULL_REPLAY_START = DEMO_START + timedelta(days=30)


def demo_candles() -> Path:
    """The bundled candle directory; a clear error if this installation lacks it."""
    if not any(DEMO_CANDLES.glob(f"*_{DEMO_TIMEFRAME}.csv.gz")):
        raise FileNotFoundError(
            f"the bundled demo candles are missing from {DEMO_CANDLES}: reinstall Ballast"
        )
    return DEMO_CANDLES


def demo_settings() -> Settings:
    """Default settings, paper mode, auto approval (the environment is not read)."""
    return load_settings(env={}, mode="paper", approval="auto")


def demo_input(settings: Settings) -> BacktestInput:
    """The seed portfolio (portfolio S of docs/rules.md) with the default watchlist."""
    start = starting_portfolio(DEMO_QUOTE, SEED_PORTFOLIO, tuple(settings.cash_assets))
    return BacktestInput(settings, start, {}, tuple(settings.watchlist))


def demo_replay(settings: Settings, start: datetime, end: datetime = DEMO_END) -> MarketReplay:
    """The bundled candles prepared for replay over [start, end)."""
    if not DEMO_START < start < end <= DEMO_END:
        raise ValueError(
            f"the demo replays {DEMO_START:%Y-%m-%d} … {DEMO_END:%Y-%m-%d}; "
            f"{start:%Y-%m-%d} … {end:%Y-%m-%d} is outside it"
        )
    return load_replay(
        demo_candles(), DEMO_TIMEFRAME, DEMO_QUOTE,
        epoch_ms(start), epoch_ms(end), settings.signal,
    )


def closing_cash_reason(result: BacktestResult, replay: MarketReplay, inp: BacktestInput) -> str:
    """Why the run ended with the cash it had (`cash_reason`), at the last decision's signals;
    the holdings are the portfolio's starting assets (conviction sizing rarely sells one out)."""
    cash = Decimal(repr(round(float(result.ballast.cash_share[-1]), 4)))
    held = [a for a in inp.start.amounts if a not in inp.settings.cash_assets]
    signals = replay.signals_at(replay.rows[-1], replay.assets)
    return cash_reason(cash, signals, held, inp.settings.policy)
