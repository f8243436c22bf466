"""The lean publishing link (gateway.broker.link) against the real RabbitMQ: confirms, returns,
nacks, a channel closed by the broker, large bodies, lost connections and missed heartbeats."""

from __future__ import annotations

import asyncio
import struct
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aio_pika
import pytest
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue
from pamqp.commands import Basic
from yarl import URL

from gateway.broker.link import LinkConfig, PublishLink
from gateway.broker.publisher import LinkPublisher
from gateway.errors import BrokerUnavailable, Unroutable
from gateway.models import Envelope
from tests.conftest import AMQP_URL
from tests.faults.proxy import TcpProxy

pytestmark = [pytest.mark.rabbitmq]


@pytest.fixture
async def channel() -> AsyncIterator[AbstractChannel]:
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        yield await connection.channel()


async def _exchange_with_queue(
    channel: AbstractChannel, **queue_arguments: object
) -> tuple[str, AbstractQueue]:
    name = f"test.link.{uuid.uuid4().hex[:8]}"
    exchange = await channel.declare_exchange(name, "topic", auto_delete=True)
    queue = await channel.declare_queue(exclusive=True, arguments=dict(queue_arguments) or None)
    await queue.bind(exchange, "bound.#")
    return name, queue


async def _get(queue: AbstractQueue, count: int) -> list[AbstractIncomingMessage]:
    got: list[AbstractIncomingMessage] = []
    async with asyncio.timeout(10):
        while len(got) < count:
            message = await queue.get(fail=False)
            if message is None:
                await asyncio.sleep(0.02)
                continue
            await message.ack()
            got.append(message)
    return got


def _properties(message_id: str, **headers: str) -> Basic.Properties:
    return Basic.Properties(
        content_type="application/json",
        delivery_mode=2,
        message_id=message_id,
        headers=headers or None,
    )


def test_config_from_url() -> None:
    config = LinkConfig.from_url("amqps://u:p%40ss@mq.example.com/shop%2Fone?heartbeat=15")
    assert (config.host, config.port, config.tls) == ("mq.example.com", 5671, True)
    assert (config.username, config.password, config.vhost) == ("u", "p@ss", "shop/one")
    assert config.heartbeat == 15
    plain = LinkConfig.from_url("amqp://127.0.0.1/")
    assert (plain.port, plain.vhost, plain.username, plain.tls) == (5672, "/", "guest", False)


async def test_publisher_delivers_with_the_envelopes_properties(channel: AbstractChannel) -> None:
    exchange, queue = await _exchange_with_queue(channel)
    link = await PublishLink.open(AMQP_URL)
    publisher = LinkPublisher(link, exchange, timeout=5)
    try:
        assert publisher.ready
        at = datetime(2026, 12, 7, 8, 0, 0, tzinfo=UTC)
        await publisher.publish(
            Envelope("bound.one", "m-1", b'{"a": 1}', {"x-platform": "wechat"}, at)
        )
        [message] = await _get(queue, 1)
        assert message.body == b'{"a": 1}'
        assert message.message_id == "m-1"
        assert message.content_type == "application/json"
        assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
        assert message.headers == {"x-platform": "wechat"}
        assert message.timestamp is not None
        assert message.timestamp.replace(tzinfo=UTC) == at
    finally:
        await publisher.close()
    assert not publisher.ready


async def test_many_at_once_each_confirmed_once_in_order(channel: AbstractChannel) -> None:
    """Hundreds in flight share writes and are settled by `multiple` acks: all confirmed."""
    exchange, queue = await _exchange_with_queue(channel)
    link = await PublishLink.open(AMQP_URL)
    try:
        confirms = [
            link.publish(exchange, "bound.many", str(i).encode(), _properties(f"n{i}"))
            for i in range(1500)
        ]
        await asyncio.wait_for(asyncio.gather(*confirms), 20)
        got = await _get(queue, 1500)
        assert [m.body for m in got] == [str(i).encode() for i in range(1500)]
    finally:
        await link.close()


async def test_large_body_is_split_into_frames(channel: AbstractChannel) -> None:
    exchange, queue = await _exchange_with_queue(channel)
    link = await PublishLink.open(AMQP_URL)
    body = bytes(range(256)) * 2000  # 512 kB: several frames of at most frame_max
    try:
        await asyncio.wait_for(link.publish(exchange, "bound.big", body, _properties("big")), 10)
        [message] = await _get(queue, 1)
        assert message.body == body
    finally:
        await link.close()


async def test_unroutable_then_nack_then_a_missing_exchange(channel: AbstractChannel) -> None:
    """A returned message fails alone (Unroutable); a nack fails alone (BrokerUnavailable); a
    publish to an exchange that does not exist closes the channel (its publishes fail), and the
    link opens the channel again for the next ones."""
    exchange, _queue = await _exchange_with_queue(channel)
    full_exchange, _full = await _exchange_with_queue(
        channel, **{"x-max-length": 0, "x-overflow": "reject-publish"}
    )
    link = await PublishLink.open(AMQP_URL)
    try:
        returned = link.publish(exchange, "nobody.listens", b"{}", _properties("r1"))
        routed = link.publish(exchange, "bound.ok", b"{}", _properties("r2"))
        with pytest.raises(Unroutable):
            await asyncio.wait_for(returned, 5)
        await asyncio.wait_for(routed, 5)
        with pytest.raises(BrokerUnavailable, match="nack"):
            await asyncio.wait_for(
                link.publish(full_exchange, "bound.full", b"{}", _properties("n1")), 5
            )
        missing = link.publish("no.such.exchange", "bound.x", b"{}", _properties("x1"))
        with pytest.raises(BrokerUnavailable, match="closed the channel: 404"):
            await asyncio.wait_for(missing, 5)
        async with asyncio.timeout(5):
            while not link.ready:
                await asyncio.sleep(0.01)
        await asyncio.wait_for(link.publish(exchange, "bound.ok", b"{}", _properties("r3")), 5)
    finally:
        await link.close()


async def test_connection_cut_fails_pending_and_reconnects(channel: AbstractChannel) -> None:
    exchange, queue = await _exchange_with_queue(channel)
    target = URL(AMQP_URL)
    proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5672)
    port = await proxy.start()
    link = await PublishLink.open(str(target.with_port(port)))
    try:
        proxy.stall(requests=False)  # confirms are held: the publish stays pending
        pending = link.publish(exchange, "bound.cut", b"{}", _properties("c1"))
        await asyncio.sleep(0.1)
        proxy.cut()
        with pytest.raises(BrokerUnavailable, match="connection lost"):
            await asyncio.wait_for(pending, 5)
        assert not link.ready
        with pytest.raises(BrokerUnavailable):
            link.publish(exchange, "bound.cut", b"{}", _properties("c2"))
        proxy.resume()
        proxy.restore()
        async with asyncio.timeout(15):
            while not link.ready:
                await asyncio.sleep(0.05)
        await asyncio.wait_for(link.publish(exchange, "bound.cut", b"{}", _properties("c3")), 5)
        ids = {m.message_id for m in await _get(queue, 2)}
        assert ids == {"c1", "c3"}  # c1 reached the broker before the cut: at-least-once
    finally:
        await link.close()
        await proxy.close()


async def test_a_silent_broker_is_dropped_after_two_heartbeats() -> None:
    target = URL(AMQP_URL)
    proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5672)
    port = await proxy.start()
    link = await PublishLink.open(str(target.with_port(port).with_query(heartbeat=1)))
    try:
        assert link.ready
        proxy.stall()  # nothing arrives any more, but the socket stays open
        async with asyncio.timeout(6):
            while link.ready:
                await asyncio.sleep(0.05)
    finally:
        proxy.resume()
        await link.close()
        await proxy.close()


async def test_connect_fails_fast() -> None:
    with pytest.raises(BrokerUnavailable):
        await PublishLink.open("amqp://guest:guest@127.0.0.1:1/")
    bad_login = URL(AMQP_URL).with_user("nobody").with_password("wrong")
    with pytest.raises(BrokerUnavailable):
        await PublishLink.open(str(bad_login))


async def test_garbage_from_the_server_is_a_lost_connection_not_a_crash() -> None:
    """Something that is not RabbitMQ answers: the open fails with BrokerUnavailable."""

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readexactly(8)  # the protocol header
            writer.write(struct.pack(">BHI", 1, 0, 4) + b"\x00\x0a\x00\x0a" + b"\x00")  # bad end
            await reader.read()  # until the link hangs up
        finally:
            writer.close()

    server = await asyncio.start_server(garbage, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(BrokerUnavailable):
            await PublishLink.open(f"amqp://guest:guest@127.0.0.1:{port}/")
    finally:
        server.close()
        await server.wait_closed()
