"""Retrying the live adapter's reads: exponential backoff on network errors and rate limits.

Only reads go through here. Orders are never retried blindly: a lost order answer is looked
up by its client order id instead (see `core.exchange.ccxt_orders`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from core.exchange.ccxt_loader import ccxt
from core.exchange.errors import ExchangeError, ExchangeUnavailable, RateLimited
from core.runtime.retry import backoff_delay

log = logging.getLogger(__name__)
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How reads are retried, and how long a lost order is looked for (seconds)."""

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 30.0
    lookup_attempts: int = 4

    def delay(self, attempt: int) -> float:
        """Backoff before retry number `attempt` (1-based): base · 2^(attempt-1), capped."""
        return backoff_delay(attempt, self.base_delay, self.max_delay)


async def read_with_retry[T](
    call: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    translate: Callable[[ccxt.BaseError], ExchangeError],
    sleep: Sleep,
) -> T:
    """Run a read, retrying network errors and rate limits with backoff (bounded).

    Any other error, a `Retry-After` longer than the policy allows, or the last attempt's
    error is raised as the Ballast error `translate` makes of it.
    """
    attempt = 1
    while True:
        try:
            return await call()
        except ccxt.BaseError as error:
            problem = translate(error)
            if not isinstance(problem, ExchangeUnavailable | RateLimited):
                raise problem from None
            delay = policy.delay(attempt)
            if isinstance(problem, RateLimited) and problem.retry_after is not None:
                if problem.retry_after > policy.max_retry_after:
                    raise problem from None
                delay = max(delay, problem.retry_after)
            if attempt >= policy.attempts:
                raise problem from None
            log.warning("%s (attempt %d of %d); retrying in %.1f s", problem, attempt,
                        policy.attempts, delay)
            await sleep(delay)
            attempt += 1
