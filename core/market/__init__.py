"""Market data: timeframes, candle files, their download from an exchange, and the SQLite
candle cache."""
