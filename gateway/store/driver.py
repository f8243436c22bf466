"""Prebuilt Core statements run on SQLite's own cursor, for the writes of every webhook.

On SQLite, SQLAlchemy's work around a statement (an execution context, `construct_params` for
every row of an executemany, the result object) cost more CPU than SQLite's own B-tree work: a
dedup flush of four messages took ≈ 875 µs of CPU through `Connection.execute`, ≈ 445 µs with
the same statements on the driver's cursor (bench/results/2026-12-07-hotpath.md, sixth round).
Here a statement is compiled once per parameter set's keys (SQLite's ``:name`` style, so rows
go to the driver as they are), and its constants are added to each row. The cursor is the
connection's own: the statements run in the caller's transaction.

Only for statements whose parameters need no bind processing (strings, numbers): the driver
gets the values unconverted. On other databases these are `Connection.execute`.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.sql.dml import UpdateBase

__all__ = ["execute_each", "execute_many"]

_NAMED = sqlite.dialect(paramstyle="named")
Row = Mapping[str, Any]


@functools.lru_cache(maxsize=256)
def _compiled(stmt: UpdateBase, keys: tuple[str, ...]) -> tuple[str, dict[str, Any]]:
    """The statement's SQL for rows with `keys`, and its constants (the parameters that are
    not columns of the rows: ``SET state = 1``, a ``CASE``'s values)."""
    compiled = stmt.compile(dialect=_NAMED, column_keys=list(keys))
    constants: dict[str, Any] = {}
    for bind, name in compiled.bind_names.items():
        if name in keys or bind.required:  # a row's value (or missing from the row: an error)
            continue
        if bind.callable is not None:  # evaluated per execution by SQLAlchemy, not here
            raise ValueError(f"{name}: a parameter computed per execution is not supported")
        constants[name] = bind.value
    return str(compiled), constants


def _prepared(stmt: UpdateBase, rows: Sequence[Row]) -> tuple[str, Sequence[Row]]:
    sql, constants = _compiled(stmt, tuple(rows[0]))
    if constants:
        rows = [{**constants, **row} for row in rows]
    return sql, rows


def execute_many(conn: Connection, stmt: UpdateBase, rows: Sequence[Row]) -> None:
    """``conn.execute(stmt, rows)`` (every row has the keys of the first)."""
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        conn.execute(stmt, list(rows))
        return
    sql, params = _prepared(stmt, rows)
    with _driver_cursor(conn, sql) as cursor:
        cursor.executemany(sql, params)


def execute_each(conn: Connection, stmt: UpdateBase, rows: Sequence[Row]) -> list[int]:
    """Run `stmt` once per row; how many rows each run changed (an ``INSERT … ON CONFLICT DO
    NOTHING`` that lost: 0). On SQLite these are calls into the library, not round trips."""
    if not rows:
        return []
    if conn.dialect.name != "sqlite":
        return [conn.execute(stmt, dict(row)).rowcount for row in rows]
    sql, params = _prepared(stmt, rows)
    counts: list[int] = []
    with _driver_cursor(conn, sql) as cursor:
        for row in params:
            cursor.execute(sql, row)
            counts.append(cursor.rowcount)
    return counts


@contextlib.contextmanager
def _driver_cursor(conn: Connection, sql: str) -> Iterator[Any]:
    """A cursor of the connection's own driver connection (its transaction), closed after use;
    a driver error in the block is raised as SQLAlchemy's (`_wrapped`)."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        yield cursor
    except conn.dialect.dbapi.Error as exc:  # type: ignore[union-attr]
        raise _wrapped(conn, sql, exc) from exc
    finally:
        cursor.close()


def _wrapped(conn: Connection, sql: str, exc: Exception) -> StatementError:
    """The driver's error as SQLAlchemy raises it (`IntegrityError`, `OperationalError` …), so
    `gateway.store.tx.store_errors` and the callers' handling see what `execute` would raise."""
    dbapi = conn.dialect.dbapi
    assert dbapi is not None
    return DBAPIError.instance(sql, None, exc, dbapi.Error, dialect=conn.dialect)
