"""The durable local outbox: where an inbound message waits when RabbitMQ cannot take it.

When the broker is down or does not confirm in time, the message's envelope is written here (a
committed transaction) and the platform is answered success; `drain` publishes waiting messages
in arrival order once the broker is back and deletes each after its confirm. While anything waits,
new messages queue behind it, so order is kept. The outbox is bounded: when full, `put` raises
`OutboxFull` and the platform gets 503 (it retries). With PostgreSQL, several gateway processes
drain one outbox without publishing a row twice (``FOR UPDATE SKIP LOCKED``).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable

import orjson
from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.errors import BrokerUnavailable, PublishError
from gateway.models import Envelope
from gateway.store.schema import outbox as t
from gateway.store.tx import transaction

__all__ = ["OutboxFull", "OutboxStore"]


class OutboxFull(BrokerUnavailable):
    """RabbitMQ is unavailable and the local outbox has no room left."""


class OutboxStore:
    def __init__(self, engine: AsyncEngine, *, max_rows: int) -> None:
        self._engine = engine
        self._max_rows = max_rows
        self.waiting = 0  # this process's view; refreshed by `depth` and `drain`

    @property
    def enabled(self) -> bool:
        return self._max_rows > 0

    async def depth(self) -> int:
        async with transaction(self._engine, "outbox depth", write=False) as conn:
            self.waiting = int(
                (await conn.execute(select(func.count()).select_from(t))).scalar_one()
            )
        return self.waiting

    async def put(self, envelope: Envelope) -> None:
        """Keep `envelope` durably; OutboxFull when the outbox is at its limit."""
        async with transaction(self._engine, "outbox put") as conn:
            count = int((await conn.execute(select(func.count()).select_from(t))).scalar_one())
            if count >= self._max_rows:
                raise OutboxFull(f"RabbitMQ unavailable and the outbox holds {count} messages")
            await conn.execute(
                insert(t).values(
                    message_id=envelope.message_id,
                    routing_key=envelope.routing_key,
                    body=envelope.body,
                    headers=orjson.dumps(dict(envelope.headers)).decode(),
                    created_at=time.time(),
                )
            )
        self.waiting = count + 1

    async def discard(self, message_ids: Iterable[str]) -> int:
        """Delete the copies of messages RabbitMQ confirmed after all; how many were deleted."""
        async with transaction(self._engine, "outbox discard") as conn:
            result = await conn.execute(delete(t).where(t.c.message_id.in_(list(message_ids))))
        await self.depth()
        return int(result.rowcount or 0)

    async def drain(self, publish: Callable[[Envelope], Awaitable[None]], batch: int = 200) -> int:
        """Publish waiting messages in order until the outbox is empty or a publish fails (the
        published ones are deleted and committed first, then the failure is raised)."""
        published = 0
        while True:
            failure: PublishError | None = None
            async with transaction(self._engine, "outbox drain") as conn:
                rows = (
                    await conn.execute(
                        select(t).order_by(t.c.seq).limit(batch).with_for_update(skip_locked=True)
                    )
                ).all()
                done: list[int] = []
                for row in rows:
                    envelope = Envelope(
                        row.routing_key, row.message_id, row.body, orjson.loads(row.headers)
                    )
                    try:
                        await publish(envelope)
                    except PublishError as exc:
                        failure = exc
                        break
                    done.append(row.seq)
                if done:
                    await conn.execute(delete(t).where(t.c.seq.in_(done)))
            published += len(done)
            if failure is not None:
                await self.depth()
                raise failure
            if len(rows) < batch:
                await self.depth()
                return published
