"""The domain: its types, a portfolio's valuation, exchange rounding and the sanity gate. Pure."""
