"""Mass-send tasks as the admin API and the receipt consumer see them (tables of migration 0006).

A task is created ``pending``; only a pending task can be changed, only a pending or running one
cancelled (`Conflict` otherwise). Cancelling marks every recipient still ``pending`` as
``cancelled`` in the same transaction, and both that and the worker's batches update the task row
first, so a batch and a cancel never interleave. Progress is counted from the recipient rows,
so its numbers always add up to the rows there are. The worker's side is `gateway.mass.ledger`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.errors import Conflict, NotFound
from gateway.mass.model import STATUSES, pending_row
from gateway.store.schema import mass_recipients as r
from gateway.store.schema import mass_tasks as t
from gateway.store.tx import transaction

__all__ = ["MassStore", "NewTask"]

_CHUNK = 1000
_OPEN = ("pending", "running")


@dataclass(frozen=True, slots=True)
class NewTask:
    id: str
    advisor_id: str
    platform: str
    account: str
    material: dict[str, Any]  #: kind, content and (optional) context of the outbound message
    selector: dict[str, Any]  #: {"filter": {...}} or {"explicit": n}
    customer_ids: Sequence[str] | None  #: the explicit list, or None for a filter
    skip_recent: bool
    start_at: float


class MassStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    def _tx(self, write: bool = True) -> AbstractAsyncContextManager[AsyncConnection]:
        return transaction(self._engine, "mass store", write=write)

    async def create(self, task: NewTask) -> dict[str, Any]:
        now = time.time()
        ids = None if task.customer_ids is None else list(dict.fromkeys(task.customer_ids))
        async with self._tx() as conn:
            await conn.execute(
                insert(t).values(
                    id=task.id, advisor_id=task.advisor_id, platform=task.platform,
                    account=task.account, material=_json(task.material),
                    selector=_json(task.selector), skip_recent=int(task.skip_recent),
                    state="pending", start_at=task.start_at,
                    total=None if ids is None else len(ids), created_at=now, updated_at=now,
                )
            )  # fmt: skip
            if ids:
                await _insert_recipients(conn, task.id, ids, now)
        return await self.task(task.id)

    async def update(
        self, task_id: str, fields: dict[str, Any], customer_ids: Sequence[str] | None = None
    ) -> dict[str, Any]:
        """Change a pending task; `customer_ids` (with an ``explicit`` selector) replaces the
        recipients, a ``filter`` selector drops them (they are resolved when the task starts)."""
        now = time.time()
        values = {k: _json(v) if k in ("material", "selector") else v for k, v in fields.items()}
        if "skip_recent" in values:
            values["skip_recent"] = int(values["skip_recent"])
        ids = None if customer_ids is None else list(dict.fromkeys(customer_ids))
        if "selector" in values:
            values["total"] = None if ids is None else len(ids)
        async with self._tx() as conn:
            done = await conn.execute(
                update(t)
                .where(t.c.id == task_id, t.c.state == "pending")
                .values(**values, updated_at=now)
            )
            if done.rowcount == 0:
                await _refuse(conn, task_id, "changed")
            if "selector" in values:
                await conn.execute(delete(r).where(r.c.task_id == task_id))
                if ids:
                    await _insert_recipients(conn, task_id, ids, now)
        return await self.task(task_id)

    async def cancel(self, task_id: str) -> dict[str, Any]:
        """Stop a pending or running task: its pending recipients become cancelled."""
        now = time.time()
        async with self._tx() as conn:
            done = await conn.execute(
                update(t)
                .where(t.c.id == task_id, t.c.state.in_(_OPEN))
                .values(state="cancelled", finished_at=now, updated_at=now)
            )
            if done.rowcount == 0:
                await _refuse(conn, task_id, "cancelled")
            await conn.execute(
                update(r)
                .where(r.c.task_id == task_id, r.c.status == "pending")
                .values(status="cancelled", updated_at=now)
            )
        return await self.task(task_id)

    async def task(self, task_id: str) -> dict[str, Any]:
        async with self._tx(write=False) as conn:
            row = (await conn.execute(select(t).where(t.c.id == task_id))).one_or_none()
            if row is None:
                raise NotFound(f"no mass task {task_id!r}")
            counts = await _counts(conn, [task_id])
        return _task(row, counts.get(task_id, {}))

    async def tasks(
        self,
        *,
        before: str | None,
        limit: int,
        state: str | None = None,
        advisor_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Newest first: up to `limit` tasks created before the task id `before`."""
        query = select(t).order_by(t.c.id.desc()).limit(limit)
        if before is not None:
            query = query.where(t.c.id < before)
        if state is not None:
            query = query.where(t.c.state == state)
        if advisor_id is not None:
            query = query.where(t.c.advisor_id == advisor_id)
        async with self._tx(write=False) as conn:
            rows = (await conn.execute(query)).all()
            counts = await _counts(conn, [row.id for row in rows])
        return [_task(row, counts.get(row.id, {})) for row in rows]

    async def results(
        self,
        task_id: str,
        *,
        after: str | None,
        limit: int,
        status: str | None = None,
        reason: str | None = None,
    ) -> list[dict[str, Any]]:
        """Per-customer outcomes in customer id order (NotFound for an unknown task)."""
        query = select(r).where(r.c.task_id == task_id).order_by(r.c.customer_id).limit(limit)
        if after is not None:
            query = query.where(r.c.customer_id > after)
        if status is not None:
            query = query.where(r.c.status == status)
        if reason is not None:
            query = query.where(r.c.reason == reason)
        async with self._tx(write=False) as conn:
            if (await conn.execute(select(t.c.id).where(t.c.id == task_id))).one_or_none() is None:
                raise NotFound(f"no mass task {task_id!r}")
            rows = (await conn.execute(query)).all()
        return [
            {
                "customer_id": row.customer_id, "status": row.status, "reason": row.reason,
                "detail": row.detail, "request_id": row.request_id,
                "external_id": row.external_id, "updated_at": row.updated_at,
            }
            for row in rows
        ]  # fmt: skip

    async def record_receipt(
        self, request_id: str, status: str, reason: str | None, detail: str
    ) -> bool:
        """Apply a receipt to its recipient; False when no row took it (unknown, or already
        sent / rejected: a redelivered receipt changes nothing; a failed one may still be
        replayed and sent)."""
        stmt = (
            update(r)
            .where(r.c.request_id == request_id, r.c.status.not_in(("sent", "rejected")))
            .values(status=status, reason=reason, detail=detail[:256], updated_at=time.time())
        )
        async with self._tx() as conn:
            return bool((await conn.execute(stmt)).rowcount == 1)


async def _insert_recipients(
    conn: AsyncConnection, task_id: str, customer_ids: list[str], now: float
) -> None:
    for start in range(0, len(customer_ids), _CHUNK):
        chunk = customer_ids[start : start + _CHUNK]
        await conn.execute(insert(r), [pending_row(task_id, i, now) for i in chunk])


async def _refuse(conn: AsyncConnection, task_id: str, what: str) -> None:
    state = (await conn.execute(select(t.c.state).where(t.c.id == task_id))).scalar_one_or_none()
    if state is None:
        raise NotFound(f"no mass task {task_id!r}")
    raise Conflict(f"mass task {task_id!r} is {state}: it cannot be {what} any more")


async def _counts(
    conn: AsyncConnection, task_ids: list[str]
) -> dict[str, dict[tuple[str, str | None], int]]:
    if not task_ids:
        return {}
    rows = await conn.execute(
        select(r.c.task_id, r.c.status, r.c.reason, func.count().label("n"))
        .where(r.c.task_id.in_(task_ids))
        .group_by(r.c.task_id, r.c.status, r.c.reason)
    )
    counts: dict[str, dict[tuple[str, str | None], int]] = {}
    for row in rows:
        counts.setdefault(row.task_id, {})[(row.status, row.reason)] = int(row.n)
    return counts


def _progress(total: int | None, counts: dict[tuple[str, str | None], int]) -> dict[str, Any]:
    progress: dict[str, Any] = {"total": total, **dict.fromkeys(STATUSES, 0)}
    reasons: dict[str, dict[str, int]] = {"rejected": {}, "failed": {}, "skipped": {}}
    for (status, reason), n in counts.items():
        progress[status] += n
        if status in reasons:
            by = reasons[status]
            by[reason or "unknown"] = by.get(reason or "unknown", 0) + n
    progress["by_reason"] = reasons
    return progress


def _task(row: Any, counts: dict[tuple[str, str | None], int]) -> dict[str, Any]:
    progress = _progress(row.total, counts)
    selector = orjson.loads(row.selector)
    return {
        "id": row.id,
        "advisor_id": row.advisor_id,
        "platform": row.platform,
        "account": row.account,
        "material": orjson.loads(row.material),
        "filter": selector.get("filter"),
        "customer_count": selector.get("explicit"),
        "skip_recent": bool(row.skip_recent),
        "state": row.state,
        "start_at": row.start_at,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "started_at": row.started_at,
        "finished_at": row.finished_at,
        "progress": progress,
        "done": row.state in ("completed", "cancelled") and progress["queued"] == 0,
    }


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()
