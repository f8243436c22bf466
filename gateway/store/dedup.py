"""Callback dedup: at most one publish per message id, even under concurrent platform retries.

A message id is *claimed* (an INSERT that loses on the primary key when another request holds
it) before its publish and marked *done* after the confirm. Outcomes of `claim`:

- `Claim.OWNED`: this request publishes; it must call `done` or `release`.
- `Claim.DUPLICATE`: already published; answer the platform success, publish nothing.
- `Claim.BUSY`: another request is publishing it right now; answer an error so the platform
  retries. A claim older than `stale_after` (a crashed process) is taken over instead.

The database's unique key does the arbitration, so this holds across gateway processes that
share PostgreSQL.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable

from sqlalchemy import and_, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Executable

from gateway.store.schema import callback_dedup as t
from gateway.store.tx import transaction

__all__ = ["Claim", "DedupStore"]

PENDING, DONE = 0, 1


class Claim(enum.Enum):
    OWNED = "owned"
    DUPLICATE = "duplicate"
    BUSY = "busy"


class DedupStore:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        ttl: float,
        stale_after: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._engine = engine
        self._ttl = ttl
        self._stale_after = stale_after
        self._clock = clock
        self._insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert

    async def claim(self, message_id: str) -> Claim:
        now = self._clock()
        stmt = (
            self._insert(t)
            .values(id=message_id, state=PENDING, claimed_at=now, expires_at=now + self._ttl)
            .on_conflict_do_nothing(index_elements=["id"])
        )
        async with transaction(self._engine, "dedup claim") as conn:
            if (await conn.execute(stmt)).rowcount == 1:
                return Claim.OWNED
            query = select(t.c.state, t.c.claimed_at).where(t.c.id == message_id)
            row = (await conn.execute(query)).one_or_none()
            if row is None:  # purged between the two statements: claim again next time
                return Claim.BUSY
            if row.state == DONE and row.claimed_at > now - self._ttl:
                return Claim.DUPLICATE
            if row.state == PENDING and row.claimed_at > now - self._stale_after:
                return Claim.BUSY
            taken = await conn.execute(
                update(t)
                .where(and_(t.c.id == message_id, t.c.claimed_at == row.claimed_at))
                .values(state=PENDING, claimed_at=now, expires_at=now + self._ttl)
            )
            return Claim.OWNED if taken.rowcount == 1 else Claim.BUSY

    async def done(self, message_id: str) -> None:
        await self._write(update(t).where(t.c.id == message_id).values(state=DONE))

    async def release(self, message_id: str) -> None:
        await self._write(delete(t).where(and_(t.c.id == message_id, t.c.state == PENDING)))

    async def purge_expired(self, batch: int = 5000) -> int:
        """Delete up to `batch` expired rows; returns how many."""
        now = self._clock()
        ids = select(t.c.id).where(t.c.expires_at < now).limit(batch).scalar_subquery()
        async with transaction(self._engine, "dedup purge") as conn:
            return (await conn.execute(delete(t).where(t.c.id.in_(ids)))).rowcount

    async def _write(self, stmt: Executable) -> None:
        async with transaction(self._engine, "dedup update") as conn:
            await conn.execute(stmt)
