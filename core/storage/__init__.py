"""SQLite storage: the database and its migrations, its one shared connection, its health, the
settings changed in the chat, and values stored as checked JSON text (`stored_json`)."""
