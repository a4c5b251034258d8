"""Operations beside the engine: upkeep, backups, the watchdog, the daily summary, the outbox,
event logs and `ballast check`'s look at the files."""
