"""Every exchange, queue and binding kefu-gateway relies on, declared idempotently at start.

Contract (DESIGN.md "RabbitMQ topology"):

- ``kefu.inbound`` (topic): ``advisor.<id>`` → ``kefu.advisors``, ``bot.<platform>`` →
  ``kefu.bots``, ``event.<platform>.<type>`` → ``kefu.events``, ``quarantine.<platform>`` →
  ``kefu.quarantine``. Consumers may bind their own queues too.
- ``kefu.outbound`` (direct) → ``kefu.outbound`` with routing key ``outbound``.
- ``kefu.receipts`` (topic): ``receipt.<status>`` → ``kefu.receipts`` (``receipt.#``).
- ``kefu.dlx`` (fanout) → ``kefu.dead``; the work queues dead-letter there after
  ``DELIVERY_LIMIT`` redeliveries (quorum queue ``x-delivery-limit``) or a reject.
- ``kefu.control`` (fanout): cache invalidation between gateway processes.

All queues are durable quorum queues.
"""

from __future__ import annotations

from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, ExchangeType

__all__ = [
    "CONTROL",
    "DEAD",
    "DELIVERY_LIMIT",
    "DLX",
    "INBOUND",
    "OUTBOUND",
    "OUTBOUND_KEY",
    "QUEUES",
    "RECEIPTS",
    "Binding",
    "declare_topology",
]

INBOUND = "kefu.inbound"
OUTBOUND = "kefu.outbound"
OUTBOUND_KEY = "outbound"
RECEIPTS = "kefu.receipts"
DLX = "kefu.dlx"
DEAD = "kefu.dead"
CONTROL = "kefu.control"
DELIVERY_LIMIT = 5


@dataclass(frozen=True, slots=True)
class Binding:
    queue: str
    exchange: str
    routing_key: str


QUEUES: tuple[Binding, ...] = (
    Binding("kefu.advisors", INBOUND, "advisor.*"),
    Binding("kefu.bots", INBOUND, "bot.*"),
    Binding("kefu.events", INBOUND, "event.#"),
    Binding("kefu.quarantine", INBOUND, "quarantine.*"),
    Binding("kefu.outbound", OUTBOUND, OUTBOUND_KEY),
    Binding("kefu.receipts", RECEIPTS, "receipt.#"),
)

_EXCHANGES: tuple[tuple[str, ExchangeType], ...] = (
    (INBOUND, ExchangeType.TOPIC),
    (OUTBOUND, ExchangeType.DIRECT),
    (RECEIPTS, ExchangeType.TOPIC),
    (DLX, ExchangeType.FANOUT),
    (CONTROL, ExchangeType.FANOUT),
)


async def declare_topology(channel: AbstractChannel) -> dict[str, AbstractExchange]:
    """Declare everything (idempotent); returns the exchanges by name."""
    exchanges = {
        name: await channel.declare_exchange(name, kind, durable=True) for name, kind in _EXCHANGES
    }
    dead = await channel.declare_queue(DEAD, durable=True, arguments={"x-queue-type": "quorum"})
    await dead.bind(exchanges[DLX], routing_key="")
    work_args: dict[str, aio_pika.abc.FieldValue] = {
        "x-queue-type": "quorum",
        "x-dead-letter-exchange": DLX,
        "x-delivery-limit": DELIVERY_LIMIT,
    }
    for binding in QUEUES:
        queue = await channel.declare_queue(binding.queue, durable=True, arguments=work_args)
        await queue.bind(exchanges[binding.exchange], routing_key=binding.routing_key)
    return exchanges
