"""Group commit: writes that arrive while one transaction runs share the next one.

A caller `submit`s an item and waits until the transaction that wrote it has committed (or gets
that transaction's `StoreError`), or `post`s it and goes on (a failure is logged, the item is
lost). An idle store writes at once; a busy one turns tens of concurrent writes into one round
trip, one fsync and one compiled statement executed with many parameter sets, which is what
keeps the per-message database cost small on the webhook path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import structlog

from gateway.errors import StoreError

__all__ = ["GroupCommit"]

log = structlog.get_logger("gateway.store")

T = TypeVar("T")


class GroupCommit(Generic[T]):
    def __init__(self, write: Callable[[Sequence[T]], Awaitable[None]], name: str) -> None:
        self._write = write
        self._name = name
        self._queued: list[tuple[T, asyncio.Future[None] | None]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> None:
        """Write `item` with the next group; returns once it is committed."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue(item, done)
        await asyncio.shield(done)

    def post(self, item: T) -> None:
        """Write `item` with the next group, without waiting for it."""
        self._queue(item, None)

    def _queue(self, item: T, done: asyncio.Future[None] | None) -> None:
        self._queued.append((item, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_while_queued(), name=self._name)

    async def drain(self) -> None:
        """Wait until everything submitted so far is written (shutdown)."""
        if self._writer is not None:
            await self._writer

    async def _write_while_queued(self) -> None:
        while self._queued:
            group, self._queued = self._queued, []
            try:
                await self._write([item for item, _ in group])
            except StoreError as exc:
                log.warning(
                    "group_commit.failed", writer=self._name, items=len(group), error=str(exc)
                )
                for _, done in group:
                    if done is not None and not done.done():
                        done.set_exception(exc)
                        done.exception()  # seen: a caller that gave up must not log it again
                continue
            for _, done in group:
                if done is not None and not done.done():
                    done.set_result(None)
