"""`gateway.consumer` and the examples against the real RabbitMQ: a message the gateway published
is read as a typed `Message`, answered with a valid `gateway.outbound/1` on ``kefu.outbound``;
ack, nack and redelivery; malformed deliveries are dead-lettered and skipped (or raised)."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aio_pika
import orjson
import pytest
from aio_pika.abc import AbstractIncomingMessage, DeliveryMode
from aiohttp.test_utils import TestClient
from pydantic import SecretStr
from structlog.testing import capture_logs

from examples import advisor_desk, echo_bot
from gateway.accounts import Accounts
from gateway.app import create_app
from gateway.broker.publisher import AmqpPublisher
from gateway.broker.topology import DLX, INBOUND, OUTBOUND, OUTBOUND_KEY, RECEIPTS
from gateway.consumer import Consumer, Incoming, ReceiptConsumer
from gateway.errors import BrokerUnavailable, ConsumerError, InvalidReply, MalformedMessage
from gateway.models import Customer, Kind, Message, Platform, Route, RouteTarget
from gateway.outbound.schema import ImageContent, OutboundMessage
from gateway.serialize import envelope, to_dict
from gateway.settings import Settings
from tests import wechat_reference as ref
from tests.conftest import AMQP_URL, TOKEN, InboundTap

pytestmark = [pytest.mark.rabbitmq]


@dataclass
class Tap:
    """An exclusive queue bound to an exchange, recording every message that arrives."""

    received: list[AbstractIncomingMessage] = field(default_factory=list)

    def docs(self) -> list[dict[str, Any]]:
        return [orjson.loads(m.body) for m in self.received if m.body.startswith(b"{")]

    async def wait_for(self, predicate: Callable[[AbstractIncomingMessage], bool]) -> Any:
        async with asyncio.timeout(10):
            while not (found := [m for m in self.received if predicate(m)]):
                await asyncio.sleep(0.02)
        return found[0]


async def _tap(exchange: str, routing_key: str) -> AsyncIterator[Tap]:
    tap = Tap()
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, routing_key=routing_key)

        async def on_message(message: AbstractIncomingMessage) -> None:
            tap.received.append(message)
            await message.ack()

        await queue.consume(on_message)
        yield tap


@pytest.fixture
async def outbound_tap() -> AsyncIterator[Tap]:
    """A copy of everything published to kefu.outbound (the gateway's queue keeps its own)."""
    async for tap in _tap(OUTBOUND, OUTBOUND_KEY):
        yield tap


@pytest.fixture
async def dead_tap() -> AsyncIterator[Tap]:
    async for tap in _tap(DLX, ""):
        yield tap


@pytest.fixture
async def queue_name() -> AsyncIterator[str]:
    """A unique durable queue name; the queue is deleted after the test."""
    name = f"test.consumer.{secrets.token_hex(4)}"
    yield name
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        await (await connection.channel()).queue_delete(name)


def advisor() -> str:
    return f"adv{secrets.token_hex(4)}"


def customer_message(
    text: str, *, platform: Platform = Platform.WECHAT, extra: dict[str, Any] | None = None
) -> Message:
    now = datetime.now(UTC)
    return Message(
        id=secrets.token_hex(16),
        platform=platform,
        account="shop1",
        platform_msg_id=f"msg:{secrets.randbits(40)}",
        customer=Customer(f"oCust{secrets.token_hex(4)}"),
        kind=Kind.TEXT,
        sent_at=now,
        received_at=now,
        text=text,
        extra=extra or {},
    )


async def publish_to_advisor(message: Message, advisor_id: str) -> None:
    """Publish like the gateway does: routed to `advisor.<id>` on kefu.inbound, confirmed."""
    connection = await aio_pika.connect_robust(AMQP_URL)
    async with connection:
        publisher = await AmqpPublisher.open(connection, timeout=3.0)
        route = Route(RouteTarget.ADVISOR, "bound", advisor_id=advisor_id)
        await publisher.publish(envelope(message, route))


async def publish_raw(exchange: str, routing_key: str, body: bytes, message_id: str) -> None:
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        target = await channel.get_exchange(exchange)
        await target.publish(aio_pika.Message(body, message_id=message_id), routing_key)


async def next_delivery(consumer: Consumer) -> Incoming:
    async with asyncio.timeout(10):
        return await anext(consumer)


def outbound_for(request_id: str) -> Callable[[AbstractIncomingMessage], bool]:
    return lambda m: m.message_id == request_id


@pytest.fixture
async def gateway(aiohttp_client: Any, accounts: Accounts, tmp_path: Path) -> TestClient:
    settings = Settings(
        amqp_url=SecretStr(AMQP_URL),
        database_url=SecretStr(f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"),
        outbound_enabled=False,  # no sender here: the reply is observed on kefu.outbound itself
    )
    client: TestClient = await aiohttp_client(create_app(settings, accounts))
    return client


async def test_a_webhook_message_is_consumed_typed_and_answered(
    gateway: TestClient, queue_name: str, outbound_tap: Tap, inbound_tap: InboundTap
) -> None:
    """Through the running gateway: the bot reads a masked, typed Message and its reply arrives
    on kefu.outbound as a valid gateway.outbound/1 addressed to the same customer."""
    customer = f"oCons{secrets.token_hex(4)}"
    body = (
        f"<xml><ToUserName>gh</ToUserName><FromUserName>{customer}</FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType>text</MsgType>"
        f"<Content>手机13812345678，什么时候发货</Content><MsgId>{secrets.randbits(60)}</MsgId></xml>"
    )
    query = ref.plain_query(TOKEN, str(int(time.time())), secrets.token_hex(4))
    async with Consumer(queue_name, sender="bot:echo", bind=["bot.wechat"], url=AMQP_URL) as bot:
        response = await gateway.post("/webhooks/wechat/plain", params=query, data=body)
        assert response.status == 200
        incoming = await next_delivery(bot)
        while incoming.message.customer.id != customer:  # another test's bot.wechat message
            await incoming.ack()
            incoming = await next_delivery(bot)
        message = incoming.message
        sent = await incoming.reply(f"收到：{message.text}")
        await incoming.ack()

    assert (message.platform, message.account, message.kind) == (
        Platform.WECHAT,
        "plain",
        Kind.TEXT,
    )
    assert message.text == "手机138****5678,什么时候发货"
    assert message.pii == ("phone",)
    assert message.route == Route(RouteTarget.BOT, "no_advisor")
    assert (incoming.message_id, incoming.routing_key) == (message.id, "bot.wechat")
    await inbound_tap.wait_for(lambda: inbound_tap.with_id(message.id))
    published = inbound_tap.with_id(message.id)[0]
    timestamps = ("sent_at", "received_at")
    assert {k: v for k, v in to_dict(message).items() if k not in timestamps} == {
        k: v for k, v in published.items() if k not in timestamps
    }
    assert message.received_at == datetime.fromisoformat(published["received_at"])

    delivered = await outbound_tap.wait_for(outbound_for(sent.request_id))
    outbound = OutboundMessage.model_validate_json(delivered.body)
    assert outbound == sent
    assert (outbound.sender, outbound.platform, outbound.account, outbound.customer) == (
        "bot:echo",
        "wechat",
        "plain",
        customer,
    )
    assert (outbound.kind, outbound.content.model_dump()) == (
        "text",
        {"text": "收到：手机138****5678,什么时候发货"},
    )
    assert (outbound.in_reply_to, outbound.proactive) == (message.id, False)
    assert delivered.delivery_mode == DeliveryMode.PERSISTENT
    assert delivered.content_type == "application/json"
    assert orjson.loads(delivered.body)["schema"] == "gateway.outbound/1"


async def test_nack_requeue_redelivers_ack_removes_reject_dead_letters(
    queue_name: str, dead_tap: Tap
) -> None:
    adv = advisor()
    first, second = customer_message("第一条"), customer_message("第二条")
    consumer = Consumer(queue_name, bind=[f"advisor.{adv}"], url=AMQP_URL, prefetch=1)
    async with consumer:
        await publish_to_advisor(first, adv)
        delivery = await next_delivery(consumer)
        assert (delivery.message.id, delivery.redelivered) == (first.id, False)
        await delivery.nack(requeue=True)
        with pytest.raises(ConsumerError, match="already settled"):
            await delivery.ack()
        again = await next_delivery(consumer)
        assert (again.message, again.redelivered) == (delivery.message, True)
        await again.ack()

        await publish_to_advisor(second, adv)
        doomed = await next_delivery(consumer)
        assert doomed.message.id == second.id
        await doomed.nack(requeue=False)
        await dead_tap.wait_for(lambda m: m.message_id == second.id)

    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        queue = await (await connection.channel()).declare_queue(queue_name, passive=True)
        assert queue.declaration_result.message_count == 0  # acked and dead-lettered: gone


async def test_unsettled_deliveries_return_when_the_consumer_closes(queue_name: str) -> None:
    adv = advisor()
    message = customer_message("没人处理")
    async with Consumer(queue_name, bind=[f"advisor.{adv}"], url=AMQP_URL) as consumer:
        await publish_to_advisor(message, adv)
        assert (await next_delivery(consumer)).message.id == message.id  # never settled
    async with Consumer(queue_name, url=AMQP_URL) as consumer:  # the queue exists now
        redelivered = await next_delivery(consumer)
        assert (redelivered.message.id, redelivered.redelivered) == (message.id, True)
        await redelivered.ack()


async def test_malformed_deliveries_are_dead_lettered_logged_and_skipped(
    queue_name: str, dead_tap: Tap
) -> None:
    """Not JSON, another schema, an invalid field: none reach the caller, none loop; each is
    one warning without the body."""
    adv = advisor()
    good = customer_message("正常消息")
    bad_field = {**to_dict(customer_message("坏平台")), "platform": "weibo"}
    receipt_doc = {"schema": "gateway.receipt/1", "status": "sent"}
    bad = {
        "bad-json": b"\xff not json 13812345678",
        "bad-schema": orjson.dumps(receipt_doc),
        "bad-field": orjson.dumps(bad_field),
    }
    async with Consumer(queue_name, bind=[f"advisor.{adv}"], url=AMQP_URL) as consumer:
        for message_id, body in bad.items():
            await publish_raw(INBOUND, f"advisor.{adv}", body, message_id)
        await publish_to_advisor(good, adv)
        with capture_logs() as logs:
            delivery = await next_delivery(consumer)
        assert delivery.message.id == good.id
        await delivery.ack()
    warnings = [e for e in logs if e["event"] == "consumer.malformed"]
    assert [e["message_id"] for e in warnings] == list(bad)
    assert "not JSON" in warnings[0]["error"]
    assert "gateway.receipt/1" in warnings[1]["error"]
    assert "platform" in warnings[2]["error"]
    assert "weibo" not in str(logs) and "13812345678" not in str(logs)
    for message_id in bad:
        await dead_tap.wait_for(lambda m, mid=message_id: m.message_id == mid)  # type: ignore[misc]


async def test_on_malformed_raise_rejects_then_raises_and_keeps_consuming(
    queue_name: str, dead_tap: Tap
) -> None:
    adv = advisor()
    good = customer_message("之后的消息")
    consumer = Consumer(queue_name, bind=[f"advisor.{adv}"], url=AMQP_URL, on_malformed="raise")
    async with consumer:
        await publish_raw(INBOUND, f"advisor.{adv}", b"[1, 2]", "not-an-object")
        await publish_to_advisor(good, adv)
        with pytest.raises(MalformedMessage, match="JSON list"):
            await next_delivery(consumer)
        delivery = await next_delivery(consumer)
        assert (delivery.message.id, delivery.redelivered) == (good.id, False)
        await delivery.ack()
    await dead_tap.wait_for(lambda m: m.message_id == "not-an-object")


async def test_reply_kinds_douyin_context_and_invalid_replies(
    queue_name: str, outbound_tap: Tap
) -> None:
    adv = advisor()
    extra = {
        "to_user_id": "_000merchant",
        "content": {"conversation_short_id": "@conv1", "server_message_id": "@msg1"},
    }
    message = customer_message("图片呢", platform=Platform.DOUYIN, extra=extra)
    async with Consumer(queue_name, bind=[f"advisor.{adv}"], url=AMQP_URL) as consumer:
        await publish_to_advisor(message, adv)
        incoming = await next_delivery(consumer)
        with pytest.raises(InvalidReply, match="no sender"):
            await incoming.reply("你好")
        with pytest.raises(InvalidReply, match=r"content\.text"):
            await incoming.reply("   ", sender=f"advisor:{adv}")
        with pytest.raises(InvalidReply, match="sender"):
            await incoming.reply("你好", sender="robot")
        sent = await incoming.reply(
            ImageContent(media_id="media-1"), sender=f"advisor:{adv}", request_id="req-fixed-1"
        )
        await incoming.ack()
    delivered = await outbound_tap.wait_for(outbound_for("req-fixed-1"))
    outbound = OutboundMessage.model_validate_json(delivered.body)
    assert outbound == sent
    assert (outbound.kind, outbound.content) == ("image", ImageContent(media_id="media-1"))
    assert (outbound.platform, outbound.advisor_id) == ("douyin", adv)
    assert outbound.context.model_dump(exclude_none=True) == {
        "open_id": "_000merchant",
        "conversation_id": "@conv1",
        "msg_id": "@msg1",
    }
    assert [m.message_id for m in outbound_tap.received] == ["req-fixed-1"]  # nothing invalid


async def test_missing_queue_dead_broker_and_unopened_consumer_raise_gateway_errors() -> None:
    with pytest.raises(ConsumerError, match="does not exist"):
        async with Consumer(f"test.absent.{secrets.token_hex(4)}", url=AMQP_URL):
            pass
    with pytest.raises(BrokerUnavailable):
        async with Consumer("kefu.bots", url="amqp://guest:guest@127.0.0.1:1/"):
            pass
    with pytest.raises(ConsumerError, match="async with"):
        await anext(Consumer("kefu.bots", url=AMQP_URL))


async def test_receipts_are_read_typed_from_a_private_queue() -> None:
    request_id = f"r{secrets.token_hex(4)}"
    doc = {
        "schema": "gateway.receipt/1",
        "request_id": request_id,
        "status": "rejected",
        "reason": "window_closed",
        "detail": "The customer's reply window is closed.",
        "at": "2026-11-21T10:00:01Z",
        "sender": "bot:echo",
    }
    async with ReceiptConsumer(url=AMQP_URL) as receipts:
        assert receipts.queue not in ("", "kefu.receipts")  # a private queue of its own
        await publish_raw(RECEIPTS, "receipt.rejected", orjson.dumps(doc), request_id)
        async with asyncio.timeout(10):
            async for delivery in receipts:
                await delivery.ack()
                if delivery.body.request_id == request_id:
                    break
    assert (delivery.body.status, delivery.body.reason) == ("rejected", "window_closed")
    assert delivery.routing_key == "receipt.rejected"


async def test_echo_bot_main_answers_then_stops_when_cancelled(
    queue_name: str, outbound_tap: Tap, output: Output
) -> None:
    adv = advisor()
    message = customer_message("你好")
    argv = ["--name", "echo-test", "--queue", queue_name, "--bind", f"advisor.{adv}"]
    bot = asyncio.create_task(echo_bot.main([*argv, "--url", AMQP_URL]))
    await output.wait_for("waiting on", bot)
    await publish_to_advisor(message, adv)
    delivered = await outbound_tap.wait_for(
        lambda m: orjson.loads(m.body).get("in_reply_to") == message.id
    )
    reply = OutboundMessage.model_validate_json(delivered.body)
    assert reply.sender == "bot:echo-test"
    assert reply.content.model_dump() == {"text": "收到：你好"}
    await output.wait_for(f"{message.customer.id} <- {reply.request_id}", bot)  # acked
    bot.cancel()
    with pytest.raises(asyncio.CancelledError):
        await bot
    connection = await aio_pika.connect(AMQP_URL)
    async with connection, asyncio.timeout(5):
        channel = await connection.channel()
        while (
            await channel.declare_queue(queue_name, passive=True)
        ).declaration_result.message_count:
            await asyncio.sleep(0.05)  # an unacked message would stay back in the queue


async def test_advisor_desk_main_shows_replies_and_prints_receipts(
    outbound_tap: Tap, output: Output
) -> None:
    adv = advisor()
    queue = f"test.consumer.desk.{adv}"
    message = customer_message("请问什么时候发货")
    typed: asyncio.Queue[str | None] = asyncio.Queue()

    async def lines() -> AsyncIterator[str]:
        while (line := await typed.get()) is not None:
            yield line

    desk = asyncio.create_task(
        advisor_desk.main([adv, "--queue", queue, "--url", AMQP_URL], lines=lines())
    )
    try:
        await output.wait_for("at the desk", desk)
        await publish_to_advisor(message, adv)
        await output.wait_for(f"wechat/shop1 {message.customer.id}: 请问什么时候发货", desk)
        typed.put_nowait("今天下午发货\n")
        delivered = await outbound_tap.wait_for(
            lambda m: orjson.loads(m.body).get("in_reply_to") == message.id
        )
        reply = OutboundMessage.model_validate_json(delivered.body)
        assert (reply.sender, reply.customer) == (f"advisor:{adv}", message.customer.id)
        assert reply.content.model_dump() == {"text": "今天下午发货"}
        receipt = {
            "schema": "gateway.receipt/1",
            "request_id": reply.request_id,
            "status": "sent",
            "detail": "sent",
            "at": "2026-11-21T10:00:01Z",
            "sender": reply.sender,
        }
        await publish_raw(RECEIPTS, "receipt.sent", orjson.dumps(receipt), reply.request_id)
        await output.wait_for(f"<- receipt [{reply.request_id}] sent", desk)
        typed.put_nowait(None)  # end of input: the desk closes
        async with asyncio.timeout(10):
            assert await desk == 0
    finally:
        desk.cancel()
        connection = await aio_pika.connect(AMQP_URL)
        async with connection:
            await (await connection.channel()).queue_delete(queue)


@dataclass
class Output:
    """What an example printed so far (pytest's capsys, accumulated)."""

    capsys: pytest.CaptureFixture[str]
    text: str = ""

    async def wait_for(self, expected: str, task: asyncio.Task[int]) -> None:
        """Wait until `expected` was printed (failing early if the example exited)."""
        async with asyncio.timeout(10):
            while expected not in self.text:
                self.text += self.capsys.readouterr().out
                if task.done():
                    task.result()
                    pytest.fail(f"exited without printing {expected!r}")
                await asyncio.sleep(0.02)


@pytest.fixture
def output(capsys: pytest.CaptureFixture[str]) -> Output:
    return Output(capsys)
