"""The store writer: a whole transaction as one synchronous function (gateway.store.writer)."""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from structlog.testing import capture_logs

from gateway.errors import StoreError
from gateway.store.dedup import Claim, DedupStore
from gateway.store.engine import POOLED_PAGE_CACHE_KIB, create_engine
from gateway.store.writer import LoopWriter, SqliteWriter, writer_for

pytestmark = [pytest.mark.postgres]


def _count(conn: Connection) -> int:
    return int(conn.execute(text("SELECT count(*) FROM callback_dedup")).scalar_one())


_INSERT = text(
    "INSERT INTO callback_dedup (id, state, claimed_at, expires_at) VALUES (:i, 0, 1, 2)"
)


def _insert(message_id: str) -> Callable[[Connection], None]:
    def write(conn: Connection) -> None:
        conn.execute(_INSERT, {"i": message_id})

    return write


async def test_writer_kind_follows_the_database(engine: AsyncEngine) -> None:
    writer = writer_for(engine)
    try:
        expected = SqliteWriter if engine.dialect.name == "sqlite" else LoopWriter
        assert type(writer) is expected
    finally:
        await writer.close()
    # An in-memory SQLite database cannot be opened a second time: it stays on the loop.
    memory = create_async_engine("sqlite+aiosqlite://")
    try:
        assert type(writer_for(memory)) is LoopWriter
    finally:
        await memory.dispose()


async def test_commits_on_return_rolls_back_on_error(engine: AsyncEngine) -> None:
    writer = writer_for(engine)
    try:
        await writer.run("test write", _insert("w1"))

        def then_fail(conn: Connection) -> None:
            _insert("w2")(conn)
            raise ValueError("a bug in the write")

        with pytest.raises(ValueError, match="a bug"):
            await writer.run("test write", then_fail)
        with pytest.raises(IntegrityError):  # constraint errors pass through for the caller
            await writer.run("test write", _insert("w1"))

        def broken_sql(conn: Connection) -> None:
            conn.execute(text("SELECT * FROM no_such_table"))

        with pytest.raises(StoreError, match="test read failed"):
            await writer.run("test read", broken_sql)
        assert await writer.run("count", _count) == 1  # w1 only: w2 was rolled back
    finally:
        await writer.close()
    await writer.close()  # closing twice is harmless


async def test_dedup_flush_runs_whole_in_the_writer(engine: AsyncEngine) -> None:
    """With the gateway's writer, on a SQLite file the flush (claims and riders) runs in the
    writer thread, one trip per flush; on PostgreSQL on the event loop's thread. Many claims at
    once share one flush."""
    writer = writer_for(engine)
    store = DedupStore(engine, ttl=3600, stale_after=10, writer=writer)
    threads: list[str] = []

    def rider(conn: Connection, items: list[str]) -> None:
        threads.append(threading.current_thread().name)

    try:
        outcomes = await asyncio.gather(
            *(store.claim(f"m{i}", rider=(rider, i)) for i in range(50))
        )
        await store.flush()
    finally:
        await writer.close()
    assert set(outcomes) == {Claim.OWNED}
    if engine.dialect.name == "sqlite":
        assert threads and all(name.startswith("sqlite-writer") for name in threads)
    else:
        assert threads and set(threads) == {threading.main_thread().name}
    assert len(threads) <= 2  # the first claim's flush, then everything that queued behind it


_DEADLOCK_ONCE = text("DO $$ BEGIN RAISE EXCEPTION 'lost' USING ERRCODE = '40P01'; END $$")


async def test_a_transaction_lost_to_a_deadlock_runs_again(postgres_url: str) -> None:
    """PostgreSQL rolls back the loser of a deadlock (SQLSTATE 40P01, raised here by the server
    itself); the writer runs the transaction again instead of failing the flush's requests."""
    engine = create_engine(postgres_url)
    writer = LoopWriter(engine)
    attempts: list[int] = []

    def write(conn: Connection) -> int:
        attempts.append(len(attempts))
        _insert(f"d{len(attempts)}")(conn)
        if len(attempts) == 1:
            conn.execute(_DEADLOCK_ONCE)
        return _count(conn)

    def always(conn: Connection) -> None:
        conn.execute(_DEADLOCK_ONCE)

    try:
        with capture_logs() as logs:
            assert await writer.run("test write", write) == 1  # d1 was rolled back
        assert attempts == [0, 1]
        assert [e["event"] for e in logs] == ["store.retried"]
        assert logs[0]["sqlstate"] == "40P01"
        with pytest.raises(StoreError, match="test write failed: DBAPIError"):
            await writer.run("test write", always)  # three times, then given up
        with pytest.raises(StoreError):  # anything else is not run again
            await writer.run("test write", lambda conn: conn.execute(text("SELECT nope")))
    finally:
        await engine.dispose()


async def test_workers_flushing_the_same_customers_do_not_deadlock(postgres_url: str) -> None:
    """Two gateway processes on one PostgreSQL: their dedup flushes carry the reply windows of
    the same customers in different orders (bench/results, 2026-12-07 12:21: 'deadlock
    detected' on outbound_windows, 31 callbacks answered 503). Windows and claims are written in
    key order, so every flush commits."""
    from gateway.outbound import PolicyBook
    from gateway.store.outbound import OutboundStore

    engines = [create_engine(postgres_url) for _ in range(2)]
    book = PolicyBook.defaults()
    customers = [f"c{n:03d}" for n in range(40)]

    async def worker(engine: AsyncEngine, seed: int) -> None:
        rng = random.Random(seed)
        dedup = DedupStore(engine, ttl=3600, stale_after=10, writer=LoopWriter(engine))
        windows = OutboundStore(engine, rules=book.of)
        for round_ in range(60):
            picked = rng.sample(customers, 25)
            await asyncio.gather(
                *(
                    dedup.claim(
                        f"{seed}-{round_}-{c}",
                        rider=windows.customer_action(
                            rng.choice(["wechat", "douyin"]), "acct", c, datetime.now(UTC)
                        ),
                    )
                    for c in picked
                )
            )

    try:
        with capture_logs() as logs:
            await asyncio.gather(worker(engines[0], 1), worker(engines[1], 2))
        assert logs == []  # not even a retry: the key order alone prevents the deadlocks
        async with engines[0].connect() as conn:
            rows = (await conn.execute(text("SELECT count(*) FROM outbound_windows"))).scalar()
        assert rows == 80  # 40 customers on two platforms, one window each
    finally:
        for engine in engines:
            await engine.dispose()


async def test_pooled_connections_keep_a_small_page_cache_and_the_writer_the_default(
    tmp_path: Path,
) -> None:
    """The pool's SQLite connections cache POOLED_PAGE_CACHE_KIB each; the store writer keeps
    SQLite's default (-2000: 2,000 KiB), since the webhook path's B-tree pages are its own."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'cache.db'}")
    writer = writer_for(engine)
    pragma = text("PRAGMA cache_size")
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(pragma)).scalar() == -POOLED_PAGE_CACHE_KIB
        assert await writer.run("pragma", lambda conn: conn.execute(pragma).scalar()) == -2000
    finally:
        await writer.close()
        await engine.dispose()
