"""DedupStore on real SQLite and PostgreSQL: claims, duplicates, takeover, concurrency, purge."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.errors import StoreError
from gateway.store.dedup import Claim, DedupStore
from gateway.store.engine import create_engine, migrate
from gateway.store.writer import LoopWriter

pytestmark = [pytest.mark.postgres]

T = TypeVar("T")


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    await migrate(engine)
    await migrate(engine)  # idempotent
    yield engine
    await engine.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(engine: AsyncEngine, clock: Clock) -> DedupStore:
    return DedupStore(engine, ttl=3600, stale_after=10, clock=clock)


async def test_claim_done_then_duplicate(store: DedupStore) -> None:
    """After done, the same id is a duplicate."""
    assert await store.claim("a1") is Claim.OWNED
    assert await store.claim("a1") is Claim.BUSY
    await store.done("a1")
    assert await store.claim("a1") is Claim.DUPLICATE  # known here before the mark is written
    await store.flush()
    assert await store.claim("a1") is Claim.DUPLICATE


async def test_done_marks_reach_the_database(engine: AsyncEngine, clock: Clock) -> None:
    """Another process (another store object) sees the done mark once flushed."""
    one = DedupStore(engine, ttl=3600, stale_after=10, clock=clock)
    other = DedupStore(engine, ttl=3600, stale_after=10, clock=clock)
    assert await one.claim("a2") is Claim.OWNED
    await one.done("a2")
    await one.flush()
    assert await other.claim("a2") is Claim.DUPLICATE


async def test_many_claims_share_a_flush(
    store: DedupStore, engine: AsyncEngine, clock: Clock
) -> None:
    """Concurrent claims of distinct ids, and of one id twice, in one group commit."""
    ids = [f"g{i}" for i in range(1200)]  # more than one INSERT's worth
    results = await asyncio.gather(*(store.claim(m) for m in [*ids, "g7"]))
    assert results[:-1] == [Claim.OWNED] * len(ids)
    assert results[-1] is Claim.BUSY
    await asyncio.gather(*(store.done(m) for m in ids))
    await store.flush()
    fresh = DedupStore(engine, ttl=3600, stale_after=10, clock=clock)
    assert set(await asyncio.gather(*(fresh.claim(m) for m in ids))) == {Claim.DUPLICATE}


async def test_a_cancelled_owner_releases_its_claim(store: DedupStore) -> None:
    """A request cancelled while its claim is in flight does not leave it pending."""
    waiting = asyncio.create_task(store.claim("h1"))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    for _ in range(100):
        if await store.claim("h1") is Claim.OWNED:
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("claim h1 still held after its owner was cancelled")


async def test_release_lets_a_retry_publish(store: DedupStore) -> None:
    """A failed publish releases its claim so the platform's retry can publish."""
    assert await store.claim("b1") is Claim.OWNED
    await store.release("b1")
    assert await store.claim("b1") is Claim.OWNED


async def test_stale_claim_is_taken_over(store: DedupStore, clock: Clock) -> None:
    """A claim left by a crashed process is taken over after `stale_after`."""
    assert await store.claim("c1") is Claim.OWNED
    clock.now += 11
    assert await store.claim("c1") is Claim.OWNED
    assert await store.claim("c1") is Claim.BUSY


async def test_expired_rows_purged(store: DedupStore, clock: Clock) -> None:
    """Rows past their expiry are purged and the id can be published again."""
    assert await store.claim("d1") is Claim.OWNED
    await store.done("d1")
    await store.flush()
    clock.now += 3601
    assert await store.purge_expired() >= 1
    assert await store.claim("d1") is Claim.OWNED


async def test_concurrent_claims_have_one_owner(engine: AsyncEngine, clock: Clock) -> None:
    """Twenty concurrent claims of one id, from separate store objects, yield exactly one owner."""
    stores = [DedupStore(engine, ttl=3600, stale_after=10, clock=clock) for _ in range(20)]
    results = await asyncio.gather(*(s.claim("e1") for s in stores))
    assert results.count(Claim.OWNED) == 1
    assert set(results) == {Claim.OWNED, Claim.BUSY}


async def test_mark_without_waiting_then_retried_after_a_failed_flush(
    engine: AsyncEngine, clock: Clock
) -> None:
    """`mark` returns at once; the id is a duplicate here while the mark waits. A flush that
    fails (the table is briefly gone: a real store error) keeps the mark and writes it later,
    so another process sees the duplicate once the store is back."""
    one = DedupStore(engine, ttl=3600, stale_after=10, clock=clock, linger=0.0)
    other = DedupStore(engine, ttl=3600, stale_after=10, clock=clock)
    assert await one.claim("m1") is Claim.OWNED
    async with engine.begin() as conn:
        await conn.exec_driver_sql("ALTER TABLE callback_dedup RENAME TO callback_dedup_away")
    one.mark("m1")
    await asyncio.sleep(0.1)  # the flush has failed and is waiting to retry
    assert await asyncio.wait_for(one.claim("m1"), 1) is Claim.DUPLICATE
    async with engine.begin() as conn:
        await conn.exec_driver_sql("ALTER TABLE callback_dedup_away RENAME TO callback_dedup")
    await asyncio.sleep(0.8)  # the retry after 0.5 s
    assert await other.claim("m1") is Claim.DUPLICATE


class CountingWriter(LoopWriter):
    """The engine's own writer, counting the transactions it runs."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine)
        self.runs = 0

    async def run(self, what: str, write: Callable[[Connection], T]) -> T:
        self.runs += 1
        return await super().run(what, write)


async def _state(engine: AsyncEngine, message_id: str) -> int | None:
    async with engine.connect() as conn:
        row = await conn.execute(
            text("SELECT state FROM callback_dedup WHERE id = :id"), {"id": message_id}
        )
        return row.scalar_one_or_none()


async def test_marks_and_riders_wait_for_a_claims_flush(engine: AsyncEngine, clock: Clock) -> None:
    """Queued marks and posted riders start no flush of their own: the next claim's flush
    writes them (one transaction for the callback that ends and the one that begins); with no
    claim, they are written `linger` seconds later; `flush` writes them at once."""
    writer = CountingWriter(engine)
    store = DedupStore(engine, ttl=3600, stale_after=10, clock=clock, writer=writer, linger=1.0)
    seen: list[list[str]] = []

    def write(conn: Connection, items: list[str]) -> None:
        seen.append(list(items))

    assert await store.claim("l1") is Claim.OWNED
    assert writer.runs == 1
    store.mark("l1")
    store.ride(write, "after l1")
    await asyncio.sleep(0.05)
    assert writer.runs == 1 and seen == []  # lingering
    assert await _state(engine, "l1") == 0  # still pending in the database
    assert await store.claim("l1") is Claim.DUPLICATE  # known here meanwhile
    assert await store.claim("l2") is Claim.OWNED
    assert writer.runs == 2  # one flush: l2's claim with l1's mark and the rider
    assert await _state(engine, "l1") == 1 and seen == [["after l1"]]

    store.mark("l2")  # no claim follows: written after the linger
    await asyncio.sleep(0.2)
    assert await _state(engine, "l2") == 0 and writer.runs == 2
    await asyncio.sleep(1.3)
    assert await _state(engine, "l2") == 1 and writer.runs == 3

    assert await store.claim("l3") is Claim.OWNED
    store.mark("l3")
    await asyncio.wait_for(store.flush(), 0.8)  # at once, not after the linger
    assert await _state(engine, "l3") == 1 and writer.runs == 5
    await asyncio.sleep(1.3)
    assert writer.runs == 5  # the cancelled linger wrote nothing more


async def test_riders_share_the_flush_transaction(engine: AsyncEngine, clock: Clock) -> None:
    """A claim's rider is committed with the claim (visible once the claim returns); posted
    riders go with the next flush; a rider that raises fails that flush's claims with a
    StoreError (their requests are answered, never left waiting) and nothing of it is kept."""
    store = DedupStore(engine, ttl=3600, stale_after=10, clock=clock)
    seen: list[list[str]] = []

    def write(conn: Connection, items: list[str]) -> None:
        seen.append(list(items))
        for item in items:
            conn.execute(text("UPDATE callback_dedup SET expires_at = 1 WHERE id = :i"),
                         {"i": item})  # fmt: skip

    def broken(conn: Connection, items: list[str]) -> None:
        conn.execute(text("DELETE FROM callback_dedup"))
        raise ValueError("a bug in a rider")

    first, second = await asyncio.gather(
        store.claim("r1", rider=(write, "r1")), store.claim("r2", rider=(write, "r2"))
    )
    assert {first, second} == {Claim.OWNED}
    assert seen == [["r1", "r2"]]  # one call, in the one flush of both claims
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT id, expires_at FROM callback_dedup"))).all()
    assert sorted(rows) == [("r1", 1.0), ("r2", 1.0)]  # the rider saw its own claim's row
    store.ride(write, "r1")
    await store.flush()
    assert seen[-1] == ["r1"]
    with pytest.raises(StoreError):
        await asyncio.wait_for(store.claim("r3", rider=(broken, None)), 5)
    other = DedupStore(engine, ttl=3600, stale_after=10, clock=clock)
    assert await other.claim("r1") is Claim.BUSY  # claimed, never marked done
    async with engine.connect() as conn:
        ids = sorted((await conn.execute(text("SELECT id FROM callback_dedup"))).scalars())
    assert "r3" not in ids and "r2" in ids  # the broken flush was rolled back as a whole
