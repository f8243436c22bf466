"""Conversation records: every inbound message and outbound request (masked), for the retention
period. Written in batches: inbound rows ride in the webhook path's dedup flush
(`gateway.recorder.InboundRecords`), outbound requests and receipts by `gateway.recorder`.

Every write, receipt and purge also queues what it changed for the statistics rollup
(`gateway.store.stats`), in the same transaction."""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.dml import UpdateBase

from gateway.store.driver import execute_many
from gateway.store.engine import insert_for
from gateway.store.schema import records as r
from gateway.store.stats import CHANGE_COLUMNS, Change, queue_changes
from gateway.store.tx import transaction

__all__ = ["RecordQuery", "RecordsStore", "StatusUpdate", "write_records"]

_IDENTITY = ["direction", "message_id"]
# What an outbound request fills in on a record its receipt created first (with blanks).
_COMPLETED_BY_REQUEST = ("platform", "account", "customer", "sender", "advisor_id", "kind", "text")


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """An outbound request's outcome (from its receipt)."""

    message_id: str
    status: str
    reason: str | None
    at: float


@dataclass(frozen=True, slots=True)
class RecordQuery:
    platform: str | None = None
    account: str | None = None
    customer: str | None = None
    advisor_id: str | None = None
    since: float | None = None
    until: float | None = None
    after_seq: int | None = None
    limit: int = 100


@functools.cache
def _insert_inbound(dialect: str) -> UpdateBase:
    """The inbound rows' insert: one prebuilt statement per dialect."""
    return insert_for(dialect)(r).on_conflict_do_nothing(index_elements=_IDENTITY)


def write_records(
    conn: Connection,
    rows: Sequence[dict[str, Any]],
    updates: Sequence[StatusUpdate] = (),
) -> None:
    """`RecordsStore.write` in the caller's transaction. Synchronous and module-level: the webhook
    path's inbound records ride in the dedup flush (`gateway.recorder.InboundRecords`), which may
    run in the store's writer process (`gateway.store.writer`)."""
    insert = insert_for(conn.dialect.name)
    changes: list[Change] = []
    inbound = [row for row in rows if row["direction"] != "out"]
    if inbound:  # one prebuilt statement, many parameter sets
        execute_many(conn, _insert_inbound(conn.dialect.name), inbound)
        changes.extend(Change.of(row) for row in inbound)
    for row in rows:
        if row["direction"] != "out":
            continue
        stmt = insert(r).values(**row)
        upsert = stmt.on_conflict_do_update(
            index_elements=_IDENTITY,
            set_={k: stmt.excluded[k] for k in _COMPLETED_BY_REQUEST},
        ).returning(*CHANGE_COLUMNS)
        changes.extend(Change.of(done) for done in conn.execute(upsert))
    for up in updates:
        updated = (
            conn.execute(
                update(r)
                .where(and_(r.c.direction == "out", r.c.message_id == up.message_id))
                .values(status=up.status, reason=up.reason)
                .returning(*CHANGE_COLUMNS)
            )
        ).all()
        changes.extend(Change.of(done) for done in updated)
        if not updated:  # the receipt came first: keep the outcome for the request
            conn.execute(
                insert(r)
                .values(
                    direction="out",
                    message_id=up.message_id,
                    platform="",
                    account="",
                    customer="",
                    kind="unknown",
                    status=up.status,
                    reason=up.reason,
                    at=up.at,
                )
                .on_conflict_do_nothing(index_elements=_IDENTITY)
            )
    queue_changes(conn, changes)


class RecordsStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def write(self, rows: Sequence[dict[str, Any]], updates: Sequence[StatusUpdate]) -> None:
        """Insert records (a repeated one is ignored; an outbound request completes a record a
        receipt created first) and apply outcomes, in one transaction that also queues the
        changes for the stats rollup."""
        async with transaction(self._engine, "records write") as conn:
            await conn.run_sync(write_records, rows, updates)

    async def list(self, query: RecordQuery) -> list[dict[str, Any]]:
        """Records newest first; `after_seq` continues a previous page."""
        stmt = select(r).order_by(r.c.seq.desc()).limit(query.limit)
        for column, value in (
            (r.c.platform, query.platform),
            (r.c.account, query.account),
            (r.c.customer, query.customer),
            (r.c.advisor_id, query.advisor_id),
        ):
            if value is not None:
                stmt = stmt.where(column == value)
        if query.since is not None:
            stmt = stmt.where(r.c.at >= query.since)
        if query.until is not None:
            stmt = stmt.where(r.c.at < query.until)
        if query.after_seq is not None:
            stmt = stmt.where(r.c.seq < query.after_seq)
        async with transaction(self._engine, "records read", write=False) as conn:
            rows = (await conn.execute(stmt)).all()
        return [{str(key): value for key, value in row._mapping.items()} for row in rows]

    async def purge(self, retention_seconds: float, batch: int = 5000) -> int:
        """Delete up to `batch` records older than the retention (queued for the stats rollup,
        which then drops what it derived from them); short transactions, so the writers are never
        blocked for long. Returns how many."""
        cutoff = time.time() - retention_seconds
        oldest = select(r.c.seq).where(r.c.at < cutoff).order_by(r.c.seq).limit(batch)
        async with transaction(self._engine, "records purge") as conn:
            deleted = (
                await conn.execute(
                    delete(r)
                    .where(r.c.seq.in_(oldest.scalar_subquery()))
                    .returning(*CHANGE_COLUMNS)
                )
            ).all()
            await conn.run_sync(queue_changes, [Change.of(row) for row in deleted])
        return len(deleted)
