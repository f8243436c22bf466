"""AmqpPublisher against the real RabbitMQ: confirms, unroutable is an error, topology shape."""

from __future__ import annotations

import uuid

import aio_pika
import pytest

from gateway.broker.publisher import AmqpPublisher, connect
from gateway.broker.topology import QUEUES, declare_topology
from gateway.errors import BrokerUnavailable, Unroutable
from gateway.models import Envelope
from tests.conftest import AMQP_URL

pytestmark = [pytest.mark.rabbitmq]


async def test_unroutable_raises() -> None:
    """A mandatory publish that no queue is bound for raises Unroutable instead of vanishing."""
    connection = await connect(AMQP_URL)
    async with connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        exchange = await channel.declare_exchange(
            f"test.{uuid.uuid4().hex[:8]}", "topic", auto_delete=True
        )
        publisher = AmqpPublisher(exchange, timeout=3)
        with pytest.raises(Unroutable):
            await publisher.publish(Envelope("nobody.listens", "x1", b"{}"))


async def test_topology_is_idempotent_and_complete() -> None:
    """Declaring twice works; every contract queue exists, durable, and is a quorum queue."""
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        await declare_topology(channel)
        await declare_topology(channel)
        for binding in (*QUEUES,):
            queue = await channel.declare_queue(binding.queue, passive=True)
            assert queue.name == binding.queue
        await channel.declare_queue("kefu.dead", passive=True)


async def test_connect_to_nothing_fails_fast() -> None:
    """With nothing listening, connect raises BrokerUnavailable at once."""
    with pytest.raises(BrokerUnavailable):
        await connect("amqp://guest:guest@127.0.0.1:1/")
