"""Publishing with publisher confirms, `mandatory` and returned-message errors.

`AmqpPublisher.publish` returns only once RabbitMQ has confirmed the message; a returned
(unroutable) message raises `Unroutable`; no confirm within the timeout, a nack or a lost
connection raise `BrokerUnavailable`, so the caller answers the platform with an error and the
platform retries.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

import aio_pika
import aiormq
import structlog
from aio_pika.abc import AbstractExchange, AbstractRobustConnection, DeliveryMode

from gateway.broker.topology import INBOUND, declare_topology
from gateway.errors import BrokerUnavailable, Unroutable
from gateway.models import Envelope

__all__ = ["AmqpPublisher", "Publisher", "broker_up", "connect", "publish_confirmed"]

log = structlog.get_logger("gateway.broker")

CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    aiormq.exceptions.AMQPError,
    ConnectionError,
    OSError,
    RuntimeError,
)


def broker_up(connection: AbstractRobustConnection) -> bool:
    """True while the connection is established (not closed, not waiting to reconnect)."""
    return connection.connected.is_set() and not connection.is_closed


class Publisher(Protocol):
    async def publish(self, envelope: Envelope) -> None: ...


async def connect(url: str, *, name: str = "kefu-gateway") -> AbstractRobustConnection:
    """A robust connection that fails fast on the first attempt; BrokerUnavailable if down."""
    try:
        return await aio_pika.connect_robust(
            url, client_properties={"connection_name": name}, fail_fast=True
        )
    except CONNECTION_ERRORS as exc:
        raise BrokerUnavailable(f"cannot connect to RabbitMQ: {type(exc).__name__}") from exc


class AmqpPublisher:
    """Publishes envelopes to one exchange on a confirming channel."""

    def __init__(
        self,
        exchange: AbstractExchange,
        *,
        timeout: float,
        connection: AbstractRobustConnection | None = None,
    ) -> None:
        self._exchange = exchange
        self._timeout = timeout
        self._connection = connection

    @property
    def ready(self) -> bool:
        """False while the connection is known to be down (publishing would only time out)."""
        connection = self._connection
        return connection is None or broker_up(connection)

    @classmethod
    async def open(
        cls, connection: AbstractRobustConnection, *, timeout: float, exchange: str = INBOUND
    ) -> AmqpPublisher:
        """Declare the topology on a new confirming channel and publish to `exchange`."""
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        exchanges = await declare_topology(channel)
        return cls(exchanges[exchange], timeout=timeout, connection=connection)

    async def publish(self, envelope: Envelope) -> None:
        if not self.ready:
            raise BrokerUnavailable("RabbitMQ connection is down")
        message = aio_pika.Message(
            body=envelope.body,
            message_id=envelope.message_id,
            content_type="application/json",
            delivery_mode=DeliveryMode.PERSISTENT,
            timestamp=envelope.timestamp,
            headers=dict(envelope.headers),
        )
        await publish_confirmed(self._exchange, message, envelope.routing_key, self._timeout)


async def publish_confirmed(
    exchange: AbstractExchange, message: aio_pika.Message, routing_key: str, timeout: float
) -> None:
    """Publish `mandatory` on a confirming channel and wait for the confirm, translating
    aio-pika's outcomes: returned → `Unroutable`; nack, no confirm in time or a lost
    connection → `BrokerUnavailable`."""
    try:
        async with asyncio.timeout(timeout):
            await exchange.publish(message, routing_key, mandatory=True)
    except aio_pika.exceptions.PublishError as exc:
        raise Unroutable(f"nothing bound to {exchange.name} for {routing_key!r}") from exc
    except TimeoutError as exc:
        raise BrokerUnavailable("RabbitMQ did not confirm in time") from exc
    except aio_pika.exceptions.DeliveryError as exc:
        raise BrokerUnavailable("RabbitMQ refused the message (nack)") from exc
    except CONNECTION_ERRORS as exc:
        raise BrokerUnavailable(f"RabbitMQ connection lost: {type(exc).__name__}") from exc
