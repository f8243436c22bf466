"""One way to open a connection or transaction, with database errors surfacing as `StoreError`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.errors import StoreError

__all__ = ["store_errors", "transaction"]


@contextmanager
def store_errors(what: str) -> Iterator[None]:
    """Database and I/O errors raised inside become `StoreError("<what> failed: …")`.

    An `IntegrityError` (a unique or check constraint) passes through unchanged: callers turn it
    into the domain's answer (a conflict, a lost race to retry).
    """
    try:
        yield
    except IntegrityError:
        raise
    except (SQLAlchemyError, OSError) as exc:
        raise StoreError(f"{what} failed: {type(exc).__name__}") from exc


@asynccontextmanager
async def transaction(
    engine: AsyncEngine, what: str, *, write: bool = True
) -> AsyncIterator[AsyncConnection]:
    """A transaction (`write`) or a plain connection; commits on success, rolls back on error
    (errors as in `store_errors`)."""
    with store_errors(what):
        async with engine.begin() if write else engine.connect() as conn:
            yield conn
