"""The running bot's engine: scans, plans, approvals, exactly-once execution, recovery, events.

Front-ends use `EngineService` and subscribe to the `EventBus`; nothing here imports `bot`.
"""
