"""The cost of one publish-with-confirm to the local RabbitMQ, measured in the running process.

Used by the stage benchmarks to report their cost as a share of a confirmed publish measured in
the same run (not a constant): client CPU µs per message and wall µs per message with 64
publishes in flight, through aio-pika with publisher confirms, persistent, to a temporary queue.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from dataclasses import dataclass

import aio_pika

AMQP_URL = os.environ.get("GATEWAY_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


@dataclass(frozen=True, slots=True)
class PublishCost:
    cpu_us: float
    wall_us: float


async def _measure(count: int, in_flight: int) -> PublishCost:
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        queue = await channel.declare_queue(
            f"bench.{uuid.uuid4().hex[:8]}", auto_delete=True, exclusive=True
        )
        body = b"x" * 900  # about the size of a gateway.message/1 document
        gate = asyncio.Semaphore(in_flight)

        async def one() -> None:
            async with gate:
                await channel.default_exchange.publish(
                    aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                    routing_key=queue.name,
                )

        await asyncio.gather(*(one() for _ in range(200)))  # warm up
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(one() for _ in range(count)))
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        await queue.purge()
    return PublishCost(cpu / count * 1e6, wall / count * 1e6)


def measure_publish(count: int = 3000, in_flight: int = 64) -> PublishCost | None:
    """The measured cost, or None when RabbitMQ is not reachable."""
    try:
        return asyncio.run(_measure(count, in_flight))
    except (ConnectionError, OSError):
        return None
