"""`ballast study`: backtests of a grid of settings over walk-forward folds, and their statistics.

Pure parts: the grid (`grid`), the folds (`folds`), chaining curves and walk-forward selection
(`selection`), PBO, the deflated Sharpe ratio and Hansen's SPA (`stats`), seeded random baskets
and yearly folds (`baskets`), the report (`report`). The
imperative shell: one backtest in a worker (`tasks`) and running them in parallel (`parallel`).
"""
