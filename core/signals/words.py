"""Signals in words: each vote with its sign, and the rule behind a label.

Kept apart from `core.signals` (which loads pandas-ta) so that views and the engine's events
can explain a signal without loading the indicators.
"""

from __future__ import annotations

from core.config.rules import SignalSettings
from core.domain.models import AssetSignal, SignalKind, Vote

# Scores are means of a few votes: compare to thresholds with this slack (as core.signals does).
EPSILON = 1e-9


def vote_text(vote: Vote) -> str:
    """One strategy's reason with its vote in front: `+ macd: …` (BUY), `− rsi: …` (SELL)."""
    sign = "+" if vote.vote > 0 else "−" if vote.vote < 0 else "·"
    return f"{sign} {vote.strategy}: {vote.reason}"


def contradicts_score(signal: AssetSignal) -> bool:
    """Whether the label points the other way from the score (SELL at ≥ 0, a BUY at ≤ 0)."""
    if signal.signal is SignalKind.SELL:
        return signal.score >= -EPSILON
    if signal.signal in (SignalKind.BUY, SignalKind.STRONG_BUY):
        return signal.score <= EPSILON
    return False


def _signed(score: float) -> str:
    """A threshold with its sign, and none on zero ("≥ 0", not "≥ −0")."""
    return "0" if score == 0 else f"{score:+g}".replace("-", "−")


def explain(signal: AssetSignal, settings: SignalSettings) -> str:
    """The rule that made the signal what it is, in words (module docs)."""
    rule = settings.sell_rule
    count = len(signal.votes)
    sells = sum(1 for vote in signal.votes if vote.vote < 0)
    buys = sum(1 for vote in signal.votes if vote.vote > 0)
    tally = f"{sells} of {count} strategies vote SELL" if count else ""
    if signal.signal is SignalKind.SELL:
        if rule == "score":
            enter, leave = settings.sell_enter_score, settings.sell_exit_score
            if signal.score <= -enter + EPSILON:
                return f"SELL: score ≤ −{enter:g} (sell_rule = score)"
            return (f"SELL since the score fell to −{enter:g}; it stays SELL until the score "
                    f"is ≥ {_signed(-leave)} (sell_rule = score)")
        words = {"any": "one SELL vote sells", "majority": "more than half must vote SELL",
                 "all": "every strategy must vote SELL"}[rule]
        return f"SELL: {tally + '; ' if tally else ''}sell_rule = {rule}: {words}"
    if signal.signal in (SignalKind.BUY, SignalKind.STRONG_BUY):
        if rule == "score":
            enter, leave = settings.buy_enter_score, settings.buy_exit_score
            why = (f"score ≥ +{enter:g}" if signal.score >= enter - EPSILON else
                   f"BUY since the score rose to +{enter:g}, until it is ≤ {_signed(leave)}")
            why += " (sell_rule = score)"
        else:
            why = (f"{buys} BUY against {sells} SELL votes" if count else "more BUY than SELL "
                   "votes")
        if signal.signal is SignalKind.STRONG_BUY:
            why += f"; STRONG from a score of +{settings.strong_buy_score:g}"
        return f"{signal.signal.value}: {why}"
    if rule == "score":
        return (f"HOLD: score between −{settings.sell_enter_score:g} and "
                f"+{settings.buy_enter_score:g} (sell_rule = score)")
    return f"HOLD: {tally + '; ' if tally else ''}no SELL under sell_rule = {rule}, no BUY majority"
