"""Backtests: Ballast's engine and policy replayed on a historical clock, with metrics and
the two benchmarks it must beat (buy-and-hold and monthly calendar rebalancing)."""
