"""Customers (one across WeChat surfaces by union_id) and their binding to one advisor.

Capacity and uniqueness hold across gateway processes because the database arbitrates:

- a binding reserves a slot with ``UPDATE advisors SET bound_count = bound_count + 1
  WHERE id = :a AND bound_count < capacity`` (a row lock on PostgreSQL, the write lock on SQLite)
  in the same transaction as the binding row;
- the binding's primary key is the customer id, so a second concurrent binding of the same
  customer fails on insert, its transaction (and its reservation) rolls back, and the loser
  re-reads the winner's binding.
"""

from __future__ import annotations

import enum
import time
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import and_, case, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.errors import Conflict, NotFound
from gateway.store.engine import insert_for
from gateway.store.schema import advisors as a
from gateway.store.schema import bindings as b
from gateway.store.schema import customer_handles as h
from gateway.store.schema import customers as c
from gateway.store.schema import group_members as m
from gateway.store.schema import offline_replies as o
from gateway.store.tx import transaction

__all__ = ["BindResult", "BindingStore", "Bound", "CustomerRef", "Outcome", "customer_key"]

_RETRIES = 5


class Outcome(enum.Enum):
    BOUND = "bound"  # a new binding (or a rebinding) was made
    ALREADY = "already"  # bound to that advisor before
    TAKEN = "taken"  # bound to another advisor and not replaced
    FULL = "full"  # the advisor has no free capacity
    NO_CAPACITY = "no_capacity"  # no advisor of the group has free capacity
    UNKNOWN = "unknown"  # no such advisor or group


@dataclass(frozen=True, slots=True)
class BindResult:
    outcome: Outcome
    advisor_id: str | None = None

    @property
    def bound(self) -> bool:
        return self.outcome in (Outcome.BOUND, Outcome.ALREADY, Outcome.TAKEN)


@dataclass(frozen=True, slots=True)
class Bound:
    """A customer's advisor, with what routing needs to know about them."""

    advisor_id: str
    online: bool
    offline_reply: str | None
    welcome: str | None


@dataclass(frozen=True, slots=True)
class CustomerRef:
    platform: str
    account: str
    external_id: str
    union_id: str | None = None
    nickname: str | None = None


def customer_key(ref: CustomerRef) -> str:
    """The customer id: by union_id across a platform's surfaces when known, else by handle."""
    if ref.union_id:
        return f"{ref.platform}:u:{ref.union_id}"
    return f"{ref.platform}:{ref.account}:{ref.external_id}"


class BindingStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._insert = insert_for(engine.dialect.name)

    def _tx(self, write: bool = True) -> AbstractAsyncContextManager[AsyncConnection]:
        return transaction(self._engine, "binding store", write=write)

    # customers ------------------------------------------------------------------------------

    async def resolve(self, ref: CustomerRef) -> str:
        """The customer id of a platform handle, creating the customer on first sight."""
        where = and_(
            h.c.platform == ref.platform,
            h.c.account == ref.account,
            h.c.external_id == ref.external_id,
        )
        async with self._tx(write=False) as conn:
            found = (await conn.execute(select(h.c.customer_id).where(where))).scalar_one_or_none()
        if found is not None:
            return str(found)
        now = time.time()
        key = customer_key(ref)
        async with self._tx() as conn:
            await conn.execute(
                self._insert(c)
                .values(
                    id=key,
                    platform=ref.platform,
                    union_id=ref.union_id,
                    nickname=ref.nickname,
                    tags="{}",
                    created_at=now,
                    updated_at=now,
                )
                .on_conflict_do_nothing()
            )
            await conn.execute(
                self._insert(h)
                .values(
                    platform=ref.platform,
                    account=ref.account,
                    external_id=ref.external_id,
                    customer_id=key,
                )
                .on_conflict_do_nothing()
            )
            return str((await conn.execute(select(h.c.customer_id).where(where))).scalar_one())

    async def customer(self, customer_id: str) -> dict[str, Any]:
        async with self._tx(write=False) as conn:
            row = (
                await conn.execute(
                    select(c, b.c.advisor_id, b.c.source, b.c.bound_at)
                    .select_from(c.outerjoin(b, b.c.customer_id == c.c.id))
                    .where(c.c.id == customer_id)
                )
            ).one_or_none()
            if row is None:
                raise NotFound(f"no customer {customer_id!r}")
            handles = (
                await conn.execute(
                    select(h.c.platform, h.c.account, h.c.external_id).where(
                        h.c.customer_id == customer_id
                    )
                )
            ).all()
        doc = _customer(row)
        doc["handles"] = [{"platform": p, "account": ac, "id": e} for p, ac, e in handles]
        return doc

    async def update_customer(self, customer_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        values = {k: v for k, v in fields.items() if k in ("nickname", "remark", "region")}
        if "tags" in fields:
            values["tags"] = orjson.dumps(fields["tags"]).decode()
        async with self._tx() as conn:
            done = await conn.execute(
                update(c).where(c.c.id == customer_id).values(**values, updated_at=time.time())
            )
            if done.rowcount == 0:
                raise NotFound(f"no customer {customer_id!r}")
        return await self.customer(customer_id)

    async def customers(
        self,
        *,
        after: str | None,
        limit: int,
        advisor_id: str | None = None,
        unassigned: bool = False,
        region: str | None = None,
        tag: str | None = None,
    ) -> list[dict[str, Any]]:
        query = (
            select(c, b.c.advisor_id, b.c.source, b.c.bound_at)
            .select_from(c.outerjoin(b, b.c.customer_id == c.c.id))
            .order_by(c.c.id)
            .limit(limit)
        )
        if after is not None:
            query = query.where(c.c.id > after)
        if advisor_id is not None:
            query = query.where(b.c.advisor_id == advisor_id)
        if unassigned:
            query = query.where(b.c.customer_id.is_(None))
        if region is not None:
            query = query.where(c.c.region == region)
        if tag is not None:
            query = query.where(c.c.tags.contains(orjson.dumps(tag).decode()))
        async with self._tx(write=False) as conn:
            rows = (await conn.execute(query)).all()
        docs = [_customer(r) for r in rows]
        if tag is not None:  # the LIKE above is a prefilter; check the value exactly
            docs = [d for d in docs if any(tag in values for values in d["tags"].values())]
        return docs

    # bindings -------------------------------------------------------------------------------

    async def advisor_of(self, platform: str, account: str, customer_id: str) -> str | None:
        """The advisor a platform customer is bound to (the outbound sender's binding check)."""
        query = (
            select(b.c.advisor_id)
            .select_from(h.join(b, b.c.customer_id == h.c.customer_id))
            .where(h.c.platform == platform, h.c.account == account, h.c.external_id == customer_id)
        )
        async with self._tx(write=False) as conn:
            found = (await conn.execute(query)).scalar_one_or_none()
        return None if found is None else str(found)

    async def bound(self, customer_id: str) -> Bound | None:
        async with self._tx(write=False) as conn:
            row = (
                await conn.execute(
                    select(a.c.id, a.c.status, a.c.offline_reply, a.c.welcome)
                    .select_from(b.join(a, a.c.id == b.c.advisor_id))
                    .where(b.c.customer_id == customer_id)
                )
            ).one_or_none()
        if row is None:
            return None
        return Bound(row.id, row.status == "online", row.offline_reply, row.welcome)

    async def bind(
        self,
        customer_id: str,
        advisor_id: str,
        source: str,
        *,
        scene: str | None = None,
        replace: bool = False,
    ) -> BindResult:
        """Bind (or with `replace`, rebind) a customer to an advisor, within capacity."""
        for _ in range(_RETRIES):
            try:
                async with self._tx() as conn:
                    return await self._bind(conn, customer_id, advisor_id, source, scene, replace)
            except IntegrityError:  # a concurrent binding of the same customer won: re-read
                continue
        raise Conflict(f"customer {customer_id!r} is being bound concurrently; try again")

    async def _bind(
        self,
        conn: AsyncConnection,
        customer_id: str,
        advisor_id: str,
        source: str,
        scene: str | None,
        replace: bool,
    ) -> BindResult:
        current = (
            await conn.execute(select(b.c.advisor_id).where(b.c.customer_id == customer_id))
        ).scalar_one_or_none()
        if current == advisor_id:
            return BindResult(Outcome.ALREADY, advisor_id)
        if current is not None and not replace:
            return BindResult(Outcome.TAKEN, current)
        reserved = await conn.execute(
            update(a)
            .where(a.c.id == advisor_id, a.c.bound_count < a.c.capacity)
            .values(bound_count=a.c.bound_count + 1)
        )
        if reserved.rowcount == 0:
            exists = (await conn.execute(select(a.c.id).where(a.c.id == advisor_id))).one_or_none()
            return BindResult(Outcome.FULL if exists else Outcome.UNKNOWN, None)
        now = time.time()
        if current is None:
            await conn.execute(
                insert(b).values(
                    customer_id=customer_id,
                    advisor_id=advisor_id,
                    source=source,
                    scene=scene,
                    bound_at=now,
                )
            )
        else:
            await conn.execute(
                update(b)
                .where(b.c.customer_id == customer_id)
                .values(advisor_id=advisor_id, source=source, scene=scene, bound_at=now)
            )
            await _release(conn, current, 1)
        return BindResult(Outcome.BOUND, advisor_id)

    async def bind_to_group(
        self, customer_id: str, group_id: str, source: str, *, scene: str | None = None
    ) -> BindResult:
        """Bind to a random online advisor of the group with free capacity (offline ones only if
        no online one has room); an already bound customer keeps their advisor."""
        tried: set[str] = set()
        while True:
            async with self._tx(write=False) as conn:
                current = (
                    await conn.execute(select(b.c.advisor_id).where(b.c.customer_id == customer_id))
                ).scalar_one_or_none()
                if current is not None:
                    return BindResult(Outcome.TAKEN, current)
                candidates = (
                    (
                        await conn.execute(
                            select(a.c.id)
                            .select_from(m.join(a, a.c.id == m.c.advisor_id))
                            .where(m.c.group_id == group_id, a.c.bound_count < a.c.capacity)
                            .order_by(case((a.c.status == "online", 0), else_=1), func.random())
                            .limit(len(tried) + 8)
                        )
                    )
                    .scalars()
                    .all()
                )
            fresh = [i for i in candidates if i not in tried]
            if not fresh:
                return BindResult(Outcome.NO_CAPACITY, None)
            for advisor_id in fresh:
                tried.add(advisor_id)
                result = await self.bind(customer_id, advisor_id, source, scene=scene)
                if result.outcome is not Outcome.FULL:
                    return result

    async def unbind(self, customer_ids: list[str]) -> int:
        """Return customers to the unassigned pool; how many were bound."""
        async with self._tx() as conn:
            rows = (
                await conn.execute(
                    select(b.c.advisor_id, func.count().label("n"))
                    .where(b.c.customer_id.in_(customer_ids))
                    .group_by(b.c.advisor_id)
                )
            ).all()
            await conn.execute(delete(b).where(b.c.customer_id.in_(customer_ids)))
            for row in rows:
                await _release(conn, row.advisor_id, int(row.n))
        return sum(int(r.n) for r in rows)

    async def migrate(self, from_advisor: str, to_advisor: str) -> int:
        """Move every customer of one advisor to another (all or nothing, within capacity)."""
        async with self._tx() as conn:
            count = int(
                (
                    await conn.execute(
                        select(func.count()).select_from(b).where(b.c.advisor_id == from_advisor)
                    )
                ).scalar_one()
            )
            target = (await conn.execute(select(a.c.id).where(a.c.id == to_advisor))).one_or_none()
            if target is None:
                raise NotFound(f"no advisor {to_advisor!r}")
            if count == 0:
                return 0
            reserved = await conn.execute(
                update(a)
                .where(a.c.id == to_advisor, a.c.bound_count + count <= a.c.capacity)
                .values(bound_count=a.c.bound_count + count)
            )
            if reserved.rowcount == 0:
                raise Conflict(f"advisor {to_advisor!r} has no room for {count} more customers")
            await conn.execute(
                update(b)
                .where(b.c.advisor_id == from_advisor)
                .values(advisor_id=to_advisor, source="migrate", bound_at=time.time())
            )
            await _release(conn, from_advisor, count)
        return count

    async def claim_offline_reply(self, customer_id: str, advisor_id: str, window: float) -> bool:
        """True (once per `window` seconds per customer and advisor) if the offline reply is due."""
        now = time.time()
        async with self._tx() as conn:
            inserted = await conn.execute(
                self._insert(o)
                .values(customer_id=customer_id, advisor_id=advisor_id, sent_at=now)
                .on_conflict_do_nothing()
            )
            if inserted.rowcount == 1:
                return True
            renewed = await conn.execute(
                update(o)
                .where(
                    o.c.customer_id == customer_id,
                    o.c.advisor_id == advisor_id,
                    o.c.sent_at < now - window,
                )
                .values(sent_at=now)
            )
            return bool(renewed.rowcount == 1)


async def _release(conn: AsyncConnection, advisor_id: str, count: int) -> None:
    await conn.execute(
        update(a).where(a.c.id == advisor_id).values(bound_count=a.c.bound_count - count)
    )


def _customer(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "platform": row.platform,
        "union_id": row.union_id,
        "nickname": row.nickname,
        "remark": row.remark,
        "region": row.region,
        "tags": orjson.loads(row.tags),
        "advisor_id": row.advisor_id,
        "binding_source": row.source,
        "bound_at": row.bound_at,
    }
