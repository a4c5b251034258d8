"""Market data: timeframes, candle files and the SQLite candle cache."""
