"""Waiting between retries: one backoff rule for every place that retries after a failure."""

from __future__ import annotations


def backoff_delay(attempt: int, base: float, cap: float) -> float:
    """Seconds before retry number `attempt` (1-based): base · 2^(attempt-1), at most `cap`."""
    return float(min(base * 2 ** (attempt - 1), cap))
