"""The shared backoff rule: doubling from the base, capped."""

from core.runtime.retry import backoff_delay


def test_doubles_from_base_then_caps() -> None:
    assert [backoff_delay(n, 0.5, 8.0) for n in range(1, 8)] == [
        0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_cap_applies_from_the_first_attempt() -> None:
    assert backoff_delay(1, 10.0, 3.0) == 3.0


def test_returns_float_for_int_arguments() -> None:
    delay = backoff_delay(3, 5, 300)
    assert delay == 20.0 and isinstance(delay, float)
