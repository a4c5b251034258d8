"""The running bot's engine: scans, plans, approvals, exactly-once execution, recovery, events.

Front-ends use `EngineService` and subscribe to its `EventBus`; nothing here imports `bot`.
`core.engine.wiring.start_engine` builds a running engine from settings.
"""

from core.engine.approvals import Approval, ApprovalState, Decision
from core.engine.events import Event, EventBus, Subscription
from core.engine.loop import Engine
from core.engine.ports import Ports, Proposal, Scan
from core.engine.service import EngineService, History, PortfolioView, ServiceError, Status

__all__ = [
    "Approval",
    "ApprovalState",
    "Decision",
    "Engine",
    "EngineService",
    "Event",
    "EventBus",
    "History",
    "PortfolioView",
    "Ports",
    "Proposal",
    "Scan",
    "ServiceError",
    "Status",
    "Subscription",
]
