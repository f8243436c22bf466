"""`ReceiptConsumer`: records the outcome of every mass-send message from ``kefu.receipts``.

The gateway binds a durable quorum queue of its own, ``kefu.mass-receipts`` (``receipt.#``,
dead-lettering to ``kefu.dlx`` after the contract's delivery limit like the work queues), so
receipts wait there while no gateway runs. Receipts whose ``request_id`` starts with ``mass:``
update their recipient row (`gateway.store.mass.MassStore.record_receipt`); all others are
acknowledged and ignored. A receipt is acknowledged after the row is written; a database failure
requeues it after a pause. Updates are idempotent, so redeliveries and several consuming
processes are harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Any

import aio_pika
import orjson
import structlog
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue

from gateway.broker.publisher import CONNECTION_ERRORS
from gateway.broker.topology import DELIVERY_LIMIT, DLX
from gateway.errors import StoreError
from gateway.mass.model import RECEIPT_PREFIX, MassConfig
from gateway.store.mass import MassStore

__all__ = ["ReceiptConsumer"]

log = structlog.get_logger("gateway.mass")

_STATUSES = frozenset({"sent", "rejected", "failed"})


class ReceiptConsumer:
    def __init__(self, channel: AbstractChannel, store: MassStore, config: MassConfig) -> None:
        self._channel = channel
        self._store = store
        self._config = config
        self._queue: AbstractQueue | None = None
        self._tag: str | None = None

    async def start(self) -> None:
        """Declare and bind the queue (idempotent), then consume."""
        config = self._config
        await self._channel.set_qos(prefetch_count=config.receipts_prefetch)
        arguments: dict[str, Any] = {
            "x-queue-type": "quorum",
            "x-dead-letter-exchange": DLX,
            "x-delivery-limit": DELIVERY_LIMIT,
        }
        self._queue = await self._channel.declare_queue(
            config.receipts_queue, durable=True, arguments=arguments
        )
        await self._queue.bind(config.receipts_exchange, routing_key="receipt.#")
        self._tag = await self._queue.consume(self._on_message)
        log.info("mass.receipts_started", queue=config.receipts_queue)

    async def close(self) -> None:
        """Stop consuming; unacknowledged receipts are redelivered later."""
        with contextlib.suppress(*CONNECTION_ERRORS):
            if self._queue is not None and self._tag is not None:
                await self._queue.cancel(self._tag)
            await self._channel.close()

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        parsed = _parse(message.body)
        if parsed is not None:
            request_id, status, reason, detail = parsed
            try:
                applied = await self._store.record_receipt(request_id, status, reason, detail)
            except StoreError as exc:
                log.warning("mass.receipt_requeued", request_id=request_id, error=str(exc))
                await asyncio.sleep(self._config.retry_pause)
                await _settle(message.nack(requeue=True))
                return
            log.debug("mass.receipt", request_id=request_id, status=status, applied=applied)
        await _settle(message.ack())


def _parse(body: bytes) -> tuple[str, str, str | None, str] | None:
    """(request_id, status, reason, detail) of a mass-send receipt, else None."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict):
        return None
    request_id, status, reason = doc.get("request_id"), doc.get("status"), doc.get("reason")
    if not isinstance(request_id, str) or not request_id.startswith(RECEIPT_PREFIX):
        return None
    if status not in _STATUSES:
        return None
    detail = doc.get("detail")
    return (
        request_id,
        str(status),
        reason if isinstance(reason, str) else None,
        detail if isinstance(detail, str) else "",
    )


async def _settle(outcome: Awaitable[None]) -> None:
    with contextlib.suppress(*CONNECTION_ERRORS, aio_pika.exceptions.MessageProcessError):
        await outcome
