"""Stand-in servers on 127.0.0.1 that the real clients (ccxt, python-telegram-bot) talk to."""
