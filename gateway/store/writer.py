"""Run a whole write transaction as one synchronous function, in as few hops as the driver allows.

Through aiosqlite every statement costs three or four trips between the event loop and the
connection's thread (cursor, execute, fetch, close), and each waits for a turn of a busy loop: a
dedup flush of five statements took about ten trips and 1.4 ms of CPU. `SqliteWriter` runs the
transaction in one dedicated thread on a synchronous connection to the same database file: one
trip per transaction (bench/results/2026-12-07-hotpath.md, third round). `LoopWriter` runs the same
function through `AsyncConnection.run_sync` — PostgreSQL (asyncpg has no thread to hop to) and
in-memory SQLite (a second connection would open a different, empty database).

The function gets a SQLAlchemy `Connection` inside a transaction that commits when it returns
and rolls back when it raises; errors surface as in `gateway.store.tx.store_errors`. It may run
more than once: on PostgreSQL a transaction that loses a deadlock or a serialization conflict to
another gateway process is rolled back by the server and run again (up to three times), so it
must depend only on its arguments and the database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar

import structlog
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.errors import StoreError
from gateway.store.engine import SQLITE_LOCK_TIMEOUT, sqlite_pragmas
from gateway.store.tx import store_errors, transaction

__all__ = ["LoopWriter", "SqliteWriter", "Writer", "writer_for"]

log = structlog.get_logger("gateway.store")

T = TypeVar("T")

# SQLSTATEs after which PostgreSQL has rolled the transaction back and running it again can
# succeed: deadlock_detected, serialization_failure.
_TRANSIENT = frozenset({"40P01", "40001"})
_ATTEMPTS = 3


def _transient(exc: StoreError) -> str | None:
    """The SQLSTATE of a transaction lost to a concurrent one, else None."""
    cause = exc.__cause__
    if not isinstance(cause, DBAPIError):
        return None
    state = getattr(cause.orig, "sqlstate", None)
    return state if state in _TRANSIENT else None


class Writer(Protocol):
    async def run(self, what: str, write: Callable[[Connection], T]) -> T: ...

    async def close(self) -> None: ...


def writer_for(engine: AsyncEngine) -> Writer:
    """A `SqliteWriter` for a SQLite database file, else a `LoopWriter`."""
    url = engine.url
    in_memory = url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"
    if url.get_backend_name() == "sqlite" and not in_memory:
        return SqliteWriter(engine)
    return LoopWriter(engine)


class LoopWriter:
    """On the engine's own connections, through `run_sync`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def run(self, what: str, write: Callable[[Connection], T]) -> T:
        attempt = 1
        while True:
            try:
                async with transaction(self._engine, what) as conn:
                    return await conn.run_sync(write)
            except StoreError as exc:
                state = _transient(exc)
                if state is None or attempt == _ATTEMPTS:
                    raise
                log.warning("store.retried", what=what, sqlstate=state, attempt=attempt)
                attempt += 1

    async def close(self) -> None:
        return None


class SqliteWriter:
    """One thread, one synchronous connection (the same pragmas as the engine's)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._sync: Engine = create_engine(
            engine.url.set(drivername="sqlite"),
            connect_args={"timeout": SQLITE_LOCK_TIMEOUT, "check_same_thread": False},
            pool_size=1,
            max_overflow=0,
        )
        event.listen(self._sync, "connect", sqlite_pragmas)
        # The thread starts with the first write; nothing runs here until then.
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        self._closed = False

    async def run(self, what: str, write: Callable[[Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._in_transaction, what, write)

    def _in_transaction(self, what: str, write: Callable[[Connection], T]) -> T:
        with store_errors(what), self._sync.begin() as conn:
            return write(conn)

    async def close(self) -> None:
        """Finish what was submitted, close the connection, stop the thread."""
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._thread, self._sync.dispose)
        await loop.run_in_executor(None, self._thread.shutdown)
