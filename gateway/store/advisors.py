"""Advisors, groups, memberships, QR scenes and the advisor settings document.

Limits from 服务号对话能力 (DESIGN.md "Advisor model"): at most 20,000 advisors, 200 groups,
200 advisors per group; an advisor's capacity defaults to 15,000 customers. Limits are checked in
the same transaction as the insert; `Conflict` says which limit was hit.
"""

from __future__ import annotations

import secrets
import time
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.errors import Conflict, NotFound
from gateway.store.schema import advisor_groups as g
from gateway.store.schema import advisor_settings as st
from gateway.store.schema import advisors as a
from gateway.store.schema import bindings as b
from gateway.store.schema import group_members as m
from gateway.store.schema import scenes as sc
from gateway.store.tx import transaction

__all__ = ["MAX_ADVISORS", "MAX_GROUPS", "MAX_GROUP_SIZE", "Advisor", "AdvisorStore"]

MAX_ADVISORS = 20_000
MAX_GROUPS = 200
MAX_GROUP_SIZE = 200
DEFAULT_CAPACITY = 15_000
_ADVISOR_FIELDS = ("nickname", "avatar_url", "status", "welcome", "offline_reply", "capacity")


@dataclass(frozen=True, slots=True)
class Advisor:
    id: str
    nickname: str
    status: str
    capacity: int
    bound_count: int
    avatar_url: str | None = None
    welcome: str | None = None
    offline_reply: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "nickname": self.nickname,
            "status": self.status,
            "capacity": self.capacity,
            "bound_count": self.bound_count,
            "avatar_url": self.avatar_url,
            "welcome": self.welcome,
            "offline_reply": self.offline_reply,
        }


class AdvisorStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    def _tx(self, write: bool = True) -> AbstractAsyncContextManager[AsyncConnection]:
        return transaction(self._engine, "advisor store", write=write)

    # advisors -------------------------------------------------------------------------------

    async def create_advisor(self, advisor_id: str, fields: dict[str, Any]) -> Advisor:
        now = time.time()
        values = {
            "id": advisor_id,
            "status": "offline",
            "capacity": DEFAULT_CAPACITY,
            "bound_count": 0,
            "created_at": now,
            "updated_at": now,
            **fields,
        }
        try:
            async with self._tx() as conn:
                count = (await conn.execute(select(func.count()).select_from(a))).scalar_one()
                if count >= MAX_ADVISORS:
                    raise Conflict(f"at most {MAX_ADVISORS} advisors")
                await conn.execute(insert(a).values(**values))
        except IntegrityError as exc:
            raise Conflict(f"advisor {advisor_id!r} exists") from exc
        return await self.advisor(advisor_id)

    async def advisor(self, advisor_id: str) -> Advisor:
        async with self._tx(write=False) as conn:
            row = (await conn.execute(select(a).where(a.c.id == advisor_id))).one_or_none()
        if row is None:
            raise NotFound(f"no advisor {advisor_id!r}")
        return _advisor(row)

    async def advisors(
        self, after: str | None, limit: int, status: str | None = None
    ) -> list[Advisor]:
        query = select(a).order_by(a.c.id).limit(limit)
        if after is not None:
            query = query.where(a.c.id > after)
        if status is not None:
            query = query.where(a.c.status == status)
        async with self._tx(write=False) as conn:
            return [_advisor(r) for r in (await conn.execute(query)).all()]

    async def update_advisor(self, advisor_id: str, fields: dict[str, Any]) -> Advisor:
        changes = {k: v for k, v in fields.items() if k in _ADVISOR_FIELDS}
        async with self._tx() as conn:
            row = (
                await conn.execute(select(a.c.bound_count).where(a.c.id == advisor_id))
            ).one_or_none()
            if row is None:
                raise NotFound(f"no advisor {advisor_id!r}")
            if "capacity" in changes and changes["capacity"] < row.bound_count:
                raise Conflict(
                    f"capacity {changes['capacity']} is below the {row.bound_count} "
                    "customers bound now; rebind some first"
                )
            await conn.execute(
                update(a).where(a.c.id == advisor_id).values(**changes, updated_at=time.time())
            )
        return await self.advisor(advisor_id)

    async def delete_advisor(self, advisor_id: str) -> int:
        """Delete an advisor; their customers return to the unassigned pool. Returns how many."""
        async with self._tx() as conn:
            released = (await conn.execute(delete(b).where(b.c.advisor_id == advisor_id))).rowcount
            await conn.execute(delete(m).where(m.c.advisor_id == advisor_id))
            if (await conn.execute(delete(a).where(a.c.id == advisor_id))).rowcount == 0:
                raise NotFound(f"no advisor {advisor_id!r}")
        return int(released)

    # groups ---------------------------------------------------------------------------------

    async def create_group(self, group_id: str, name: str) -> dict[str, Any]:
        try:
            async with self._tx() as conn:
                count = (await conn.execute(select(func.count()).select_from(g))).scalar_one()
                if count >= MAX_GROUPS:
                    raise Conflict(f"at most {MAX_GROUPS} groups")
                await conn.execute(insert(g).values(id=group_id, name=name, created_at=time.time()))
        except IntegrityError as exc:
            raise Conflict(f"group {group_id!r} exists") from exc
        return await self.group(group_id)

    async def group(self, group_id: str) -> dict[str, Any]:
        async with self._tx(write=False) as conn:
            row = (await conn.execute(select(g).where(g.c.id == group_id))).one_or_none()
            if row is None:
                raise NotFound(f"no group {group_id!r}")
            members = (
                (
                    await conn.execute(
                        select(m.c.advisor_id)
                        .where(m.c.group_id == group_id)
                        .order_by(m.c.advisor_id)
                    )
                )
                .scalars()
                .all()
            )
        return {"id": row.id, "name": row.name, "advisors": list(members)}

    async def groups(self) -> list[dict[str, Any]]:
        async with self._tx(write=False) as conn:
            rows = (
                await conn.execute(
                    select(g.c.id, g.c.name, func.count(m.c.advisor_id).label("size"))
                    .select_from(g.outerjoin(m, m.c.group_id == g.c.id))
                    .group_by(g.c.id, g.c.name)
                    .order_by(g.c.id)
                )
            ).all()
        return [{"id": r.id, "name": r.name, "size": int(r.size)} for r in rows]

    async def delete_group(self, group_id: str) -> None:
        async with self._tx() as conn:
            await conn.execute(delete(m).where(m.c.group_id == group_id))
            if (await conn.execute(delete(g).where(g.c.id == group_id))).rowcount == 0:
                raise NotFound(f"no group {group_id!r}")

    async def add_members(self, group_id: str, advisor_ids: list[str]) -> dict[str, Any]:
        async with self._tx() as conn:
            if (await conn.execute(select(g.c.id).where(g.c.id == group_id))).one_or_none() is None:
                raise NotFound(f"no group {group_id!r}")
            known = set(
                (await conn.execute(select(a.c.id).where(a.c.id.in_(advisor_ids)))).scalars()
            )
            missing = sorted(set(advisor_ids) - known)
            if missing:
                raise NotFound(f"no advisor(s) {missing}")
            present = set(
                (
                    await conn.execute(select(m.c.advisor_id).where(m.c.group_id == group_id))
                ).scalars()
            )
            new = [i for i in dict.fromkeys(advisor_ids) if i not in present]
            if len(present) + len(new) > MAX_GROUP_SIZE:
                raise Conflict(f"a group has at most {MAX_GROUP_SIZE} advisors")
            if new:
                await conn.execute(
                    insert(m), [{"group_id": group_id, "advisor_id": i} for i in new]
                )
        return await self.group(group_id)

    async def remove_member(self, group_id: str, advisor_id: str) -> None:
        async with self._tx() as conn:
            gone = await conn.execute(
                delete(m).where(m.c.group_id == group_id, m.c.advisor_id == advisor_id)
            )
            if gone.rowcount == 0:
                raise NotFound(f"advisor {advisor_id!r} is not in group {group_id!r}")

    # scenes ---------------------------------------------------------------------------------

    async def create_scene(self, kind: str, target_id: str, value: str | None) -> dict[str, Any]:
        value = value or f"{kind[:3]}_{secrets.token_hex(6)}"
        table = a if kind == "advisor" else g
        try:
            async with self._tx() as conn:
                if (
                    await conn.execute(select(table.c.id).where(table.c.id == target_id))
                ).one_or_none() is None:
                    raise NotFound(f"no {kind} {target_id!r}")
                await conn.execute(
                    insert(sc).values(
                        value=value, kind=kind, target_id=target_id, created_at=time.time()
                    )
                )
        except IntegrityError as exc:
            raise Conflict(f"scene {value!r} exists") from exc
        return {
            "value": value,
            "kind": kind,
            "target_id": target_id,
            "qr_event_key": f"qrscene_{value}",
        }

    async def scene(self, value: str) -> tuple[str, str] | None:
        """(kind, target id) of a scene value, or None."""
        async with self._tx(write=False) as conn:
            row = (
                await conn.execute(select(sc.c.kind, sc.c.target_id).where(sc.c.value == value))
            ).one_or_none()
        return None if row is None else (row.kind, row.target_id)

    async def scenes(self) -> list[dict[str, Any]]:
        async with self._tx(write=False) as conn:
            rows = (await conn.execute(select(sc).order_by(sc.c.value))).all()
        return [
            {
                "value": r.value,
                "kind": r.kind,
                "target_id": r.target_id,
                "qr_event_key": f"qrscene_{r.value}",
            }
            for r in rows
        ]

    async def delete_scene(self, value: str) -> None:
        async with self._tx() as conn:
            if (await conn.execute(delete(sc).where(sc.c.value == value))).rowcount == 0:
                raise NotFound(f"no scene {value!r}")

    # settings -------------------------------------------------------------------------------

    async def settings(self) -> tuple[int, dict[str, Any]]:
        async with self._tx(write=False) as conn:
            row = (await conn.execute(select(st.c.doc, st.c.revision).where(st.c.id == 1))).one()
        return int(row.revision), orjson.loads(row.doc)

    async def put_settings(self, doc: dict[str, Any]) -> int:
        async with self._tx() as conn:
            await conn.execute(
                update(st)
                .where(st.c.id == 1)
                .values(doc=orjson.dumps(doc).decode(), revision=st.c.revision + 1)
            )
            return int((await conn.execute(select(st.c.revision).where(st.c.id == 1))).scalar_one())


def _advisor(row: Any) -> Advisor:
    return Advisor(
        id=row.id,
        nickname=row.nickname,
        status=row.status,
        capacity=row.capacity,
        bound_count=row.bound_count,
        avatar_url=row.avatar_url,
        welcome=row.welcome,
        offline_reply=row.offline_reply,
    )
