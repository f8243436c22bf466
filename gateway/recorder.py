"""The recorder: keeps the conversation records of what flows through the gateway.

Inbound messages are recorded by the process that accepted them (`InboundRecords`): after the
hand-off they are kept for up to `INBOUND_EVERY` seconds, then their rows ride in the next dedup
flush (with the done marks), and the webhook answer does not wait for it (a row still kept or
queued when the process is killed is lost; the message itself is not). Outbound requests
and receipts come from other processes: a durable quorum queue ``kefu.records`` is bound to
``kefu.outbound`` (``outbound``) and ``kefu.receipts`` (``receipt.#``); they are written to the
store in batches and acknowledged only after the batch is committed (at-least-once; the
records' unique key makes a redelivery harmless). Several gateway processes share the queue as
competing consumers.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import datetime
from typing import Any

import orjson
import structlog
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue
from sqlalchemy.engine import Connection

from gateway.broker.publisher import CONNECTION_ERRORS
from gateway.broker.topology import INBOUND, OUTBOUND, OUTBOUND_KEY, RECEIPTS
from gateway.errors import StoreError
from gateway.models import SCHEMA as MESSAGE_SCHEMA
from gateway.models import Envelope
from gateway.store.dedup import DedupStore
from gateway.store.records import RecordsStore, StatusUpdate, write_records

__all__ = ["RECORDS_QUEUE", "InboundRecords", "Recorder", "to_record", "write_inbound"]

log = structlog.get_logger("gateway.recorder")

RECORDS_QUEUE = "kefu.records"
_BATCH, _FLUSH_EVERY, _SETTLE_TIMEOUT = 200, 0.25, 1.0
INBOUND_EVERY = 0.1  # seconds an inbound record is kept before it rides in a dedup flush


def to_record(exchange: str, doc: dict[str, Any]) -> dict[str, Any] | StatusUpdate | None:
    """A record row, an outcome, or None for what is not a conversation message."""
    if exchange == INBOUND and doc.get("schema") == MESSAGE_SCHEMA:
        route = doc.get("route") or {}
        return {
            "direction": "in",
            "message_id": doc["id"],
            "platform": doc["platform"],
            "account": doc["account"],
            "customer": doc["customer"]["id"],
            "advisor_id": route.get("advisor_id"),
            "sender": None,
            "kind": doc["kind"],
            "text": doc.get("text"),
            "status": route.get("target", "unknown"),
            "reason": route.get("reason"),
            "at": _epoch(doc.get("received_at")),
        }
    if exchange == OUTBOUND and "request_id" in doc:
        sender = str(doc.get("sender", ""))
        content = doc.get("content") or {}
        return {
            "direction": "out",
            "message_id": str(doc["request_id"]),
            "platform": str(doc.get("platform", "")),
            "account": str(doc.get("account", "")),
            "customer": str(doc.get("customer", "")),
            "advisor_id": sender.removeprefix("advisor:")
            if sender.startswith("advisor:")
            else None,
            "sender": sender,
            "kind": str(doc.get("kind", "unknown")),
            "text": content.get("text") if isinstance(content, dict) else None,
            "status": "queued",
            "reason": None,
            "at": time.time(),
        }
    if exchange == RECEIPTS and doc.get("request_id"):
        return StatusUpdate(
            str(doc["request_id"]),
            str(doc.get("status", "unknown")),
            doc.get("reason"),
            time.time(),
        )
    return None


def write_inbound(conn: Connection, bodies: list[bytes]) -> None:
    """The records of published inbound envelopes (their bodies), in the caller's transaction:
    the rider of `InboundRecords`. Rows are built here, where the flush runs (on SQLite the
    store's writer process), not on the event loop."""
    docs = (to_record(INBOUND, orjson.loads(body)) for body in bodies)
    write_records(conn, [row for row in docs if isinstance(row, dict)])


class InboundRecords:
    """Records inbound messages straight from the ingest: each envelope's body rides in a dedup
    flush (the transaction that also marks messages done), not a transaction of its own, and its
    row is built there (`write_inbound`).

    Bodies are kept for up to `every` seconds and then posted together, so that one flush in
    that time carries the records rather than every claim's. Where callbacks come one at a time
    (a flush each), a record in every flush was about 40 % of the store writer's CPU: the rows,
    the statistics' change queue and their pages in each commit (bench/results/
    2026-12-07-hotpath.md, tenth round). `post` hands what is kept on at once (shutdown: before
    the dedup store's last flush)."""

    def __init__(self, dedup: DedupStore, *, every: float = INBOUND_EVERY) -> None:
        self._dedup = dedup
        self._every = every
        self._kept: list[bytes] = []
        self._timer: asyncio.TimerHandle | None = None

    def add(self, envelope: Envelope) -> None:
        self._kept.append(envelope.body)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._every, self.post)

    def post(self) -> None:
        """Hand the kept bodies to the dedup store's next flush."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        kept, self._kept = self._kept, []
        for body in kept:
            self._dedup.ride(write_inbound, body)


class Recorder:
    def __init__(self, store: RecordsStore, queue: AbstractQueue) -> None:
        self._store = store
        self._queue = queue
        self._pending: list[AbstractIncomingMessage] = []
        self._task: asyncio.Task[None] | None = None
        self._tag: str | None = None

    @classmethod
    async def open(cls, store: RecordsStore, channel: AbstractChannel) -> Recorder:
        await channel.set_qos(prefetch_count=_BATCH * 2)
        queue = await channel.declare_queue(
            RECORDS_QUEUE, durable=True, arguments={"x-queue-type": "quorum"}
        )
        # Inbound rows are written by the accepting process; earlier builds bound this queue to
        # every inbound message: drop that binding where one of them made it.
        await queue.unbind(INBOUND, "#")
        await queue.bind(OUTBOUND, OUTBOUND_KEY)
        await queue.bind(RECEIPTS, "receipt.#")
        recorder = cls(store, queue)
        recorder._tag = await queue.consume(recorder._on_message)
        recorder._task = asyncio.create_task(recorder._flush_forever(), name="recorder")
        return recorder

    async def close(self) -> None:
        if self._tag is not None:
            with contextlib.suppress(*CONNECTION_ERRORS, TimeoutError):
                async with asyncio.timeout(_SETTLE_TIMEOUT):
                    await self._queue.cancel(self._tag)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, *CONNECTION_ERRORS):
                await self._task
        await self._flush()

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        self._pending.append(message)
        if len(self._pending) >= _BATCH:
            await self._flush()

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(_FLUSH_EVERY)
            try:
                await self._flush()
            except Exception as exc:  # keep recording: RabbitMQ redelivers what was not acked
                log.error("recorder.flush_failed", error=type(exc).__name__)

    async def _flush(self) -> None:
        batch, self._pending = self._pending, []
        if not batch:
            return
        rows: list[dict[str, Any]] = []
        updates: list[StatusUpdate] = []
        for message in batch:
            try:
                item = to_record(message.exchange or "", orjson.loads(message.body))
            except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
                log.warning("recorder.unreadable", exchange=message.exchange)
                continue
            if isinstance(item, StatusUpdate):
                updates.append(item)
            elif item is not None:
                rows.append(item)
        try:
            await self._store.write(rows, updates)
        except StoreError as exc:
            log.warning("recorder.write_failed", error=str(exc), messages=len(batch))
            await _settle(batch, ack=False)
            return
        await _settle(batch, ack=True)


async def _settle(batch: list[AbstractIncomingMessage], *, ack: bool) -> None:
    """Ack (or requeue) a batch with one frame per channel. Deliveries of a channel that died
    (RabbitMQ reconnected meanwhile) cannot be settled: RabbitMQ redelivers them, and the
    records' unique key makes the second write harmless."""
    last_per_channel: dict[int, AbstractIncomingMessage] = {}
    for message in batch:
        try:
            channel = message.channel  # raises once the delivering channel is closed
        except CONNECTION_ERRORS:
            continue
        last_per_channel[id(channel)] = message
    for message in last_per_channel.values():
        with contextlib.suppress(*CONNECTION_ERRORS, TimeoutError):
            async with asyncio.timeout(_SETTLE_TIMEOUT):
                if ack:
                    await message.ack(multiple=True)
                else:
                    await message.nack(multiple=True, requeue=True)


def _epoch(value: Any) -> float:
    if not isinstance(value, str):
        return time.time()
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
