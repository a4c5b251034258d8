"""Exchanges behind one async protocol: live (ccxt), paper, and the backtest's replay."""
