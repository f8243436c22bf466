"""Callback dedup: at most one publish per message id, even under concurrent platform retries.

A message id is *claimed* (an INSERT that loses on the primary key when another request holds
it) before its publish and marked *done* after the confirm. Outcomes of `claim`:

- `Claim.OWNED`: this request publishes; it must call `mark` (or `done`) or `release`.
- `Claim.DUPLICATE`: already published; answer the platform success, publish nothing.
- `Claim.BUSY`: another request is publishing it right now; answer an error so the platform
  retries. A claim older than `stale_after` (a crashed process) is taken over instead.

The database's unique key does the arbitration, so this holds across gateway processes that
share PostgreSQL.

Group commit: claims and done marks are not written one transaction each. While one flush is
in the database, the next ones gather; each flush is one transaction with one multi-row INSERT
for the claims and one UPDATE for the done marks (on a busy gateway tens of messages share a
round trip and an fsync; an idle one flushes at once). `done` returns once its mark is committed;
`mark` (what the webhook path uses) queues the mark and returns at once: the platform's answer
does not wait for a second transaction. Queued marks and posted riders do not start a flush of
their own: they go with the next claim's, or, when no claim comes within `linger` seconds, on
their own then (a flush per callback instead of two: each costs a trip to the writer and an
fsync). While a mark waits for its flush, this process answers a retry of that id as a
duplicate itself; if the process dies before the mark is written, the claim stays pending and a
retry after `stale_after` publishes again under the same `message_id` (at-least-once: consumers
dedup by it).

Riders: other writes of the webhook path share the flush's transaction instead of opening their
own — a claim can carry one (`claim(..., rider=...)`: the customer's reply window, committed with
the claim, before the publish), and `ride` posts one (the inbound record, after the publish). One
transaction per flush keeps SQLite's single writer from being contended by three group commits
(a writer that finds the database locked sleeps in SQLite's busy handler: 1, 2, 5, 10 … ms).
A flush is one synchronous function run by `gateway.store.writer` (on SQLite: one trip to the
writer's process per flush instead of several per statement), so riders are synchronous too, and
module-level functions that need nothing but their items (they are pickled to that process).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import time
from collections.abc import Callable, Iterable
from typing import Any

import structlog
from sqlalchemy import and_, bindparam, delete, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Executable

from gateway.errors import StoreError
from gateway.store.driver import execute_each, execute_many
from gateway.store.engine import insert_for
from gateway.store.schema import callback_dedup as t
from gateway.store.tx import transaction
from gateway.store.writer import LoopWriter, Writer

__all__ = ["Claim", "DedupStore", "Rider"]

log = structlog.get_logger("gateway.dedup")

PENDING, DONE = 0, 1
_BATCH = 500  # claims per INSERT (bind-parameter limits)
_RETRY_AFTER = 0.5  # seconds before done marks whose flush failed are written again
LINGER = 0.1  # seconds queued marks and riders wait for a claim's flush to go with


# A write that rides in a dedup flush: called inside its transaction with the items gathered
# since the previous flush. Synchronous: the whole flush runs as one function, on SQLite in the
# store writer's process (`gateway.store.writer`), so a rider must not touch the event loop, and
# it and its items must be picklable (a module-level function; plain data).
Rider = Callable[[Connection, list[Any]], None]


class Claim(enum.Enum):
    OWNED = "owned"
    DUPLICATE = "duplicate"
    BUSY = "busy"


def _fail(waiters: Iterable[asyncio.Future[Any] | None], exc: StoreError) -> None:
    for waiter in waiters:
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)


def _name(write: Rider) -> str:
    return str(getattr(write, "__qualname__", write))


# Prebuilt statements (building one and its cache key per flush cost more than running it).
_MARK_DONE = update(t).where(t.c.id == bindparam("mark")).values(state=DONE)
# Claims: on SQLite one statement per claim, its rowcount saying whether it was taken; on
# PostgreSQL a chunk in one multi-row INSERT returning the ids it took.
_CLAIM_ONE = insert_for("sqlite")(t).on_conflict_do_nothing(index_elements=["id"])
_CLAIM_MANY = (
    insert_for("postgresql")(t).on_conflict_do_nothing(index_elements=["id"]).returning(t.c.id)
)
_EXISTING = select(t.c.id, t.c.state, t.c.claimed_at).where(
    t.c.id.in_(bindparam("ids", expanding=True))
)


def _write_flush(
    claims: list[str],
    marks: list[str],
    riders: dict[Rider, list[Any]],
    now: float,
    ttl: float,
    stale_after: float,
    conn: Connection,
) -> dict[str, Claim]:
    """A flush's transaction: marks, claims, then the riders. Module-level, with nothing but its
    arguments: the store's writer may run it in its own process (`gateway.store.writer`)."""
    outcomes: dict[str, Claim] = {}
    execute_many(conn, _MARK_DONE, [{"mark": m} for m in marks])
    sqlite = conn.dialect.name == "sqlite"
    claims = sorted(claims)  # key order: workers sharing PostgreSQL lock in the same order
    for start in range(0, len(claims), _BATCH):
        chunk = claims[start : start + _BATCH]
        rows = [
            {"id": m, "state": PENDING, "claimed_at": now, "expires_at": now + ttl} for m in chunk
        ]
        if sqlite:  # a statement per claim on SQLite's own cursor: calls, not round trips
            counts = execute_each(conn, _CLAIM_ONE, rows)
            inserted = {m for m, count in zip(chunk, counts, strict=True) if count}
        else:  # one round trip
            inserted = set(conn.execute(_CLAIM_MANY, rows).scalars())
        outcomes.update(dict.fromkeys(inserted, Claim.OWNED))
        taken = [m for m in chunk if m not in inserted]
        if taken:
            outcomes.update(_arbitrate(conn, taken, now, ttl, stale_after))
    for write, items in riders.items():
        write(conn, items)
    return outcomes


def _arbitrate(
    conn: Connection, message_ids: list[str], now: float, ttl: float, stale_after: float
) -> dict[str, Claim]:
    """Ids whose row exists: duplicate, busy, or a stale claim to take over."""
    found = {row.id: row for row in conn.execute(_EXISTING, {"ids": message_ids})}
    outcomes: dict[str, Claim] = {}
    for message_id in message_ids:
        row = found.get(message_id)
        if row is None:  # purged between the two statements: claim again next time
            outcomes[message_id] = Claim.BUSY
        elif row.state == DONE and row.claimed_at > now - ttl:
            outcomes[message_id] = Claim.DUPLICATE
        elif row.state == PENDING and row.claimed_at > now - stale_after:
            outcomes[message_id] = Claim.BUSY
        else:
            taken = conn.execute(
                update(t)
                .where(and_(t.c.id == message_id, t.c.claimed_at == row.claimed_at))
                .values(state=PENDING, claimed_at=now, expires_at=now + ttl)
            )
            outcomes[message_id] = Claim.OWNED if taken.rowcount == 1 else Claim.BUSY
    return outcomes


class DedupStore:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        ttl: float,
        stale_after: float,
        clock: Callable[[], float] = time.time,
        writer: Writer | None = None,
        linger: float = LINGER,
    ) -> None:
        """`writer` runs the flushes (on the engine's own connections unless given; the gateway
        passes `writer_for(engine)`, on SQLite its writer process, and closes it after `flush`).
        `linger`: how long queued marks and riders wait for a claim's flush before they are
        written on their own."""
        self._engine = engine
        self._ttl = ttl
        self._stale_after = stale_after
        self._clock = clock
        self._writer = writer if writer is not None else LoopWriter(engine)
        self._claims: dict[str, asyncio.Future[Claim]] = {}  # waiting for the next flush
        # published, to mark done: with a waiter (`done`) or without (`mark`)
        self._marks: dict[str, asyncio.Future[None] | None] = {}
        self._marking: set[str] = set()  # marks in the flush running now
        self._riders: dict[Rider, list[Any]] = {}  # to write with the next flush
        self._flusher: asyncio.Task[None] | None = None
        self._linger = linger
        self._lingering: asyncio.TimerHandle | None = None
        self._due = False  # queued marks and riders are written without waiting for a claim
        self._flushing_out = False  # `flush` waits: a failed flush is not retried
        self._releasing: set[asyncio.Task[None]] = set()

    async def claim(self, message_id: str, *, rider: tuple[Rider, Any] | None = None) -> Claim:
        """Claim `message_id`; `rider` (a write and its item) is committed in the same
        transaction, whatever the outcome (so it must be idempotent), unless this process
        already knows the answer (a duplicate or busy id of its own)."""
        if message_id in self._marks or message_id in self._marking:
            return Claim.DUPLICATE  # published by this process, its mark not yet written
        if message_id in self._claims:
            return Claim.BUSY  # the same id twice in one batch
        waiter: asyncio.Future[Claim] = asyncio.get_running_loop().create_future()
        self._claims[message_id] = waiter
        if rider is not None:
            self._riders.setdefault(rider[0], []).append(rider[1])
        self._wake()
        try:
            return await asyncio.shield(waiter)
        except asyncio.CancelledError:
            # The caller gave up; if the flush made it the owner, nobody will publish it.
            waiter.add_done_callback(functools.partial(self._abandon, message_id))
            raise

    async def done(self, message_id: str) -> None:
        """Mark a published id done; returns once the mark is committed (StoreError if not)."""
        waiter = self._marks.get(message_id)
        if waiter is None:
            waiter = self._marks[message_id] = asyncio.get_running_loop().create_future()
        self._due = True
        self._wake()
        await asyncio.shield(waiter)

    def mark(self, message_id: str) -> None:
        """Mark a published id done with the next flush (a claim's, or on its own after
        `linger`), without waiting (if the flush fails, the mark is written with a later one)."""
        self._marks.setdefault(message_id, None)
        self._wake_later()

    def ride(self, write: Rider, item: Any) -> None:
        """Write `item` with `write` in the next flush's transaction (a claim's, or on its own
        after `linger`), without waiting (if that flush fails, the item is lost and logged)."""
        self._riders.setdefault(write, []).append(item)
        self._wake_later()

    async def release(self, message_id: str) -> None:
        await self._update(delete(t).where(and_(t.c.id == message_id, t.c.state == PENDING)))

    async def flush(self) -> None:
        """Wait until what is queued now is written, or its flush failed (shutdown)."""
        self._due = True
        self._wake()
        if self._flusher is not None:
            self._flushing_out = True
            try:
                await self._flusher
            finally:
                self._flushing_out = False

    def _wake(self) -> None:
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_while_queued(), name="dedup-flush")

    def _wake_later(self) -> None:
        """Marks and riders queued: a running flusher takes them along (or arms the timer when
        it ends); otherwise the timer writes them unless a claim's flush does first."""
        if self._flusher is None or self._flusher.done():
            self._arm()

    def _arm(self) -> None:
        if self._lingering is None:
            self._lingering = asyncio.get_running_loop().call_later(self._linger, self._lingered)

    def _lingered(self) -> None:
        self._lingering = None
        self._due = True
        self._wake()

    def _queued(self) -> bool:
        """Whether a flush should run now: a claim waits, or marks and riders are due."""
        return bool(self._claims) or (self._due and bool(self._marks or self._riders))

    def _abandon(self, message_id: str, waiter: asyncio.Future[Claim]) -> None:
        if not waiter.cancelled() and waiter.exception() is None and waiter.result() is Claim.OWNED:
            task = asyncio.get_running_loop().create_task(self._release_quietly(message_id))
            self._releasing.add(task)
            task.add_done_callback(self._releasing.discard)

    async def _release_quietly(self, message_id: str) -> None:
        with contextlib.suppress(StoreError):
            await self.release(message_id)

    async def _flush_while_queued(self) -> None:
        await self._flush_queued()
        if self._marks or self._riders:  # queued during the last flush: not due yet
            self._arm()

    async def _flush_queued(self) -> None:
        while self._queued():
            if self._lingering is not None:  # this flush takes the lingering marks along
                self._lingering.cancel()
                self._lingering = None
            self._due = False
            claims, self._claims = self._claims, {}
            marks, self._marks = self._marks, {}
            riders, self._riders = self._riders, {}
            self._marking = set(marks)
            try:
                outcomes = await self._flush(list(claims), list(marks), riders)
            except Exception as error:
                # A StoreError; anything else (a rider's constraint error, a bug) must still
                # answer every waiter, or their requests would hang.
                exc = (
                    error
                    if isinstance(error, StoreError)
                    else StoreError(f"dedup flush failed: {type(error).__name__}")
                )
                if exc is not error:
                    log.error("dedup.flush_failed", error=type(error).__name__)
                _fail(claims.values(), exc)
                _fail(marks.values(), exc)
                if riders:
                    lost = {_name(write): len(items) for write, items in riders.items()}
                    log.warning("dedup.riders_lost", writes=lost, error=str(exc))
                # Unawaited marks are kept for the next flush (and answered as duplicates here
                # meanwhile): the store is back soon, and no new ones come while it is not.
                kept: dict[str, asyncio.Future[None] | None] = {
                    m: None for m, waiter in marks.items() if waiter is None
                }
                if kept and self._flushing_out:
                    log.warning("dedup.marks_not_recorded", marks=len(kept), error=str(exc))
                elif kept:
                    log.warning("dedup.marks_retried", marks=len(kept), error=str(exc))
                    self._marks = kept | self._marks
                    await asyncio.sleep(_RETRY_AFTER)
                    self._due = True
                continue
            finally:
                self._marking = set()
            for message_id, waiter in claims.items():
                if not waiter.done():
                    waiter.set_result(outcomes[message_id])
            for marked in marks.values():
                if marked is not None and not marked.done():
                    marked.set_result(None)

    async def _flush(
        self, claims: list[str], marks: list[str], riders: dict[Rider, list[Any]]
    ) -> dict[str, Claim]:
        write = functools.partial(
            _write_flush, claims, marks, riders, self._clock(), self._ttl, self._stale_after
        )
        return await self._writer.run("dedup flush", write)

    async def purge_expired(self, batch: int = 5000) -> int:
        """Delete up to `batch` expired rows; returns how many."""
        now = self._clock()
        ids = select(t.c.id).where(t.c.expires_at < now).limit(batch).scalar_subquery()
        async with transaction(self._engine, "dedup purge") as conn:
            return (await conn.execute(delete(t).where(t.c.id.in_(ids)))).rowcount

    async def _update(self, stmt: Executable) -> None:
        async with transaction(self._engine, "dedup update") as conn:
            await conn.execute(stmt)
