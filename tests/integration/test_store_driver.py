"""Prebuilt statements on SQLite's own cursor (gateway.store.driver), against Core's results.

Each test runs on a SQLite file and on PostgreSQL (where the functions are `Connection.execute`),
twice on SQLite: through aiosqlite on the event loop (SQLAlchemy's adapted cursor) and in the
store writer's process (the `sqlite3` module's own cursor, what the webhook path uses).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, bindparam, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError

from gateway.errors import StoreError
from gateway.store.driver import execute_each, execute_many
from gateway.store.engine import create_engine, insert_for, migrate
from gateway.store.schema import callback_dedup as t
from gateway.store.schema import records
from gateway.store.writer import writer_for
from gateway.store.writer_process import HeldConnection, sync_engine

pytestmark = [pytest.mark.postgres]

_INSERT = t.insert()
_DONE = update(t).where(t.c.id == bindparam("key")).values(state=1, expires_at=99.0)


def _rows(*ids: str) -> list[dict[str, Any]]:
    return [{"id": i, "state": 0, "claimed_at": 1.0, "expires_at": 2.0} for i in ids]


def _table(conn: Connection) -> list[tuple[str, int, float]]:
    query = select(t.c.id, t.c.state, t.c.expires_at).order_by(t.c.id)
    return [(row.id, row.state, row.expires_at) for row in conn.execute(query)]


def _many_then_constants(conn: Connection) -> list[tuple[str, int, float]]:
    execute_many(conn, _INSERT, _rows("a", "b", "c"))
    execute_many(conn, _DONE, [{"key": "a"}, {"key": "c"}])  # the SET's constants are added
    execute_many(conn, _DONE, [])  # nothing to do
    return _table(conn)


def _null_constant(conn: Connection) -> list[str | None]:
    row = {k: "x" for k in ("direction", "message_id", "platform", "account", "customer", "kind")}
    execute_many(conn, records.insert(), [{**row, "status": "sent", "reason": "r", "at": 1.0}])
    forget = update(records).where(records.c.message_id == bindparam("key")).values(reason=None)
    execute_many(conn, forget, [{"key": "x"}])
    return [row.reason for row in conn.execute(select(records.c.reason))]


def _each(conn: Connection) -> list[int]:
    claim = insert_for(conn.dialect.name)(t).on_conflict_do_nothing(index_elements=["id"])
    execute_many(conn, _INSERT, _rows("taken"))
    return execute_each(conn, claim, _rows("new", "taken", "other"))


def _many_then_fail(conn: Connection) -> None:
    execute_many(conn, _INSERT, _rows("rolled-back"))
    raise ValueError("a bug after the write")


def _duplicate(conn: Connection) -> None:
    execute_many(conn, _INSERT, _rows("dup", "dup"))


_NOWHERE = Table("no_such_table", MetaData(), Column("x", Integer)).insert()


def _missing_table(conn: Connection) -> None:
    execute_many(conn, _NOWHERE, [{"x": 1}])


def _count(conn: Connection) -> int:
    return int(conn.execute(text("SELECT count(*) FROM callback_dedup")).scalar_one())


@pytest.fixture(params=["sqlite-loop", "sqlite-writer", "postgres-loop"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """The database URL, and where the writes run: "loop" or "writer"."""
    database, where = str(request.param).split("-")
    if database == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}", where
    return str(request.getfixturevalue("postgres_url")), where


@pytest.fixture
async def run(store: tuple[str, str]) -> Any:
    """Run a write in a transaction of a migrated store: on the loop (aiosqlite, asyncpg), or in
    the SQLite writer's process (the `sqlite3` module's cursor, as the webhook path does)."""
    url, where = store
    engine = create_engine(url)
    await migrate(engine)
    writer = writer_for(engine) if where == "writer" else None

    async def in_transaction(write: Callable[[Connection], Any]) -> Any:
        if writer is not None:
            return await writer.run("driver test", write)
        async with engine.begin() as conn:
            return await conn.run_sync(write)

    yield in_transaction
    if writer is not None:
        await writer.close()
    await engine.dispose()


async def test_execute_many_writes_every_row_with_the_statements_constants(run: Any) -> None:
    assert await run(_many_then_constants) == [("a", 1, 99.0), ("b", 0, 2.0), ("c", 1, 99.0)]


async def test_a_null_constant_is_written(run: Any) -> None:
    assert await run(_null_constant) == [None]


async def test_execute_each_counts_what_each_row_changed(run: Any) -> None:
    assert await run(_each) == [1, 0, 1]
    assert await run(_count) == 3


async def test_driver_writes_are_in_the_callers_transaction(run: Any) -> None:
    with pytest.raises(ValueError, match="a bug"):
        await run(_many_then_fail)
    assert await run(_count) == 0


async def test_driver_errors_are_sqlalchemys(run: Any) -> None:
    """A constraint error is SQLAlchemy's IntegrityError (callers turn it into their answer),
    other database errors are a StoreError where `store_errors` applies (the writer). The
    writer's kept connection is usable after each."""
    with pytest.raises(IntegrityError):
        await run(_duplicate)
    assert await run(_count) == 0
    with pytest.raises((StoreError, DBAPIError)) as raised:
        await run(_missing_table)
    assert not isinstance(raised.value, IntegrityError)


async def test_held_connection_is_kept_and_opened_again_when_lost(tmp_path: Path) -> None:
    """The writer process keeps its connection between writes, and opens another when a
    failure invalidated it or it was closed."""
    url = tmp_path / "held.db"
    engine = create_engine(f"sqlite+aiosqlite:///{url}")
    await migrate(engine)
    await engine.dispose()
    held = HeldConnection(sync_engine(f"sqlite:///{url}"))
    try:
        first = held.get()
        assert held.get() is first
        with first.begin():
            execute_many(first, _INSERT, _rows("kept"))
        first.invalidate()
        second = held.get()
        assert second is not first
        with second.begin():
            assert _count(second) == 1
        held.close()
        third = held.get()
        assert third is not second
        with third.begin():
            assert _count(third) == 1
    finally:
        held.close()
