"""SQLite storage: the database and its migrations, its one shared connection, its health, and the
settings changed in the chat."""
