"""Strategies: indicators (pandas-ta) → a state per candle → a vote with a reason in numbers.

A strategy works on one *contiguous* run of closed candles (no gap inside; see
`core.signals.history`) and is vectorised: it computes its indicator series over the whole run
at once. Each value at candle `t` depends only on candles up to `t` (no look-ahead): pandas-ta
indicators are causal, and nothing here shifts a series backwards.

A strategy's *state* at a candle is -1 (sell), 0 (neutral) or +1 (buy), NaN where its
indicators are not defined. Level strategies vote their state while it lasts; crossing
strategies (`crossing = True`, e.g. a MACD cross) vote only when the state has just turned.

The built-in ones come in three families, mean reversion (`core.signals.reversion`), trend
(`core.signals.trend`) and long-horizon trend on daily candles (`core.signals.long_trend`), over
the shared arithmetic of `core.signals.indicators`. Each strategy reads the candles of its own
timeframe (`Strategy.timeframe`): the signal's `timeframe`, or a longer one (`core.signals.history`
puts their votes on one clock). Adding a strategy: write a class with the members of `Strategy`
and call `register(MyClass())`; its name can then be listed in the `strategies` setting.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import pandas as pd

from core.config.rules import SignalSettings
from core.config.settings import SettingsError
from core.market.candles import timeframe_ms
from core.signals.indicators import FloatArray
from core.signals.long_trend import LookbackScore, MovingAverageBand
from core.signals.reversion import BollingerBreak, Rsi
from core.signals.trend import EmaTrend, MacdCross


class Strategy(Protocol):
    """What the signal engine needs from a strategy."""

    name: str
    """The name used in settings and votes (e.g. `rsi`)."""

    crossing: bool
    """True: vote on the candle the state turns (an event); False: vote while the state lasts."""

    def timeframe(self, settings: SignalSettings) -> str:
        """The candles it reads: the signal's `timeframe` (what a class deriving from `Strategy`
        gets without saying), or a longer one (`1d` for a daily strategy)."""
        return settings.timeframe

    def label(self, settings: SignalSettings) -> str:
        """The strategy with its parameters, as reasons show it (e.g. `RSI(14)`)."""
        ...

    def candles_needed(self, settings: SignalSettings) -> int:
        """How many contiguous closed candles its state needs to be defined."""
        ...

    def compute(self, candles: pd.DataFrame, settings: SignalSettings) -> dict[str, FloatArray]:
        """Indicator series over a contiguous run of candles (columns open…volume, at least
        `candles_needed` rows), keyed as the signals JSON names them; NaN where undefined."""
        ...

    def states(
        self, indicators: Mapping[str, FloatArray], close: FloatArray, settings: SignalSettings
    ) -> FloatArray:
        """The state per candle: -1, 0, +1, or NaN where the indicators are undefined."""
        ...

    def explain(
        self,
        values: Mapping[str, float],
        close: float,
        state: int,
        crossed: bool,
        settings: SignalSettings,
    ) -> str:
        """The numbers behind a state at one candle; `crossed`: the state has just turned."""
        ...


STRATEGIES: dict[str, Strategy] = {}
"""Registered strategies by name."""


def register(strategy: Strategy) -> Strategy:
    """Make `strategy` available under its name (replacing one of the same name)."""
    STRATEGIES[strategy.name] = strategy
    return strategy


def selected_strategies(settings: SignalSettings) -> tuple[Strategy, ...]:
    """The strategies named in `settings.strategies`, in that order.

    Raises `SettingsError` naming an unknown strategy.
    """
    chosen = []
    for name in settings.strategies:
        strategy = STRATEGIES.get(name)
        if strategy is None:
            known = ", ".join(sorted(STRATEGIES))
            raise SettingsError(f"strategies = {name!r}: unknown strategy (known: {known})")
        chosen.append(strategy)
    return tuple(chosen)


def on_timeframe(settings: SignalSettings, timeframe: str | None) -> SignalSettings:
    """`settings` with the signal read from `timeframe` candles (a command's `--timeframe`):
    the strategies that read the signal's timeframe read these."""
    if timeframe is None or timeframe == settings.timeframe:
        return settings
    return settings.model_copy(update={"timeframe": timeframe})


def timeframes(settings: SignalSettings) -> tuple[str, ...]:
    """The timeframes the selected strategies read: the signal's `timeframe` first."""
    others = {s.timeframe(settings) for s in selected_strategies(settings)} - {settings.timeframe}
    return (settings.timeframe, *sorted(others, key=timeframe_ms))


register(Rsi())
register(MacdCross())
register(EmaTrend())
register(BollingerBreak())
register(MovingAverageBand())
register(LookbackScore())
