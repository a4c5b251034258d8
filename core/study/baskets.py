"""Seeded random baskets and yearly folds for studies broad enough to trust (docs/study.md).

A basket is 3–8 of the pairs a candle directory holds, equal weight, with 0–10% cash; the same
pool and seed give the same baskets on every machine (Python's `random.Random`, whose integer
and sample draws are stable across versions). Its folds are the calendar years of the study
period in which every asset of it has candles from before the year began to its end. Pure:
candle frames in, baskets and folds out.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import pandas as pd

from core.backtest.inputs import PortfolioFile
from core.domain.models import Balance, epoch_ms
from core.study.folds import Period

MIN_ASSETS, MAX_ASSETS = 3, 8
MAX_CASH_PERCENT = 10
# A basket needs this many yearly folds: walk-forward chooses on one and reports the next.
MIN_FOLDS = 2
# Draws allowed per basket before the pool is declared too thin for the period.
MAX_DRAWS = 1000
BASKET_VALUE = Decimal(10_000)
AMOUNT_PLACES = Decimal("0.00000001")


@dataclass(frozen=True, slots=True)
class Basket:
    """A drawn basket: its assets (equal weight), its cash share and its yearly folds."""

    name: str
    assets: tuple[str, ...]
    cash: Decimal
    folds: tuple[Period, ...]

    def as_dict(self) -> dict[str, object]:
        """The basket as the study's JSON records it."""
        return {"name": self.name, "assets": list(self.assets), "cash": float(self.cash),
                "from": _day(self.folds[0].start_ms), "to": _day(self.folds[-1].end_ms - 1)}


def yearly_folds(frames: Mapping[str, pd.DataFrame], assets: Iterable[str], period: Period,
                 step_ms: int, lead_ms: int = 0) -> tuple[Period, ...]:
    """The calendar years of `period` (cut to it) in which every one of `assets` has candles
    from the candle before the year starts, and `lead_ms` before it (the signals' warm-up, so
    that every strategy can vote from the fold's first day), to the last candle of the year."""
    spans = []
    for asset in assets:
        frame = frames.get(asset)
        if frame is None or not len(frame):
            return ()
        spans.append((int(frame.index[0]), int(frame.index[-1])))
    folds = []
    first = datetime.fromtimestamp(period.start_ms / 1000, UTC).year
    last = datetime.fromtimestamp((period.end_ms - 1) / 1000, UTC).year
    for year in range(first, last + 1):
        start = max(period.start_ms, epoch_ms(datetime(year, 1, 1, tzinfo=UTC)))
        end = min(period.end_ms, epoch_ms(datetime(year + 1, 1, 1, tzinfo=UTC)))
        lead = max(step_ms, lead_ms)
        if all(low <= start - lead and high >= end - step_ms for low, high in spans):
            folds.append(Period(start, end))
    return tuple(folds)


def draw_baskets(frames: Mapping[str, pd.DataFrame], count: int, seed: int, period: Period,
                 step_ms: int, lead_ms: int = 0) -> list[Basket]:
    """`count` baskets drawn with `seed` from the pairs of `frames`, each with at least
    `MIN_FOLDS` yearly folds in `period` (a draw with fewer is drawn again)."""
    if count < 1:
        raise ValueError(f"--baskets {count}: must be at least 1")
    pool = sorted(a for a in frames if yearly_folds(frames, [a], period, step_ms, lead_ms))
    if len(pool) < MIN_ASSETS:
        raise ValueError(f"only {len(pool)} pairs ({', '.join(pool) or 'none'}) have a whole "
                         f"year of candles in the study period; a basket needs {MIN_ASSETS}")
    rng = random.Random(seed)
    baskets = []
    for number in range(1, count + 1):
        for _ in range(MAX_DRAWS):
            size = rng.randint(MIN_ASSETS, min(MAX_ASSETS, len(pool)))
            assets = tuple(sorted(rng.sample(pool, size)))
            cash = Decimal(rng.randint(0, MAX_CASH_PERCENT)) / 100
            folds = yearly_folds(frames, assets, period, step_ms, lead_ms)
            if len(folds) >= MIN_FOLDS:
                baskets.append(Basket(f"basket-{seed}-{number}", assets, cash, folds))
                break
        else:
            raise ValueError(f"no basket of the pool has {MIN_FOLDS} years of candles in common "
                             "in the study period: lengthen it")
    return baskets


def basket_portfolio(basket: Basket, frames: Mapping[str, pd.DataFrame], quote: str,
                     value: Decimal = BASKET_VALUE) -> PortfolioFile:
    """The basket as a starting portfolio worth `value`: equal weights at the closes just
    before its first fold, its cash in `quote`. Each fold starts from these quantities."""
    start = basket.folds[0].start_ms
    share = (1 - basket.cash) * value / len(basket.assets)
    balances = {quote: Balance(basket.cash * value)}
    for asset in basket.assets:
        frame = frames[asset]
        closes = frame["close"][frame.index < start].dropna()
        price = Decimal(repr(float(closes.iloc[-1])))
        balances[asset] = Balance((share / price).quantize(AMOUNT_PLACES))
    return PortfolioFile(quote=quote, balances=balances, positions={}, watchlist=None,
                         settings={})


def portfolio_folds(frames: Mapping[str, pd.DataFrame], assets: Sequence[str], period: Period,
                    step_ms: int, name: str, lead_ms: int = 0) -> tuple[Period, ...]:
    """`yearly_folds` for a given portfolio; a clear error when it has none."""
    folds = yearly_folds(frames, assets, period, step_ms, lead_ms)
    if not folds:
        raise ValueError(f"portfolio {name}: no calendar year of the study period has candles "
                         f"for all of {', '.join(sorted(assets))}")
    return folds


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")
