"""Engine creation and migrations at start-up.

SQLite runs in WAL mode with `synchronous=FULL` (every commit is fsynced: the outbox and dedup
rows must survive a power cut) and a busy timeout, so several connections of one process (and
the CLI) cooperate; PostgreSQL serializes concurrent migrations of several gateway processes with
an advisory lock.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Table, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from gateway.errors import StoreError

__all__ = [
    "POOLED_PAGE_CACHE_KIB",
    "SQLITE_LOCK_TIMEOUT",
    "create_engine",
    "insert_for",
    "migrate",
    "ping",
    "sqlite_pragmas",
]

_MIGRATIONS = Path(__file__).with_name("migrations")
_PG_MIGRATION_LOCK = 0x6B656675  # "kefu"
SQLITE_LOCK_TIMEOUT = 30.0  # seconds a SQLite connection waits for the write lock
POOLED_PAGE_CACHE_KIB = 256  # SQLite page cache of each pooled connection (the writer: 2 MB)


def create_engine(url: str) -> AsyncEngine:
    """An async engine for `url`; SQLite connections get WAL and a busy timeout."""
    if url.startswith("sqlite"):
        # Pooled connections are kept (each is a thread in aiosqlite: opening one per overflow
        # checkout cost more than the statements), and the most recently used is taken first:
        # its page cache is warm, and idle ones do not each warm a cache of their own.
        engine = create_async_engine(
            url,
            connect_args={"timeout": SQLITE_LOCK_TIMEOUT},
            pool_size=8,
            max_overflow=8,
            pool_use_lifo=True,
        )
        event.listen(engine.sync_engine, "connect", sqlite_pragmas)
        event.listen(engine.sync_engine, "connect", _pooled_page_cache)
        return engine
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)


def insert_for(dialect: str) -> Callable[[Table], postgresql.Insert | sqlite.Insert]:
    """The dialect's INSERT, with its ``ON CONFLICT`` clauses: PostgreSQL's, else SQLite's."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")  # the outbox promises durability: fsync commits
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _pooled_page_cache(dbapi_connection: Any, _record: Any) -> None:
    """A small page cache for each of the pool's connections (reads, admin writes). The operating
    system caches the file anyway; with SQLite's default of 2 MB each, the 16 of them (plus the
    writer's) filled theirs for the first tens of minutes of a busy gateway: a soak's RSS grew
    ≈ 2 MB a minute, against ≈ 0.8 with 64 KiB, at the same rate, p99 and CPU
    (bench/results/2026-12-07-hotpath.md). The store writer keeps the default: its B-tree pages
    are the hot ones."""
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA cache_size=-{POOLED_PAGE_CACHE_KIB}")
    cursor.close()


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    return config


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest revision (idempotent, safe with concurrent processes)."""
    try:
        async with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK}
                )
            await conn.run_sync(lambda sync: command.upgrade(alembic_config(sync), "heads"))
    except (SQLAlchemyError, OSError) as exc:
        raise StoreError(f"database migration failed: {type(exc).__name__}: {exc}") from exc


async def ping(engine: AsyncEngine) -> None:
    """StoreError unless a trivial query succeeds."""
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError) as exc:
        raise StoreError(f"database unreachable: {type(exc).__name__}") from exc
