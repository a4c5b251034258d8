"""Ballast's exchange errors: what went wrong, in words a trader understands.

Adapters translate their library's exceptions into these, so the engine and front-ends never
see ccxt types. Messages must never contain keys or secrets.
"""


class ExchangeError(Exception):
    """Base class: the exchange refused or could not complete a request."""


class AuthenticationFailed(ExchangeError):
    """The API key or secret is wrong, expired, or lacks a permission."""


class InsufficientFunds(ExchangeError):
    """The account does not hold enough of an asset for the order."""


class BelowMinimum(ExchangeError):
    """The order is smaller than the market's minimum amount or notional, or rounds to zero."""


class InvalidOrder(ExchangeError):
    """The exchange rejected the order's parameters (step, tick, unknown market …)."""


class OrderNotFound(ExchangeError):
    """No order with that id exists."""


class RateLimited(ExchangeError):
    """Too many requests; retry after `retry_after` seconds when known."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ExchangeUnavailable(ExchangeError):
    """The exchange could not be reached, timed out, or is in maintenance."""


class OrderOutcomeUnknown(ExchangeError):
    """An order was sent but its fate could not be established; it must be looked up, not resent."""
