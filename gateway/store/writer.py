"""Run a whole write transaction as one synchronous function, in as few hops as the driver allows.

Through aiosqlite every statement costs three or four trips between the event loop and the
connection's thread (cursor, execute, fetch, close), and each waits for a turn of a busy loop: a
dedup flush of five statements took about ten trips and 1.4 ms of CPU. `ProcessWriter` runs the
transaction on a synchronous connection to the same database file in a process of its own
(`gateway.store.writer_process`): one trip per transaction, and none of the GIL contention of
the dedicated thread it replaced (bench/results/2026-12-07-hotpath.md, third and fifth rounds).
`LoopWriter` runs the same function through `AsyncConnection.run_sync` — PostgreSQL (asyncpg has
no thread to hop to) and in-memory SQLite (another process would open a different, empty
database).

The function gets a SQLAlchemy `Connection` inside a transaction that commits when it returns
and rolls back when it raises; errors surface as in `gateway.store.tx.store_errors`. It must be
picklable — a module-level function, or a `functools.partial` of one with picklable arguments —
and depend only on its arguments and the database: it may run in another process, and on
PostgreSQL a transaction that loses a deadlock or a serialization conflict to another gateway
process is rolled back by the server and run again (up to three times).
"""

from __future__ import annotations

import asyncio
import collections
import os
import pickle
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

import structlog
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.errors import StoreError
from gateway.store.tx import transaction
from gateway.store.writer_process import HEADER as _HEADER

__all__ = ["LoopWriter", "ProcessWriter", "Writer", "writer_for"]

log = structlog.get_logger("gateway.store")

T = TypeVar("T")

# SQLSTATEs after which PostgreSQL has rolled the transaction back and running it again can
# succeed: deadlock_detected, serialization_failure.
_TRANSIENT = frozenset({"40P01", "40001"})
_ATTEMPTS = 3
_SOURCE_ROOT = str(Path(__file__).resolve().parents[2])  # the directory holding `gateway`
_RESTART_AFTER = 1.0  # seconds: a writer process is not started again sooner after the last


def _transient(exc: StoreError) -> str | None:
    """The SQLSTATE of a transaction lost to a concurrent one, else None."""
    cause = exc.__cause__
    if not isinstance(cause, DBAPIError):
        return None
    state = getattr(cause.orig, "sqlstate", None)
    return state if state in _TRANSIENT else None


class Writer(Protocol):
    async def start(self) -> None: ...

    async def run(self, what: str, write: Callable[[Connection], T]) -> T: ...

    async def close(self) -> None: ...


def writer_for(engine: AsyncEngine) -> Writer:
    """A `ProcessWriter` for a SQLite database file, else a `LoopWriter`."""
    url = engine.url
    in_memory = url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"
    if url.get_backend_name() == "sqlite" and not in_memory:
        return ProcessWriter(engine)
    return LoopWriter(engine)


class LoopWriter:
    """On the engine's own connections, through `run_sync`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def start(self) -> None:
        return None

    async def run(self, what: str, write: Callable[[Connection], T]) -> T:
        attempt = 1
        while True:
            try:
                async with transaction(self._engine, what) as conn:
                    return await conn.run_sync(write)
            except StoreError as exc:
                state = _transient(exc)
                if state is None or attempt == _ATTEMPTS:
                    raise
                log.warning("store.retried", what=what, sqlstate=state, attempt=attempt)
                attempt += 1

    async def close(self) -> None:
        return None


class ProcessWriter:
    """One child process (`gateway.store.writer_process`) with one synchronous connection, the
    transactions sent to it over a pipe and answered in order.

    The process starts with `start` (or the first `run`); if it dies, the writes waiting for it
    fail with `StoreError` (they may or may not have committed) and the next `run` starts a new
    one — unless the last one died before answering anything: then not within a second of its
    start (a process that dies as it starts is not started again for every flush). A `write`
    must be picklable: a module-level function, or a `functools.partial` of one with picklable
    arguments."""

    def __init__(self, engine: AsyncEngine, *, restart_after: float = _RESTART_AFTER) -> None:
        self._url = engine.url.set(drivername="sqlite").render_as_string(hide_password=False)
        self._restart_after = restart_after
        self._child: _Child | None = None
        self._starting = asyncio.Lock()
        self._started_at = 0.0  # loop time of the last start
        self._closed = False

    async def start(self) -> None:
        await self._running()

    async def run(self, what: str, write: Callable[[Connection], T]) -> T:
        frame = pickle.dumps((what, write), protocol=pickle.HIGHEST_PROTOCOL)
        child = await self._running()
        ok, value = await child.send(frame)
        if not ok:
            raise value
        return cast(T, value)

    async def _running(self) -> _Child:
        if self._closed:
            raise StoreError("the store writer is closed")
        child = self._child
        if child is not None and child.alive:
            return child
        async with self._starting:
            if self._child is None or not self._child.alive:
                now = asyncio.get_running_loop().time()
                if self._child is not None:
                    if not self._child.answered and now - self._started_at < self._restart_after:
                        # it died before answering anything: not started again for every write
                        raise StoreError("store write failed: the writer process keeps exiting")
                    log.warning("store.writer_restarted", exit_code=self._child.exit_code)
                self._child = await _Child.spawn(self._url)
                self._started_at = now
            return self._child

    async def close(self) -> None:
        """Let the process answer what was sent, then end it (its input closed)."""
        if self._closed:
            return
        self._closed = True
        if self._child is not None:
            await self._child.close()


class _Child:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        self._proc = proc
        self._stdin = proc.stdin
        self._stdout = proc.stdout
        self._waiting: collections.deque[asyncio.Future[tuple[bool, Any]]] = collections.deque()
        self._reader = asyncio.create_task(self._read_answers(), name="store-writer-answers")
        self.alive = True
        self.answered = 0
        self._closing = False

    @classmethod
    async def spawn(cls, url: str) -> _Child:
        env = dict(os.environ)
        # The child imports the writes' modules from where this process has them.
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (_SOURCE_ROOT, env.get("PYTHONPATH"))))
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "gateway.store.writer_process", url,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env,
            )  # fmt: skip
        except OSError as exc:
            raise StoreError(f"store writer could not start: {type(exc).__name__}") from exc
        return cls(proc)

    @property
    def exit_code(self) -> int | None:
        return self._proc.returncode

    async def send(self, frame: bytes) -> tuple[bool, Any]:
        if not self.alive:
            raise StoreError("store write failed: the writer process exited")
        answered: asyncio.Future[tuple[bool, Any]] = asyncio.get_running_loop().create_future()
        self._waiting.append(answered)
        try:
            self._stdin.write(_HEADER.pack(len(frame)) + frame)
            await self._stdin.drain()
        except (ConnectionError, RuntimeError) as exc:  # the pipe is closed: the process died
            self._gone()
            answered.exception()  # failed by `_gone`; raised here instead
            raise StoreError("store write failed: the writer process exited") from exc
        return await asyncio.shield(answered)

    async def _read_answers(self) -> None:
        try:
            while True:
                size = _HEADER.unpack(await self._stdout.readexactly(_HEADER.size))[0]
                frame = await self._stdout.readexactly(size)
                answered = self._waiting.popleft()
                self.answered += 1
                try:
                    reply = pickle.loads(frame)  # noqa: S301 — from its own child, over its pipe
                except Exception as exc:  # e.g. an exception class that cannot be rebuilt here
                    reply = (False, StoreError(f"store write failed: {type(exc).__name__}"))
                if not answered.done():
                    answered.set_result(reply)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # its output ended: the process is gone
        finally:
            self._gone()

    def _gone(self) -> None:
        if not self.alive:
            return
        self.alive = False
        error = StoreError("store write failed: the writer process exited")
        while self._waiting:
            answered = self._waiting.popleft()
            if not answered.done():
                answered.set_exception(error)
        if not self._closing:  # it died, or its answers could not be read
            log.error("store.writer_lost", exit_code=self._proc.returncode)
            self._stdin.close()  # a process still running ends at the end of its input

    async def close(self, timeout: float = 30.0) -> None:
        self._closing = True
        if not self._stdin.is_closing():
            self._stdin.close()  # end of input: the process answers what it read, then exits
        try:
            async with asyncio.timeout(timeout):
                await self._reader
                await self._proc.wait()
        except TimeoutError:
            log.error("store.writer_killed", after_s=timeout)
            self._proc.kill()
            await self._proc.wait()
