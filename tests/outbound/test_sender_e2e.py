"""End to end over real RabbitMQ, real HTTP to the fake platform, on SQLite and PostgreSQL:
a message on the outbound queue → exactly one correct API call → a receipt."""

from __future__ import annotations

import asyncio
import uuid

import aio_pika
import orjson
import pytest
import structlog
import structlog.testing
from aio_pika.abc import AbstractIncomingMessage
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.accounts import Accounts
from gateway.errors import Unroutable
from gateway.outbound import OutboundMessage, OutboundNames, SenderConfig, enqueue, start_sender
from tests.conftest import AMQP_URL, require_sole_consumer
from tests.outbound.conftest import RULES, SECRETS, Bindings, Bus, message, now
from tests.outbound.fake_platform import FakePlatform
from tests.outbound.helpers import running

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]

Fake = tuple[FakePlatform, str]


async def test_reply_sent_once_with_receipt_and_redelivery_replays_it(
    bus: Bus, engine: AsyncEngine, fake: Fake
) -> None:
    """One reply makes one correct custom/send call; the same request_id again only repeats the
    receipt."""
    platform, base = fake
    msg = message()
    platform.customer_message("wxshop", msg.customer)
    async with running(bus, engine, base) as sender:
        assert sender.store is not None
        await sender.store.record_customer_action("wechat", "shop", msg.customer, now())
        await bus.publish(msg)
        first = await bus.receipt(msg.request_id)
        await bus.publish(msg)
        await bus.wait(lambda: len(bus.of(msg.request_id)) == 2)
    assert first["status"] == "sent" and first["reason"] is None
    assert first["attempts"] == 1 and first["platform_code"] == 0
    assert first["schema"] == "gateway.receipt/1" and first["sender"] == "advisor:a1"
    assert bus.of(msg.request_id)[1] == first
    assert bus.receipt_keys[:2] == ["receipt.sent", "receipt.sent"]
    assert platform.calls["custom"] == 1
    [delivery] = platform.deliveries
    assert delivery.body == {
        "touser": msg.customer,
        "msgtype": "text",
        "text": {"content": "您好，订单已发货"},
    }


async def test_contract_queue_kefu_outbound(engine: AsyncEngine, fake: Fake) -> None:
    """With the default names the sender consumes kefu.outbound and answers on kefu.receipts."""
    platform, base = fake
    msg = message(sender="system")
    platform.customer_message("wxshop", msg.customer)
    connection = await aio_pika.connect_robust(AMQP_URL)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        tap = await channel.declare_queue(exclusive=True, auto_delete=True)
        await tap.bind("kefu.receipts", "receipt.#")
        got: list[dict[str, object]] = []

        async def collect(m: AbstractIncomingMessage) -> None:
            doc = orjson.loads(m.body)
            if doc.get("request_id") == msg.request_id:
                got.append(doc)
            await m.ack()

        await tap.consume(collect)
        bus = Bus(connection, OutboundNames(), "kefu.dead", channel)
        async with running(bus, engine, base) as sender:
            assert sender.store is not None
            await require_sole_consumer("kefu.outbound")
            await sender.store.record_customer_action("wechat", "shop", msg.customer, now())
            await enqueue(channel, msg)
            async with asyncio.timeout(15):
                while not got:
                    await asyncio.sleep(0.02)
    assert got[0]["status"] == "sent"
    assert [d.to for d in platform.deliveries] == [msg.customer]


async def test_logs_carry_no_text_customer_token_or_secret(
    bus: Bus, engine: AsyncEngine, fake: Fake
) -> None:
    """Sending, refusing and retrying log ids and outcomes only."""
    platform, base = fake
    sent = message(content={"text": "您的快递单号 SF1234567890"})
    blocked = message(content={"text": "拼多多 SF1234567890"})
    platform.customer_message("wxshop", sent.customer)
    with structlog.testing.capture_logs() as logs:
        async with running(bus, engine, base) as sender:
            assert sender.store is not None
            for msg in (sent, blocked):
                await sender.store.record_customer_action("wechat", "shop", msg.customer, now())
                await bus.publish(msg)
            await bus.wait(lambda: bool(bus.of(sent.request_id) and bus.of(blocked.request_id)))
    text = repr(logs)
    assert "outbound.done" in text and sent.request_id in text
    token = platform.current["wxshop"]
    for secret in ("SF1234567890", sent.customer, blocked.customer, token, SECRETS["wxshop"]):
        assert secret not in text


async def test_enqueue_confirms_or_raises_unroutable(bus: Bus) -> None:
    """enqueue publishes a persistent message with the request_id as message_id, to a channel's
    or a given exchange; with no queue bound it raises Unroutable instead of dropping it."""
    msg = message(sender="system")
    queue = await bus.channel.declare_queue(exclusive=True, auto_delete=True)
    exchange = await bus.channel.declare_exchange(
        f"test.{uuid.uuid4().hex[:8]}", aio_pika.ExchangeType.DIRECT
    )
    try:
        await queue.bind(exchange, "outbound")
        await enqueue(exchange, msg)
        got = await queue.get(timeout=5)
        assert got.message_id == msg.request_id and got.delivery_mode == 2
        assert OutboundMessage.model_validate_json(got.body) == msg
        assert got.headers["sender"] == "system"
        await got.ack()
        await queue.unbind(exchange, "outbound")
        with pytest.raises(Unroutable):
            await enqueue(exchange, msg)
    finally:
        await exchange.delete()


async def test_start_failure_releases_what_it_opened(bus: Bus, engine: AsyncEngine) -> None:
    """If the queue is missing, start_sender raises and leaves no channel or HTTP session open."""
    names = OutboundNames(queue=f"test.missing.{uuid.uuid4().hex[:8]}", receipts=bus.names.receipts,
                          dlx=bus.names.dlx)  # fmt: skip
    assert bus.connection.transport is not None
    transport = bus.connection.transport.connection
    before = {n for n, c in transport.channels.items() if c is not None and not c.is_closed}
    with pytest.raises(aio_pika.exceptions.ChannelNotFoundEntity):
        await start_sender(
            bus.connection, engine, Accounts(), lambda: RULES, Bindings(), SenderConfig(names=names)
        )
    after = {n for n, c in transport.channels.items() if c is not None and not c.is_closed}
    assert after <= before
