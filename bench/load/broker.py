"""RabbitMQ for the harness: a private vhost, a clear failure when the broker is down, queue
counts, purges, and a drain that counts distinct message ids (the exactly-once check).

The bench runs in its own vhost (default ``kefu-bench``) so that test suites purging ``kefu.*``
on the default vhost at the same time cannot disturb the counts, and so that the bench's
messages never reach anyone else's consumers.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

__all__ = [
    "BrokerDown",
    "Drained",
    "consume_until",
    "counts",
    "delete",
    "drain",
    "ensure_vhost",
    "purge",
    "server_version",
    "with_vhost",
]

GATEWAY_QUEUES = ("kefu.advisors", "kefu.bots", "kefu.quarantine", "kefu.events")
BASELINE_QUEUE = "bench.inbound"
BASELINE_EXCHANGE = "bench.inbound"


class BrokerDown(RuntimeError):
    """RabbitMQ is not reachable (the harness stops with this message)."""


@dataclass(frozen=True, slots=True)
class Drained:
    messages: int
    distinct_ids: int
    by_queue: dict[str, int]


def with_vhost(url: str, vhost: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + quote(vhost, safe="")))


def ensure_vhost(vhost: str, user: str = "guest") -> bool:
    """Create the vhost with full permissions for `user` (idempotent) through rabbitmqctl;
    False when rabbitmqctl is not available or refuses (the caller falls back to ``/``)."""
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        return False
    permissions = [ctl, "-q", "set_permissions", "-p", vhost, user, ".*", ".*", ".*"]
    try:  # rabbitmqctl with arguments the harness builds
        listed = subprocess.run(  # noqa: S603
            [ctl, "-q", "list_vhosts"], capture_output=True, text=True, timeout=60, check=True
        )
        if vhost not in listed.stdout.split():
            subprocess.run([ctl, "-q", "add_vhost", vhost], timeout=60, check=True)  # noqa: S603
        subprocess.run(permissions, timeout=60, check=True)  # noqa: S603
    except (subprocess.SubprocessError, OSError):
        return False
    return True


async def _connect(url: str) -> aio_pika.abc.AbstractConnection:
    try:
        return await asyncio.wait_for(aio_pika.connect(url), timeout=10)
    except (OSError, TimeoutError, aio_pika.exceptions.AMQPError) as exc:
        raise BrokerDown(
            f"RabbitMQ is not reachable at {_redact(url)} ({type(exc).__name__}: {exc}).\n"
            "Start it (`rabbitmq-server -detached`) or pass --amqp-url."
        ) from exc


async def server_version(url: str) -> str:
    connection = await _connect(url)
    async with connection:
        underlay = connection.transport
        props = getattr(underlay.connection if underlay else None, "server_properties", None)
        props = props or {}
        version = props.get("version", b"?")
        return version.decode() if isinstance(version, bytes) else str(version)


async def _counts(url: str, queues: Iterable[str], *, purge: bool) -> dict[str, int]:
    connection = await _connect(url)
    out: dict[str, int] = {}
    async with connection:
        for name in queues:
            channel = await connection.channel()
            try:
                queue = await channel.declare_queue(name, passive=True)
            except aio_pika.exceptions.ChannelClosed:
                continue  # not declared (yet): nothing on it
            out[name] = queue.declaration_result.message_count or 0
            if purge:
                await queue.purge()
            await channel.close()
    return out


async def purge(url: str, queues: Iterable[str]) -> dict[str, int]:
    """Empty the queues; returns how many messages each held."""
    return await _counts(url, queues, purge=True)


async def counts(url: str, queues: Iterable[str]) -> dict[str, int]:
    return await _counts(url, queues, purge=False)


async def drain(url: str, queues: Iterable[str]) -> Drained:
    """Consume everything on the queues (auto-ack) and count distinct AMQP message ids; stops
    when no message arrived for a second."""
    return await consume_until(url, queues, lambda: True)


async def delete(url: str, queue: str, exchange: str) -> None:
    connection = await _connect(url)
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(queue)
        await channel.exchange_delete(exchange)


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


async def consume_until(url: str, queues: Iterable[str], stop: Callable[[], bool]) -> Drained:
    """Consume the queues (auto-ack; a missing queue counts as empty), counting messages and
    distinct message ids, until `stop()` is true and no message came for a second — run it
    alongside a long load so the queues stay short."""
    connection = await _connect(url)
    ids: set[str] = set()
    by_queue: dict[str, int] = {}
    total = 0
    loop = asyncio.get_running_loop()
    last = loop.time()
    async with connection:
        for name in queues:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=2000)
            try:
                queue = await channel.declare_queue(name, passive=True)
            except aio_pika.exceptions.ChannelClosed:
                continue
            by_queue[name] = 0

            async def consume(message: AbstractIncomingMessage, name: str = name) -> None:
                nonlocal total, last
                total += 1
                by_queue[name] += 1
                ids.add(message.message_id or f"<none:{total}>")
                last = loop.time()

            await queue.consume(consume, no_ack=True)
        while not stop() or loop.time() - last < 1.0:
            await asyncio.sleep(0.2)
    return Drained(total, len(ids), by_queue)
