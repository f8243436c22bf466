"""One way to open a connection or transaction, with database errors surfacing as `StoreError`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext

from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.errors import StoreError

__all__ = ["WRITE_LOCK", "transaction"]

# Execution option of a SQLite engine (`gateway.store.engine.create_engine`): an asyncio.Lock
# that makes this process's write transactions take turns. SQLite has one writer at a time;
# without it, a writer that finds the database locked by another of this process's connections
# sleeps in SQLite's busy handler (1, 2, 5, 10 … ms) instead of starting the moment it is free.
WRITE_LOCK = "kefu_write_lock"


@asynccontextmanager
async def transaction(
    engine: AsyncEngine, what: str, *, write: bool = True
) -> AsyncIterator[AsyncConnection]:
    """A transaction (`write`) or a plain connection; commits on success, rolls back on error.

    An `IntegrityError` (a unique or check constraint) passes through unchanged: callers turn it
    into the domain's answer (a conflict, a lost race to retry).
    """
    lock: AbstractAsyncContextManager[object] = nullcontext()
    if write:
        lock = engine.get_execution_options().get(WRITE_LOCK) or lock
    try:
        async with lock, engine.begin() if write else engine.connect() as conn:
            yield conn
    except IntegrityError:
        raise
    except (SQLAlchemyError, OSError) as exc:
        raise StoreError(f"{what} failed: {type(exc).__name__}") from exc
