"""The store writer's own process: runs the write transactions its gateway process sends it.

`gateway.store.writer.ProcessWriter` starts it as ``python -m gateway.store.writer_process URL``
with a SQLite database file's URL, then sends frames on its standard input: a 4-byte big-endian
length and a pickled ``(what, write)``, `write` a module-level function (or a `functools.partial`
of one) taking a SQLAlchemy `Connection`. Each is run in a transaction of its own, in the order
sent, and answered on standard output, in the same order, with a frame holding ``(True, result)``
or ``(False, exception)``: errors as in `gateway.store.tx.store_errors`.

Why a process: in a thread, the writer's SQLAlchemy work needed the GIL the event loop holds
most of the time under load, and every SQLite call hands it back and forth; a dedup flush that
costs 0.35 ms of CPU alone took 1.6 ms of CPU and 2–3 ms of wall time next to a busy event loop
(bench/results/2026-12-07-hotpath.md, fifth round).

The process ends when its input ends (the gateway closed it, or died), after answering what it
had read. It ignores SIGINT and SIGTERM, which a terminal or a service manager may send to the
whole process group: the gateway still writes its last flush through it while it shuts down.
Frames come only from the parent that started it, over a private pipe.
"""

from __future__ import annotations

import os
import pickle
import signal
import struct
import sys
from typing import IO, Any

import structlog
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine

from gateway.errors import StoreError
from gateway.logs import configure_logging
from gateway.store.engine import SQLITE_LOCK_TIMEOUT, sqlite_pragmas
from gateway.store.tx import store_errors

__all__ = ["HEADER", "HeldConnection", "main", "read_frame", "sync_engine"]

log = structlog.get_logger("gateway.store")

HEADER = struct.Struct(">I")  # the length of the pickled frame that follows


def sync_engine(url: str) -> Engine:
    """One synchronous connection to the database file, with the pragmas of the gateway's own."""
    engine = create_engine(
        url,
        connect_args={"timeout": SQLITE_LOCK_TIMEOUT, "check_same_thread": False},
        pool_size=1,
        max_overflow=0,
    )
    event.listen(engine, "connect", sqlite_pragmas)
    return engine


def read_frame(stream: IO[bytes]) -> bytes | None:
    """The next frame's bytes, or None at the end of the input (a partial frame included)."""
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    (size,) = HEADER.unpack(header)
    frame = stream.read(size)
    return frame if len(frame) == size else None


class HeldConnection:
    """The process's one connection, kept between transactions (checking one out of the pool
    and back for every write cost ≈ 40 µs of a flush's CPU) and opened again when a failure
    closed or invalidated it."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: Connection | None = None

    def get(self) -> Connection:
        conn = self._conn
        if conn is None or conn.closed or conn.invalidated:
            if conn is not None:
                conn.close()
            conn = self._conn = self._engine.connect()
        return conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def answer(held: HeldConnection, frame: bytes) -> bytes:
    """Run one sent write in a transaction; its pickled ``(ok, result or exception)``."""
    try:
        what, write = pickle.loads(frame)  # noqa: S301 — from the parent process, over its pipe
    except Exception as exc:
        return _dump(False, StoreError(f"store write could not be read: {type(exc).__name__}"))
    try:
        with store_errors(what):
            conn = held.get()
            with conn.begin():
                result = write(conn)
    except Exception as exc:
        return _dump(False, exc, what)
    return _dump(True, result, what)


def _dump(ok: bool, value: Any, what: str = "store write") -> bytes:
    try:
        return pickle.dumps((ok, value), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # an unpicklable result or exception: say so instead
        error = StoreError(f"{what} failed: its outcome could not be sent ({type(exc).__name__})")
        return pickle.dumps((False, error), protocol=pickle.HIGHEST_PROTOCOL)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m gateway.store.writer_process SQLITE_URL", file=sys.stderr)
        return 2
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Answers go out on a private copy of stdout; anything printed lands on stderr (the log).
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    level = os.environ.get("GATEWAY_LOG_LEVEL", "info").lower()
    configure_logging(level=level if level in ("debug", "info", "warning", "error") else "info")
    engine = sync_engine(args[0])
    held = HeldConnection(engine)
    requests = sys.stdin.buffer
    try:
        while (frame := read_frame(requests)) is not None:
            reply = answer(held, frame)
            answers.write(HEADER.pack(len(reply)) + reply)
            answers.flush()
    except BrokenPipeError:  # the gateway is gone: nobody waits for the answers
        log.warning("store.writer_orphaned")
    finally:
        held.close()
        engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
