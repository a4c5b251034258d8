"""Which way an asset's signal leans, read from the EMAs it carries: pure, and light enough for
the policy and the chat to read without loading the signal machinery (pandas)."""

from __future__ import annotations

import math

from core.domain.models import AssetSignal

# Two EMAs this close (relative) read as level.
EPSILON = 1e-9
_EMA_PREFIX = "ema_"


def trend(signal: AssetSignal) -> str | None:
    """"rising" when the fastest EMA is above the slowest, "falling" below, "flat" level; None
    when the signal carries no two EMAs (a what-if signal, too short a history)."""
    emas = sorted((int(key.removeprefix(_EMA_PREFIX)), value)
                  for key, value in signal.indicators.items()
                  if key.startswith(_EMA_PREFIX) and key.removeprefix(_EMA_PREFIX).isdigit()
                  and math.isfinite(value))
    if len(emas) < 2:
        return None
    fast, slow = emas[0][1], emas[-1][1]
    if abs(fast - slow) <= EPSILON * max(abs(slow), 1.0):
        return "flat"
    return "rising" if fast > slow else "falling"
