"""`MassWorker`: expands mass-send tasks into proactive ``gateway.outbound/1`` messages.

Every gateway process runs one. It looks for due tasks every ``poll_interval`` (or at once when
this process created one: `wake`), leases up to ``concurrency`` of them and drives each in steps
(`gateway.mass.ledger` has the transactions):

1. a batch left unpublished by a stopped worker is published again (also for a task cancelled
   meanwhile: its queued messages go out, as any queued before a cancel);
2. a pending task is started (a filter's customers are resolved);
3. while fewer than ``max_in_flight`` of the task's messages await their receipt, the next batch
   is decided and queued, published on ``kefu.outbound`` with publisher confirms, and recorded
   as published. The pause keeps a 15,000-customer task from queueing ahead of live replies.

Messages: ``sender = advisor:<id>``, ``proactive = true``, ``request_id = mass:<task>:<customer>``;
the outbound sender applies its guard (binding, sensitive words, monthly touches) to each.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import time
from collections.abc import Callable

import structlog
from aio_pika.abc import AbstractExchange

from gateway.errors import PublishError, StoreError
from gateway.mass.ledger import Ledger, Queued, Run
from gateway.mass.model import MassConfig
from gateway.outbound.amqp import OutboundNames, enqueue
from gateway.outbound.policy import PolicyBook
from gateway.outbound.schema import OutboundMessage

__all__ = ["MassWorker", "owner_name"]

log = structlog.get_logger("gateway.mass")

_RETRYABLE = (StoreError, PublishError)


def owner_name() -> str:
    """This process's name in task leases: host, pid and a random suffix."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


class MassWorker:
    def __init__(
        self,
        ledger: Ledger,
        outbound: AbstractExchange,
        *,
        policies: PolicyBook,
        config: MassConfig,
        owner: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._ledger = ledger
        self._outbound = outbound
        self._policies = policies
        self._config = config
        self._owner = owner or owner_name()
        self._names = OutboundNames(
            exchange=config.outbound_exchange, routing_key=config.outbound_routing_key
        )
        self._clock = clock
        self._wake = asyncio.Event()
        self._drives: dict[str, asyncio.Task[None]] = {}
        self._loop: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._loop = asyncio.create_task(self._run(), name="mass-worker")

    def wake(self) -> None:
        """Look for due tasks now (a task was created or changed in this process)."""
        self._wake.set()

    async def close(self) -> None:
        """Stop expanding and give up the leases (another process may continue at once)."""
        held = list(self._drives)
        tasks = [t for t in (self._loop, *self._drives.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for task_id in held:
            with contextlib.suppress(StoreError):
                await self._ledger.release(task_id, self._owner)

    async def _run(self) -> None:
        while True:
            free = self._config.concurrency - len(self._drives)
            try:
                due = await self._ledger.due(free) if free > 0 else []
            except StoreError as exc:
                log.warning("mass.poll_failed", error=str(exc))
                due = []
            for task_id in due:
                if task_id not in self._drives:
                    self._drives[task_id] = asyncio.create_task(self._drive(task_id))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._config.poll_interval):
                    await self._wake.wait()

    async def _drive(self, task_id: str) -> None:
        try:
            while True:
                try:
                    pause = await self._step(task_id)
                except _RETRYABLE as exc:
                    log.warning("mass.retry", task_id=task_id, error=str(exc))
                    pause = self._config.retry_pause
                if pause is None:
                    return
                if pause > 0:
                    await asyncio.sleep(pause)
        except Exception as exc:  # a bug: the lease runs out and the task is tried again later
            log.exception("mass.crashed", task_id=task_id, error_type=type(exc).__name__)
        finally:
            self._drives.pop(task_id, None)
            self._wake.set()

    async def _step(self, task_id: str) -> float | None:
        """One step of a task; seconds to pause before the next, or None when done here."""
        config = self._config
        run = await self._ledger.lease(task_id, self._owner, config.lease_seconds)
        if run is None:
            return None
        if run.batch > run.published:
            again = await self._ledger.unpublished(run)
            await self._publish(run, again)
            await self._ledger.published(run.id, run.batch)
            log.info("mass.republished", task_id=task_id, batch=run.batch, messages=len(again))
            return 0.0
        if run.state == "pending":
            started = await self._ledger.start(task_id, self._owner)
            log.info("mass.started", task_id=task_id, advisor_id=run.advisor_id, ok=started)
            return 0.0 if started else None
        if run.state != "running":  # cancelled: its last batch is out now
            return None
        room = min(config.batch_size, config.max_in_flight - await self._ledger.in_flight(run.id))
        if room <= 0:
            return config.poll_interval
        policy = self._policies.of(run.platform, run.account)
        batch = await self._ledger.claim(
            run,
            self._owner,
            size=room,
            since=self._clock() - config.recent_hours * 3600.0,
            window=policy.window_seconds,
            lease=config.lease_seconds,
        )
        if batch is None or batch.completed:
            log.info("mass.stopped", task_id=task_id, completed=batch is not None)
            return None
        await self._publish(run, batch.queued)
        await self._ledger.published(run.id, batch.number)
        log.info(
            "mass.batch", task_id=task_id, batch=batch.number, queued=len(batch.queued),
            skipped=batch.skipped,
        )  # fmt: skip
        return 0.0

    async def _publish(self, run: Run, queued: list[Queued]) -> None:
        """Publish every message of a batch (concurrently, each confirmed); raises the first
        failure after all attempts ended."""
        sends = [
            enqueue(
                self._outbound,
                self._message(run, q),
                timeout=self._config.publish_timeout,
                names=self._names,
            )
            for q in queued
        ]
        results = await asyncio.gather(*sends, return_exceptions=True)
        failure = next((r for r in results if isinstance(r, BaseException)), None)
        if failure is not None:
            raise failure

    def _message(self, run: Run, queued: Queued) -> OutboundMessage:
        return OutboundMessage.model_validate(
            {
                **run.material,
                "request_id": queued.request_id,
                "sender": f"advisor:{run.advisor_id}",
                "platform": run.platform,
                "account": run.account,
                "customer": queued.external_id,
                "proactive": True,
            }
        )
