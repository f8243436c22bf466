"""Dead letters through the admin API: a message the sender dead-lettered is listed (masked, not
removed), replayed once and gone; discard removes only what was selected; RabbitMQ's own dead
letters go back to their exchange and routing key, in order."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import aio_pika
import orjson
import pytest
from aio_pika.abc import ExchangeType

from gateway.mass.dead_letters import DeadLetters
from tests import conftest
from tests.integration import test_mass_tasks as harness
from tests.integration.test_mass_tasks import Gateway, Topology
from tests.outbound.fake_platform import FakePlatform

pytestmark = [pytest.mark.rabbitmq]

APP_ID, SECRET = "wxdead00000000001", "platform-secret"
PHONE = "13812345678"
topology = harness.topology
gateways = harness.gateways


@pytest.fixture
async def platform(aiohttp_server: Any) -> tuple[FakePlatform, str]:
    fake = FakePlatform(wechat_apps={APP_ID: SECRET})
    server = await aiohttp_server(fake.app())
    return fake, str(server.make_url("")).rstrip("/")


def wechat(base: str) -> dict[str, Any]:
    """An account whose app_secret the platform refuses (until the test fixes the platform)."""
    return {"platform": "wechat", "token": conftest.TOKEN, "app_id": APP_ID,
            "app_secret": "rotated-secret", "api_base": base}  # fmt: skip


async def dead_letter(gw: Gateway, fake: FakePlatform, topology: Topology) -> tuple[str, str]:
    """Queue a bot message the sender dead-letters (credentials refused) and wait for it."""
    customer, rid = f"oDead{secrets.token_hex(4)}", f"rq-{uuid.uuid4().hex}"
    fake.customer_message(APP_ID, customer)
    await topology.publish(
        {"request_id": rid, "sender": "bot:promo", "platform": "wechat", "account": gw.account,
         "customer": customer, "kind": "text", "content": {"text": f"请致电{PHONE}"},
         "proactive": True}
    )  # fmt: skip
    await harness.wait(lambda: rid in topology.receipts)
    assert topology.receipts[rid][0]["status"] == "failed"
    return rid, customer


async def listed(gw: Gateway) -> dict[str, dict[str, Any]]:
    page = await gw.api("GET", "/dead-letters?limit=500")
    return {item["id"]: item for item in page["items"]}


async def test_sender_dead_letter_is_listed_replayed_once_and_gone(
    gateways: Callable[..., Gateway], platform: tuple[FakePlatform, str], topology: Topology
) -> None:
    """A dead letter survives two listings (phone masked), is sent once by its replay and is
    gone afterwards, so a second replay finds nothing."""
    fake, base = platform
    gw = gateways(wechat(base))
    await gw.start()
    rid, customer = await dead_letter(gw, fake, topology)

    first, again = await listed(gw), await listed(gw)
    assert set(first) == set(again) == {rid}
    item = first[rid]
    assert item["reason"] == "platform_error" and item["error"]
    assert item["source_queue"] == topology.names.queue and item["attempts"] >= 1
    assert item["replay_to"] == {"exchange": "", "routing_key": topology.names.queue}
    assert PHONE not in item["body_preview"] and "****" in item["body_preview"]
    assert (await gw.api("GET", "/dead-letters"))["depth"] == 1

    fake.wechat_apps[APP_ID] = "rotated-secret"  # the operator fixed the credentials
    replayed = await gw.api("POST", "/dead-letters/_replay", {"message_ids": [rid, "nope"]})
    assert (replayed["replayed"], replayed["not_found"], replayed["failed"]) == (
        [rid],
        ["nope"],
        [],
    )
    await harness.wait(lambda: any(r["status"] == "sent" for r in topology.receipts[rid]))
    assert await listed(gw) == {}
    again_replayed = await gw.api("POST", "/dead-letters/_replay", {"message_ids": [rid]})
    assert (again_replayed["replayed"], again_replayed["not_found"]) == ([], [rid])
    await asyncio.sleep(0.3)
    assert [d.to for d in fake.deliveries] == [customer]


async def test_discard_removes_only_the_selected(
    gateways: Callable[..., Gateway], platform: tuple[FakePlatform, str], topology: Topology
) -> None:
    """DELETE discards the selected dead letter; ``all`` with a limit replays the first one."""
    fake, base = platform
    gw = gateways(wechat(base))
    await gw.start()
    first, _ = await dead_letter(gw, fake, topology)
    second, customer = await dead_letter(gw, fake, topology)
    await gw.api("DELETE", "/dead-letters", {}, status=422)
    await gw.api("POST", "/dead-letters/_replay", {"all": True, "message_ids": [first]}, 422)

    gone = await gw.api("DELETE", "/dead-letters", {"message_ids": [first]})
    assert (gone["discarded"], gone["not_found"]) == ([first], [])
    assert set(await listed(gw)) == {second}

    fake.wechat_apps[APP_ID] = "rotated-secret"
    replayed = await gw.api("POST", "/dead-letters/_replay", {"all": True, "limit": 1})
    assert replayed["replayed"] == [second]
    await harness.wait(lambda: any(r["status"] == "sent" for r in topology.receipts[second]))
    assert await listed(gw) == {}
    assert [d.to for d in fake.deliveries] == [customer]


@pytest.fixture
async def broker_dead() -> AsyncIterator[tuple[aio_pika.abc.AbstractRobustConnection, str, str]]:
    """A work queue (delivery limit 1) dead-lettering into a private dead queue."""
    prefix = f"test.{uuid.uuid4().hex[:10]}"
    connection = await aio_pika.connect_robust(conftest.AMQP_URL)
    channel = await connection.channel()
    dlx = await channel.declare_exchange(f"{prefix}.dlx", ExchangeType.FANOUT, durable=True)
    work_exchange = await channel.declare_exchange(f"{prefix}.in", ExchangeType.TOPIC, durable=True)
    quorum: dict[str, Any] = {"x-queue-type": "quorum"}
    dead = await channel.declare_queue(f"{prefix}.dead", durable=True, arguments=quorum)
    await dead.bind(dlx)
    work_args = {**quorum, "x-dead-letter-exchange": dlx.name, "x-delivery-limit": 1}
    work = await channel.declare_queue(f"{prefix}.work", durable=True, arguments=work_args)
    await work.bind(work_exchange, "advisor.*")
    try:
        yield connection, work_exchange.name, prefix
    finally:
        for queue in (work, dead):
            await queue.delete(if_unused=False, if_empty=False)
        for exchange in (dlx, work_exchange):
            await exchange.delete()
        await connection.close()


async def test_broker_dead_letters_peek_in_order_and_replay_to_their_route(
    broker_dead: tuple[aio_pika.abc.AbstractRobustConnection, str, str],
) -> None:
    """RabbitMQ's dead letters keep their order across peeks and replay to their x-death
    exchange and routing key without the death headers."""
    connection, exchange_name, prefix = broker_dead
    channel = await connection.channel()
    exchange = await channel.get_exchange(exchange_name)
    for n in range(3):
        body = orjson.dumps({"n": n, "text": f"call {PHONE}"})
        await exchange.publish(aio_pika.Message(body, message_id=f"m{n}"), f"advisor.a{n}")
    work = await channel.get_queue(f"{prefix}.work")
    for _ in range(6):  # consumers keep failing: RabbitMQ dead-letters after the limit
        message = await work.get(no_ack=False, fail=False)
        if message is not None:
            await message.nack(requeue=True)
    letters = DeadLetters(connection, mask=lambda text: text.replace(PHONE, "<phone>"),
                          queue=f"{prefix}.dead")  # fmt: skip
    async with asyncio.timeout(5):
        while (await letters.peek(10))[1] < 3:
            await asyncio.sleep(0.05)

    first, depth = await letters.peek(10)
    second, _ = await letters.peek(10)
    assert depth == 3 and [i["id"] for i in first] == [i["id"] for i in second] == [
        "m0",
        "m1",
        "m2",
    ]
    assert first[1]["replay_to"] == {"exchange": exchange_name, "routing_key": "advisor.a1"}
    assert first[1]["reason"] == "delivery_limit" and "<phone>" in first[1]["body_preview"]
    after, _ = await letters.peek(10, after="m0")
    assert [i["id"] for i in after] == ["m1", "m2"]

    outcome = await letters.replay(["m1"], limit=1)
    assert (outcome.done, outcome.missing, outcome.scanned) == (["m1"], [], 3)
    back = await work.get(no_ack=True, timeout=5)
    assert back.message_id == "m1" and back.routing_key == "advisor.a1"
    assert "x-death" not in back.headers and back.headers["x-kefu-replayed"] == 1
    rest, depth = await letters.peek(10)
    assert depth == 2 and [i["id"] for i in rest] == ["m0", "m2"]
    dropped = await letters.discard(None, limit=5)
    assert dropped.done == ["m0", "m2"] and (await letters.peek(10))[1] == 0
