"""The store: SQLAlchemy 2 Core (async) on SQLite (embedded default) or PostgreSQL."""
