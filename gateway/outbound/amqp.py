"""The sender's RabbitMQ side: queue names, confirmed receipts and dead letters, `enqueue`.

Everything is published with publisher confirms and ``mandatory``: `AmqpSink` returns only when
RabbitMQ confirmed, a returned message raises `Unroutable`, a nack / timeout / lost connection
`BrokerUnavailable` (the sender then requeues the outbound message; nothing is acked before).

Dead letters: a message the sender gives up on (retries exhausted, or credentials refused) is
published by the sender itself to ``kefu.dlx`` (→ ``kefu.dead``) with its original body
(``message_id`` = request_id) and headers ``x-kefu-error`` (a short reason, no message text, no
secrets), ``x-kefu-reason``, ``x-kefu-attempts``, ``x-kefu-platform-code``,
``x-kefu-source-queue``; the original is acked only after that publish is confirmed. (Rejecting
without requeue would let RabbitMQ dead-letter it, but without the error, and at most once for
quorum queues.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, DeliveryMode, HeadersType

from gateway.broker.publisher import publish_confirmed
from gateway.broker.topology import DLX, OUTBOUND, OUTBOUND_KEY, RECEIPTS
from gateway.outbound.schema import OutboundMessage

__all__ = ["AmqpSink", "OutboundNames", "Sink", "enqueue"]


@dataclass(frozen=True, slots=True)
class OutboundNames:
    """Where the sender consumes and publishes; the defaults are the contract topology."""

    exchange: str = OUTBOUND
    routing_key: str = OUTBOUND_KEY
    queue: str = OUTBOUND
    receipts: str = RECEIPTS
    dlx: str = DLX


class Sink(Protocol):
    """Where the processor publishes receipts and dead letters (confirmed before returning)."""

    async def receipt(self, body: bytes, *, status: str, request_id: str | None) -> None: ...

    async def dead_letter(
        self, body: bytes, *, request_id: str | None, headers: Mapping[str, str | int]
    ) -> None: ...


class AmqpSink:
    def __init__(self, receipts: AbstractExchange, dlx: AbstractExchange, *, timeout: float):
        self._receipts = receipts
        self._dlx = dlx
        self._timeout = timeout

    async def receipt(self, body: bytes, *, status: str, request_id: str | None) -> None:
        """Publish a `gateway.receipt/1` with routing key ``receipt.<status>``; confirmed."""
        message = _message(body, request_id, {"status": status})
        await publish_confirmed(self._receipts, message, f"receipt.{status}", self._timeout)

    async def dead_letter(
        self, body: bytes, *, request_id: str | None, headers: Mapping[str, str | int]
    ) -> None:
        """Publish the original body to the dead-letter exchange with the error headers."""
        message = _message(body, request_id, dict(headers))
        await publish_confirmed(self._dlx, message, "", self._timeout)


async def enqueue(
    target: AbstractChannel | AbstractExchange,
    message: OutboundMessage,
    *,
    timeout: float = 5.0,
    names: OutboundNames = OutboundNames(),
) -> None:
    """Queue `message` on ``kefu.outbound`` (the gateway's own welcome / offline replies).

    Args:
        target: a channel (the ``kefu.outbound`` exchange is looked up on it) or the exchange.
            Use a channel opened with ``publisher_confirms=True`` to wait for the confirm.
        message: the request; its ``request_id`` becomes the AMQP ``message_id``.

    Raises:
        Unroutable: nothing is bound to the exchange; BrokerUnavailable: no confirm in time.
    """
    exchange = (
        target
        if isinstance(target, AbstractExchange)
        else await target.get_exchange(names.exchange, ensure=False)
    )
    headers: HeadersType = {
        "platform": message.platform,
        "account": message.account,
        "sender": message.sender,
    }
    amqp = _message(message.to_json(), message.request_id, headers)
    await publish_confirmed(exchange, amqp, names.routing_key, timeout)


def _message(body: bytes, message_id: str | None, headers: HeadersType) -> aio_pika.Message:
    return aio_pika.Message(
        body=body,
        message_id=message_id,
        content_type="application/json",
        delivery_mode=DeliveryMode.PERSISTENT,
        timestamp=datetime.now(UTC),
        headers=dict(headers),
    )
