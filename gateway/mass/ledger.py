"""The mass-send worker's side of the store: leases, recipient resolution, batches.

Restart safety comes from the rows, not from memory:

- a gateway process *leases* a due task (``owner``, ``lease_until``) and renews the lease while
  it works; a task whose lease ran out (its process died) is leased again by any process;
- `start` turns a pending task into a running one and, for a filter, resolves its recipients in
  the same transaction (a snapshot of the advisor's customers at that moment);
- `claim` takes the next batch: in one transaction it bumps the task's ``batch`` (only while the
  caller holds the lease and the task runs — so a cancel cannot interleave), decides each
  recipient (skipped with a reason, or queued with the platform id to send to) and stamps the
  queued ones with the batch number; the worker then publishes them and records the batch as
  ``published``. A worker that stopped in between leaves ``batch > published``: the next one
  publishes that batch's queued rows again (`unpublished`) — same request ids, so the outbound
  sender sends each at most once.

Who is skipped and why: `gateway.mass.audience`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

import orjson
from sqlalchemy import ColumnElement, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.mass.audience import Queued, Run, decide, matching
from gateway.mass.model import pending_row
from gateway.store.schema import mass_recipients as r
from gateway.store.schema import mass_tasks as t
from gateway.store.tx import transaction

__all__ = ["Batch", "Ledger", "Queued", "Run"]

_INSERT_CHUNK = 1000


@dataclass(frozen=True, slots=True)
class Batch:
    number: int
    queued: list[Queued]
    skipped: int
    completed: bool  #: no pending recipient was left: the task is now completed


class Ledger:
    def __init__(self, engine: AsyncEngine, *, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._clock = clock

    def _tx(self, write: bool = True) -> AbstractAsyncContextManager[AsyncConnection]:
        return transaction(self._engine, "mass ledger", write=write)

    async def due(self, limit: int) -> list[str]:
        """Ids of tasks with work to do (`_workable`) that nobody holds."""
        now = self._clock()
        query = (
            select(t.c.id)
            .where(_workable(now), t.c.lease_until < now)
            .order_by(t.c.start_at)
            .limit(limit)
        )
        async with self._tx(write=False) as conn:
            return [str(i) for i in (await conn.execute(query)).scalars()]

    async def lease(self, task_id: str, owner: str, seconds: float) -> Run | None:
        """Take or renew the lease of a task with work to do; None if another process holds it
        or there is nothing (more) to do."""
        now = self._clock()
        took = (
            update(t)
            .where(t.c.id == task_id, _workable(now))
            .where(or_(t.c.owner == owner, t.c.lease_until < now))
            .values(owner=owner, lease_until=now + seconds)
        )
        async with self._tx() as conn:
            if (await conn.execute(took)).rowcount != 1:
                return None
            row = (await conn.execute(select(t).where(t.c.id == task_id))).one()
        return Run(
            id=row.id, state=row.state, advisor_id=row.advisor_id, platform=row.platform,
            account=row.account, material=orjson.loads(row.material),
            skip_recent=bool(row.skip_recent), batch=row.batch, published=row.published,
        )  # fmt: skip

    async def release(self, task_id: str, owner: str) -> None:
        """Give the lease up (at shutdown) so another process may continue at once."""
        async with self._tx() as conn:
            await conn.execute(
                update(t).where(t.c.id == task_id, t.c.owner == owner).values(lease_until=0.0)
            )

    async def start(self, task_id: str, owner: str) -> bool:
        """pending → running; a filter's recipients are resolved now. False if the task was
        changed by someone else meanwhile (cancelled, or leased away)."""
        now = self._clock()
        async with self._tx() as conn:
            started = await conn.execute(
                update(t)
                .where(t.c.id == task_id, t.c.owner == owner, t.c.state == "pending")
                .values(state="running", started_at=now, updated_at=now)
            )
            if started.rowcount != 1:
                return False
            row = (await conn.execute(select(t).where(t.c.id == task_id))).one()
            rule = orjson.loads(row.selector).get("filter")
            if rule is not None:
                ids = await matching(conn, row.advisor_id, rule)
                for at in range(0, len(ids), _INSERT_CHUNK):
                    chunk = ids[at : at + _INSERT_CHUNK]
                    await conn.execute(insert(r), [pending_row(task_id, i, now) for i in chunk])
            count = select(func.count()).select_from(r).where(r.c.task_id == task_id)
            total = int((await conn.execute(count)).scalar_one())
            await conn.execute(update(t).where(t.c.id == task_id).values(total=total))
        return True

    async def in_flight(self, task_id: str) -> int:
        """How many of the task's messages are queued and still await their receipt."""
        query = select(func.count()).select_from(r)
        query = query.where(r.c.task_id == task_id, r.c.status == "queued")
        async with self._tx(write=False) as conn:
            return int((await conn.execute(query)).scalar_one())

    async def claim(
        self, run: Run, owner: str, *, size: int, since: float, window: float, lease: float
    ) -> Batch | None:
        """Decide and queue the next `size` pending recipients; None if the lease is lost or the
        task is no longer running. `since`: touched-recently cutoff; `window`: the account's
        reply window in seconds."""
        now = self._clock()
        async with self._tx() as conn:
            bumped = await conn.execute(
                update(t)
                .where(t.c.id == run.id, t.c.owner == owner, t.c.state == "running")
                .values(batch=t.c.batch + 1, lease_until=now + lease, updated_at=now)
            )
            if bumped.rowcount != 1:
                return None
            number = int(
                (await conn.execute(select(t.c.batch).where(t.c.id == run.id))).scalar_one()
            )
            pending = (
                await conn.execute(
                    select(r.c.customer_id, r.c.request_id)
                    .where(r.c.task_id == run.id, r.c.status == "pending")
                    .order_by(r.c.customer_id)
                    .limit(size)
                )
            ).all()
            if not pending:
                await conn.execute(
                    update(t)
                    .where(t.c.id == run.id)
                    .values(state="completed", finished_at=now, published=number, owner=None,
                            lease_until=0.0)
                )  # fmt: skip
                return Batch(number, [], 0, completed=True)
            queued, skipped = await decide(conn, run, pending, since, window)
            for reason, ids in skipped.items():
                await conn.execute(
                    update(r)
                    .where(r.c.task_id == run.id, r.c.customer_id.in_(ids))
                    .values(status="skipped", reason=reason, updated_at=now)
                )
            if queued:
                await conn.execute(
                    update(r)
                    .where(r.c.task_id == run.id, r.c.customer_id == bindparam("who"))
                    .where(r.c.status == "pending")
                    .values(status="queued", external_id=bindparam("to"), batch=number,
                            updated_at=now),
                    [{"who": q.customer_id, "to": q.external_id} for q in queued],
                )  # fmt: skip
        return Batch(number, queued, sum(len(i) for i in skipped.values()), completed=False)

    async def unpublished(self, run: Run) -> list[Queued]:
        """The queued recipients of the task's last batch (published again after a stop)."""
        query = (
            select(r.c.customer_id, r.c.external_id, r.c.request_id)
            .where(r.c.task_id == run.id, r.c.batch == run.batch, r.c.status == "queued")
            .order_by(r.c.customer_id)
        )
        async with self._tx(write=False) as conn:
            rows = (await conn.execute(query)).all()
        return [Queued(row.customer_id, row.external_id, row.request_id) for row in rows]

    async def published(self, task_id: str, batch: int) -> None:
        """Every message of `batch` is confirmed by RabbitMQ."""
        async with self._tx() as conn:
            await conn.execute(
                update(t).where(t.c.id == task_id, t.c.published < batch).values(published=batch)
            )


def _workable(now: float) -> ColumnElement[bool]:
    """A task with work to do: pending and due, running, or cancelled with a batch a stopped
    worker left unpublished (it is published: a cancel does not recall queued messages)."""
    return or_(
        and_(t.c.state == "pending", t.c.start_at <= now),
        t.c.state == "running",
        and_(t.c.state == "cancelled", t.c.batch > t.c.published),
    )
