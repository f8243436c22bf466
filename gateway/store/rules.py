"""Word lists and keyword rules in the store, with one revision counter for cache invalidation.

Every write bumps ``rules_revision`` in the same transaction, and returns the new revision; a
process whose compiled `RuleSet.version` differs from it reloads (see `gateway.rules_state`).
Objects are validated by the rules stage (`WordList`, `KeywordRule`) before they are written.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import orjson
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.store.engine import insert_for
from gateway.store.schema import keyword_rules as kr
from gateway.store.schema import rules_revision as rev
from gateway.store.schema import word_lists as wl
from gateway.store.tx import transaction
from rules.keywords import KeywordRule
from rules.wordlists import WordList

__all__ = ["RulesSnapshot", "RulesStore"]

RulesSnapshot = tuple[int, tuple[WordList, ...], tuple[KeywordRule, ...]]


class RulesStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._insert = insert_for(engine.dialect.name)

    async def revision(self) -> int:
        async with self._read() as conn:
            return int(
                (await conn.execute(select(rev.c.revision).where(rev.c.id == 1))).scalar_one()
            )

    async def snapshot(self) -> RulesSnapshot:
        """Revision, word lists and keyword rules, read in one transaction."""
        async with self._read() as conn:
            revision = (
                await conn.execute(select(rev.c.revision).where(rev.c.id == 1))
            ).scalar_one()
            lists = (await conn.execute(select(wl.c.doc, wl.c.version).order_by(wl.c.id))).all()
            rules = (await conn.execute(select(kr.c.doc).order_by(kr.c.id))).all()
        return (
            int(revision),
            tuple(_word_list(row.doc, row.version) for row in lists),
            tuple(KeywordRule.from_dict(orjson.loads(row.doc)) for row in rules),
        )

    # word lists ---------------------------------------------------------------------------

    async def word_list_summaries(self, after: str | None, limit: int) -> list[dict[str, Any]]:
        query = select(wl.c.id, wl.c.doc, wl.c.version, wl.c.updated_at).order_by(wl.c.id)
        if after is not None:
            query = query.where(wl.c.id > after)
        async with self._read() as conn:
            rows = (await conn.execute(query.limit(limit))).all()
        return [_summary(_word_list(r.doc, r.version), r.updated_at) for r in rows]

    async def word_list(self, list_id: str) -> WordList | None:
        async with self._read() as conn:
            row = (
                await conn.execute(select(wl.c.doc, wl.c.version).where(wl.c.id == list_id))
            ).one_or_none()
        return None if row is None else _word_list(row.doc, row.version)

    async def put_word_lists(self, lists: Iterable[WordList], *, replace_all: bool = False) -> int:
        """Create or replace lists (each list's version is bumped); optionally drop the others."""
        async with self._write() as conn:
            if replace_all:
                await conn.execute(delete(wl))
            for item in lists:
                await self._upsert_list(conn, item)
            return await _bump(conn)

    async def delete_word_list(self, list_id: str) -> int | None:
        """The new revision, or None when there was no such list."""
        async with self._write() as conn:
            if (await conn.execute(delete(wl).where(wl.c.id == list_id))).rowcount == 0:
                return None
            return await _bump(conn)

    # keyword rules ------------------------------------------------------------------------

    async def keyword_rules(self, after: str | None, limit: int) -> list[KeywordRule]:
        query = select(kr.c.doc).order_by(kr.c.id)
        if after is not None:
            query = query.where(kr.c.id > after)
        async with self._read() as conn:
            rows = (await conn.execute(query.limit(limit))).all()
        return [KeywordRule.from_dict(orjson.loads(r.doc)) for r in rows]

    async def keyword_rule(self, rule_id: str) -> KeywordRule | None:
        async with self._read() as conn:
            doc = (
                await conn.execute(select(kr.c.doc).where(kr.c.id == rule_id))
            ).scalar_one_or_none()
        return None if doc is None else KeywordRule.from_dict(orjson.loads(doc))

    async def put_keyword_rules(
        self, rules: Sequence[KeywordRule], *, replace_all: bool = False
    ) -> int:
        now = time.time()
        async with self._write() as conn:
            if replace_all:
                await conn.execute(delete(kr))
            for rule in rules:
                doc = orjson.dumps(rule.to_dict()).decode()
                stmt = self._insert(kr).values(id=rule.id, doc=doc, updated_at=now)
                await conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["id"], set_={"doc": doc, "updated_at": now}
                    )
                )
            return await _bump(conn)

    async def delete_keyword_rule(self, rule_id: str) -> int | None:
        async with self._write() as conn:
            if (await conn.execute(delete(kr).where(kr.c.id == rule_id))).rowcount == 0:
                return None
            return await _bump(conn)

    async def counts(self) -> dict[str, int]:
        async with self._read() as conn:
            lists = (await conn.execute(select(func.count()).select_from(wl))).scalar_one()
            rules = (await conn.execute(select(func.count()).select_from(kr))).scalar_one()
        return {"word_lists": int(lists), "keyword_rules": int(rules)}

    # plumbing -----------------------------------------------------------------------------

    async def _upsert_list(self, conn: AsyncConnection, item: WordList) -> None:
        current = (
            await conn.execute(select(wl.c.version).where(wl.c.id == item.id))
        ).scalar_one_or_none()
        version = 1 if current is None else int(current) + 1
        doc = item.to_dict()
        doc.pop("version")
        body = orjson.dumps(doc).decode()
        now = time.time()
        stmt = self._insert(wl).values(id=item.id, doc=body, version=version, updated_at=now)
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["id"], set_={"doc": body, "version": version, "updated_at": now}
            )
        )

    def _read(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return transaction(self._engine, "rules store read", write=False)

    def _write(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return transaction(self._engine, "rules store write")


async def _bump(conn: AsyncConnection) -> int:
    await conn.execute(update(rev).where(rev.c.id == 1).values(revision=rev.c.revision + 1))
    return int((await conn.execute(select(rev.c.revision).where(rev.c.id == 1))).scalar_one())


def _word_list(doc: str, version: int) -> WordList:
    return WordList.from_dict({**orjson.loads(doc), "version": version})


def _summary(item: WordList, updated_at: float) -> dict[str, Any]:
    data = item.to_dict()
    data["word_count"] = len(data.pop("words"))
    data["updated_at"] = updated_at
    return data
