"""What every I/O part uses: structured logs with secrets scrubbed, retry backoff, stoppable waits,
and the one-bot-per-account lock."""
