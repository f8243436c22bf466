"""The store writer: a whole transaction as one synchronous function (gateway.store.writer)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import random
import signal
import sys
import threading
from collections.abc import AsyncIterator
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
from gateway.store.writer import LoopWriter, ProcessWriter, writer_for

pytestmark = [pytest.mark.postgres]


def _count(conn: Connection) -> int:
    return int(conn.execute(text("SELECT count(*) FROM callback_dedup")).scalar_one())


_INSERT = text(
    "INSERT INTO callback_dedup (id, state, claimed_at, expires_at) VALUES (:i, 0, 1, 2)"
)


# The writes are module-level functions (partials of them): the SQLite writer runs them in its
# own process.
def _insert_id(message_id: str, conn: Connection) -> None:
    conn.execute(_INSERT, {"i": message_id})


def _insert(message_id: str) -> functools.partial[None]:
    return functools.partial(_insert_id, message_id)


def _insert_then_fail(message_id: str, conn: Connection) -> None:
    _insert_id(message_id, conn)
    raise ValueError("a bug in the write")


def _broken_sql(conn: Connection) -> None:
    conn.execute(text("SELECT * FROM no_such_table"))


def _pid(conn: Connection) -> int:
    return os.getpid()


def _pid_rider(conn: Connection, items: list[int]) -> None:
    """A dedup flush rider that leaves the pid and thread of whoever ran it in the table."""
    where = f"{os.getpid()}/{threading.current_thread().name}"
    conn.execute(_INSERT, {"i": f"ran:{where}:{items[0]}"})


def _pragma(name: str, conn: Connection) -> object:
    return conn.execute(text(f"PRAGMA {name}")).scalar()


class _TwoPartError(Exception):
    """Pickles, but does not unpickle: its args hold one joined string, its __init__ wants two."""

    def __init__(self, first: str, second: str) -> None:
        super().__init__(first + second)


def _raise_two_part(conn: Connection) -> None:
    raise _TwoPartError("un", "rebuildable")


def _exit_now(conn: Connection) -> None:
    os._exit(3)  # the writer process dies in the middle of a transaction


async def test_writer_kind_follows_the_database(engine: AsyncEngine) -> None:
    writer = writer_for(engine)
    try:
        expected = ProcessWriter if engine.dialect.name == "sqlite" else LoopWriter
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
        with pytest.raises(ValueError, match="a bug"):
            await writer.run("test write", functools.partial(_insert_then_fail, "w2"))
        with pytest.raises(IntegrityError):  # constraint errors pass through for the caller
            await writer.run("test write", _insert("w1"))
        with pytest.raises(StoreError, match="test read failed"):
            await writer.run("test read", _broken_sql)
        assert await writer.run("count", _count) == 1  # w1 only: w2 was rolled back
    finally:
        await writer.close()
    await writer.close()  # closing twice is harmless


async def test_dedup_flush_runs_whole_in_the_writer(engine: AsyncEngine) -> None:
    """With the gateway's writer, on a SQLite file the flush (claims and riders) runs in the
    writer's process, one trip per flush; on PostgreSQL on the event loop's thread. Many claims
    at once share one flush."""
    writer = writer_for(engine)
    store = DedupStore(engine, ttl=3600, stale_after=10, writer=writer)
    try:
        outcomes = await asyncio.gather(
            *(store.claim(f"m{i}", rider=(_pid_rider, i)) for i in range(50))
        )
        await store.flush()
        writer_pid = await writer.run("pid", _pid)
    finally:
        await writer.close()
    assert set(outcomes) == {Claim.OWNED}
    async with engine.connect() as conn:
        query = text("SELECT id FROM callback_dedup WHERE id LIKE 'ran:%'")
        ran = [row.id for row in await conn.execute(query)]
    places = {name.split(":")[1] for name in ran}
    if engine.dialect.name == "sqlite":
        assert writer_pid != os.getpid()
        assert places == {f"{writer_pid}/MainThread"}
    else:
        assert places == {f"{os.getpid()}/{threading.main_thread().name}"}
    # one rider row per flush: the first claim's, then everything that queued behind it
    assert 1 <= len(ran) <= 2


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
            await writer.run("test write", _broken_sql)
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
        assert await writer.run("pragma", functools.partial(_pragma, "cache_size")) == -2000
    finally:
        await writer.close()
        await engine.dispose()


# The SQLite writer's process (gateway.store.writer_process).


@contextlib.asynccontextmanager
async def _sqlite_writer(
    tmp_path: Path, restart_after: float = 1.0
) -> AsyncIterator[tuple[AsyncEngine, ProcessWriter]]:
    """A migrated SQLite file and its writer process, both closed at the end."""
    from gateway.store.engine import migrate

    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'writer.db'}")
    writer = ProcessWriter(engine, restart_after=restart_after)
    try:
        await migrate(engine)
        yield engine, writer
    finally:
        await writer.close()
        await engine.dispose()


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    with open(f"/proc/{pid}/stat") as stat:  # a zombie still answers kill(0)
        return stat.read().split(")")[-1].split()[0] == "Z"


async def test_a_dead_writer_process_fails_its_writes_and_the_next_write_starts_another(
    tmp_path: Path,
) -> None:
    async with _sqlite_writer(tmp_path, restart_after=1.5) as (_engine, writer):
        first = await writer.run("pid", _pid)
        with capture_logs() as logs:
            with pytest.raises(StoreError, match="writer process exited"):
                await writer.run("test write", functools.partial(_insert_then_exit, "lost"))
            second = await writer.run("pid", _pid)  # started at once: the first had served
            with pytest.raises(StoreError, match="writer process exited"):
                await writer.run("test write", _exit_now)
            with pytest.raises(StoreError, match="writer process exited"):
                await writer.run("test write", _exit_now)  # a third dies before answering
            # ... so a fourth is not started for every write, only after a pause
            with pytest.raises(StoreError, match="keeps exiting"):
                await writer.run("pid", _pid)
            await asyncio.sleep(1.5)
            fourth = await writer.run("pid", _pid)
        assert len({first, second, fourth, os.getpid()}) == 4
        events = [e["event"] for e in logs if e["event"].startswith("store.")]
        assert events == ["store.writer_lost", "store.writer_restarted"] * 3
        assert await writer.run("count", _count) == 0  # the dying transaction did not commit


def _insert_then_exit(message_id: str, conn: Connection) -> None:
    _insert_id(message_id, conn)
    _exit_now(conn)


async def test_the_writer_process_ignores_termination_signals_and_ends_with_its_input(
    tmp_path: Path,
) -> None:
    """A terminal's Ctrl-C or a service manager's SIGTERM reaches the whole process group: the
    writer keeps serving the gateway's last flush, and exits when the gateway closes it."""
    async with _sqlite_writer(tmp_path) as (engine, writer):
        pid = await writer.run("pid", _pid)
        os.kill(pid, signal.SIGINT)
        os.kill(pid, signal.SIGTERM)
        await asyncio.sleep(0.2)
        await writer.run("test write", _insert("after the signals"))
        sent = asyncio.gather(*(writer.run("test write", _insert(f"q{i}")) for i in range(20)))
        await asyncio.sleep(0)  # sent, not yet answered
        await writer.close()
        await sent  # what was sent before the close is answered
        assert _gone(pid)
        with pytest.raises(StoreError, match="closed"):
            await writer.run("count", _count)
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM callback_dedup"))).scalar() == 21


async def test_an_answer_that_cannot_be_read_fails_that_write_alone(tmp_path: Path) -> None:
    async with _sqlite_writer(tmp_path) as (_engine, writer):
        pid = await writer.run("pid", _pid)
        with pytest.raises(StoreError, match="store write failed: TypeError"):
            await writer.run("test write", _raise_two_part)
        assert await writer.run("pid", _pid) == pid  # the same process goes on serving


async def test_a_write_that_cannot_be_sent_fails_alone(tmp_path: Path) -> None:
    async with _sqlite_writer(tmp_path) as (_engine, writer):
        pid = await writer.run("pid", _pid)
        closure = 1

        def local(conn: Connection) -> int:  # not picklable: a function inside a function
            return closure

        with pytest.raises(AttributeError, match="local"):
            await writer.run("test write", local)
        assert await writer.run("pid", _pid) == pid


_ORPHAN = """
import asyncio, os, sys
from gateway.store.engine import create_engine
from gateway.store.writer import writer_for
from tests.integration.test_store_writer import _pid

async def main():
    writer = writer_for(create_engine(sys.argv[1]))
    print(await writer.run("pid", _pid), flush=True)
    os._exit(0)  # no close: the gateway process dies

asyncio.run(main())
"""


_REPO = str(Path(__file__).resolve().parents[2])


async def test_the_writer_process_exits_when_its_gateway_dies(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _ORPHAN, f"sqlite+aiosqlite:///{tmp_path / 'orphan.db'}",
        stdout=asyncio.subprocess.PIPE, cwd=_REPO,
    )  # fmt: skip
    out, _ = await proc.communicate()
    pid = int(out)
    for _ in range(100):
        if _gone(pid):
            break
        await asyncio.sleep(0.05)
    assert _gone(pid)
