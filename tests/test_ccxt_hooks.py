"""The ccxt internals Ballast relies on are still there.

`core/exchange/ccxt_errors.instrument_errors` wraps two of ccxt's internal hooks, which its
public API does not promise. pyproject pins ccxt below its next major version; these tests
fail loudly, before any money path does, if an upgrade within it renames or stops calling them.
"""

from __future__ import annotations

import inspect

from core.exchange.ccxt_loader import exchange_class


def test_the_response_hooks_exist_with_the_arguments_ballast_passes_on() -> None:
    binance = exchange_class("binance")
    assert binance is not None
    errors = list(inspect.signature(binance.handle_errors).parameters)
    status = list(inspect.signature(binance.handle_http_status_code).parameters)
    # instrument_errors reads the first five by position (code … headers) and passes the rest.
    assert errors[:6] == ["self", "code", "reason", "url", "method", "headers"]
    assert status[:2] == ["self", "code"]


def test_every_request_goes_through_both_hooks_in_order() -> None:
    """instrument_errors keeps the headers `handle_errors` saw for the status hook right after
    it: that only holds while `fetch` calls them back to back, in this order."""
    binance = exchange_class("binance")
    assert binance is not None
    source = inspect.getsource(binance.fetch)
    first = source.index("self.handle_errors(")
    second = source.index("self.handle_http_status_code(")
    assert first < second
    assert "await" not in source[first:second]
