"""/signals on one screen: one line per asset (its signal, its score against the threshold that
decides it, its trend), holdings first, then the watchlist; the votes behind a button. Pure.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.telegram.callbacks import Action, encode
from bot.telegram.format import LINE_WIDTH, esc, fit
from bot.telegram.views import SIGNAL_MARKS, View, wrap_lines
from core.config.rules import SignalSettings
from core.domain.models import AssetSignal, SignalKind
from core.domain.trend import trend

TREND_MARKS = {"rising": "↗", "falling": "↘", "flat": "→"}
ASSET_SHOWN = 8


def signals_summary_view(
    signals: Mapping[str, AssetSignal],
    timeframe: str,
    rules: SignalSettings,
    held: Collection[str],
) -> View:
    """Each asset on one line, holdings (`held`) first, weakest first within each group."""
    lines = [f"📡 <b>Signals</b> · {esc(timeframe)} candles"]
    if not signals:
        lines.extend(wrap_lines("No signals yet: the first scan has not finished."))
        return View("\n".join(lines))
    order = sorted(signals.values(), key=lambda s: (s.score, s.asset))
    groups = (("Held", [s for s in order if s.asset in held]),
              ("Watchlist", [s for s in order if s.asset not in held]))
    for title, members in groups:
        if members:
            lines.append(f"<i>{title}</i>")
            lines.extend(_line(signal, rules) for signal in members)
    lines.append(f"<i>{esc(LEGEND)}</i>")
    buttons = InlineKeyboardMarkup([[
        InlineKeyboardButton("🔎 Votes and reasons",
                             callback_data=encode(Action.SIGNAL_DETAILS)),
    ]])
    return View("\n".join(lines), buttons)


def _line(signal: AssetSignal, rules: SignalSettings) -> str:
    mark = SIGNAL_MARKS.get(signal.signal, "")
    kind = signal.signal.value.replace("_", " ")
    arrow = TREND_MARKS.get(trend(signal) or "", "")
    score = f"{signal.score:+.2f}".replace("-", "−")
    text = f"{kind} {score} ({threshold(signal, rules)}) {arrow}".rstrip()
    # A long name gives way first: the figures are what the line is for.
    room = LINE_WIDTH - len(mark) - len(text) - 2
    return f"{mark} <b>{esc(fit(signal.asset, min(ASSET_SHOWN, room)))}</b> {esc(text)}"


def threshold(signal: AssetSignal, rules: SignalSettings) -> str:
    """The line the score is measured against: for BUY/SELL the one that made it, for HOLD the
    nearer one it would cross ("buy at +0.50"); under a vote rule, the votes for SELL."""
    if rules.sell_rule != "score":
        sells = sum(1 for vote in signal.votes if vote.vote < 0)
        return f"{sells}/{len(signal.votes)} sell"
    buy, sell, strong = rules.buy_enter_score, rules.sell_enter_score, rules.strong_buy_score
    match signal.signal:
        case SignalKind.STRONG_BUY:
            return f"≥ +{strong:.2f}"
        case SignalKind.BUY:
            return f"≥ +{buy:.2f}"
        case SignalKind.SELL:
            return f"≤ −{sell:.2f}"
    return f"buy at +{buy:.2f}" if signal.score >= 0 else f"sell at −{sell:.2f}"


LEGEND = "Score −1 (sell) to +1 (buy); ↗ ↘ trend"
