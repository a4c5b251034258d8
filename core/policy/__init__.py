"""The rebalancing policy (docs/rules.md): pure and deterministic — portfolio, signals, settings and
market rules in; a `Plan` out. No I/O, no clock: `now` comes in with the input.

`project_portfolio` and `project_positions` show the state after a plan is executed at its
own prices (the engine and the no-churn property use them; real fills come from exchanges).
`reserve.cash_reason` says in words why cash is where it is (/status, the daily summary, the demo).
"""

from core.policy.plan import CASH_KEY, PlanInput, allocations_before, make_plan
from core.policy.projection import project_portfolio, project_positions

__all__ = [
    "CASH_KEY",
    "PlanInput",
    "allocations_before",
    "make_plan",
    "project_portfolio",
    "project_positions",
]
