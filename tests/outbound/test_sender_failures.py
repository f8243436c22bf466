"""Tokens, transient failures, dead letters, refusals of what cannot be sent, shutdown."""

from __future__ import annotations

import asyncio
import uuid

import orjson
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.outbound import OutboundMessage
from gateway.store.outbound import OutboundStore
from tests.outbound.conftest import SECRETS, Bus, message, now
from tests.outbound.fake_platform import FakePlatform
from tests.outbound.helpers import running

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]

Fake = tuple[FakePlatform, str]


async def open_windows(
    store: OutboundStore | None, platform: FakePlatform, msgs: list[OutboundMessage]
) -> None:
    """Each customer wrote: the window opens at the fake platform and in the store."""
    assert store is not None
    app = {"shop": "wxshop", "mini": "wxmini", "store": "wxstore"}
    for msg in msgs:
        platform.customer_message(app.get(msg.account, ""), msg.customer)
        await store.record_customer_action(msg.platform, msg.account, msg.customer, now())


async def test_token_expiry_mid_run_refreshes_once(
    bus: Bus, engine: AsyncEngine, fake: Fake
) -> None:
    """After the token expires, ten overlapping sends cause one token fetch and each is sent
    once (the refused ones are retried once with the new token)."""
    platform, base = fake
    first = message()
    later = [message() for _ in range(10)]
    async with running(bus, engine, base) as sender:
        await open_windows(sender.store, platform, [first, *later])
        await bus.publish(first)
        await bus.receipt(first.request_id)
        platform.expire_tokens()
        platform.delay = 0.2  # the sends overlap: several carry the expired token
        for msg in later:
            await bus.publish(msg)
        await bus.wait(lambda: all(bus.of(m.request_id) for m in later))
    assert [bus.of(m.request_id)[0]["status"] for m in later] == ["sent"] * 10
    assert platform.token_fetches["wxshop"] == 2
    assert sorted(d.to for d in platform.deliveries) == sorted(m.customer for m in [first, *later])
    refused = platform.calls["custom"] - 11  # answered 42001, then retried with the new token
    assert 1 <= refused <= 10


async def test_transient_failures_end_in_the_dead_letter_queue(
    bus: Bus, engine: AsyncEngine, fake: Fake
) -> None:
    """When every call fails with 5xx or -1, the message is tried 5 times, dead-lettered with the
    error in its headers, and answered ``failed``; the quota is given back."""
    platform, base = fake
    platform.failure_rate = 1.0
    msg = message()
    async with running(bus, engine, base) as sender:
        await open_windows(sender.store, platform, [msg])
        await bus.publish(msg)
        receipt = await bus.receipt(msg.request_id)
        await bus.wait(lambda: len(bus.dead) == 1)
    assert (receipt["status"], receipt["reason"], receipt["attempts"]) == (
        "failed",
        "platform_error",
        5,
    )
    assert platform.calls["custom"] == 5 and not platform.deliveries
    [dead] = bus.dead
    assert dead.message_id == msg.request_id
    assert orjson.loads(dead.body)["request_id"] == msg.request_id
    headers = dead.headers
    assert headers["x-kefu-attempts"] == 5 and headers["x-kefu-reason"] == "platform_error"
    assert "dead-lettered" in str(headers["x-kefu-error"])
    assert bus.receipt_keys == ["receipt.failed"]


async def test_refused_credentials_fail_without_retries(
    bus: Bus, engine: AsyncEngine, fake: Fake
) -> None:
    """A wrong app secret is not worth retrying: one token call, then failed and dead-lettered."""
    platform, base = fake
    platform.wechat_apps["wxshop"] = "rotated-secret"
    msg = message()
    async with running(bus, engine, base) as sender:
        await open_windows(sender.store, platform, [msg])
        await bus.publish(msg)
        receipt = await bus.receipt(msg.request_id)
        await bus.wait(lambda: len(bus.dead) == 1)
    assert (receipt["status"], receipt["attempts"], receipt["platform_code"]) == (
        "failed",
        1,
        40125,
    )
    assert platform.calls["stable_token"] == 1 and platform.calls["custom"] == 0
    assert SECRETS["wxshop"] not in str(receipt) and SECRETS["wxshop"] not in str(
        bus.dead[0].headers
    )


async def test_what_cannot_be_sent_is_refused(bus: Bus, engine: AsyncEngine, fake: Fake) -> None:
    """Taobao and content the surface cannot carry are ``unsupported``; unknown accounts and bad
    messages ``invalid``; a body without a request_id is also dead-lettered."""
    platform, base = fake
    taobao = message(platform="taobao", account="tb")
    link_on_store = message(
        account="store", kind="link", content={"title": "t", "url": "https://example.com/x"}
    )
    unknown = message(account="nobody")
    bad_id = "rq-bad-" + uuid.uuid4().hex
    bad = {"request_id": bad_id, "sender": "advisor:a1", "kind": "text"}
    async with running(bus, engine, base):
        refused = await asyncio.gather(*(_answer(bus, m) for m in (taobao, link_on_store, unknown)))
        await bus.publish(orjson.dumps(bad))
        await bus.publish(b"\xff not json", request_id="amqp-id")
        await bus.wait(lambda: bool(bus.of(bad_id)) and bool(bus.of(None)))
        await bus.wait(lambda: len(bus.dead) == 1)
    assert [(r["status"], r["reason"]) for r in refused] == [
        ("rejected", "unsupported"),
        ("rejected", "unsupported"),
        ("rejected", "invalid"),
    ]
    assert "Taobao" in str(refused[0]["detail"])
    invalid = bus.of(bad_id)[0]
    assert invalid["reason"] == "invalid" and "platform" in str(invalid["detail"])
    assert bus.dead[0].body == b"\xff not json"
    assert not platform.calls


async def test_douyin_and_mini_program_bodies(bus: Bus, engine: AsyncEngine, fake: Fake) -> None:
    """A Douyin image and a Mini Program link are sent in their platforms' shapes."""
    platform, base = fake
    dy = message(
        platform="douyin", account="dy", kind="image", content={"media_id": "m-1"},
        context={"open_id": "merchant", "msg_id": "@m1"},
    )  # fmt: skip
    link = message(
        account="mini", kind="link",
        content={"title": "新品", "description": "看看", "url": "https://example.com/p"},
    )  # fmt: skip
    async with running(bus, engine, base) as sender:
        assert sender.store is not None
        await sender.store.record_customer_action("douyin", "dy", dy.customer, now())
        await open_windows(sender.store, platform, [link])
        answers = await asyncio.gather(_answer(bus, dy), _answer(bus, link))
    assert [a["status"] for a in answers] == ["sent", "sent"]
    bodies = {d.endpoint: d.body for d in platform.deliveries}
    assert bodies["douyin"] == {
        "to_user_id": dy.customer, "msg_id": "@m1",
        "content": {"msg_type": 2, "image": {"media_id": "m-1"}},
    }  # fmt: skip
    assert bodies["custom"]["link"] == {
        "title": "新品", "description": "看看", "url": "https://example.com/p", "thumb_url": "",
    }  # fmt: skip
    assert answers[0]["platform_msg_id"] == "@1" or answers[0]["platform_msg_id"] == "@2"


async def test_close_drains_in_flight_messages(bus: Bus, engine: AsyncEngine, fake: Fake) -> None:
    """close() waits for messages already being sent: each is finished and receipted."""
    platform, base = fake
    platform.delay = 0.3
    msgs = [message() for _ in range(5)]
    async with running(bus, engine, base) as sender:
        await open_windows(sender.store, platform, msgs)
        for msg in msgs:
            await bus.publish(msg)
        await bus.wait(lambda: sender.in_flight == 5)
        await sender.close(timeout=10)
        assert sender.in_flight == 0
    assert all(bus.of(m.request_id) for m in msgs)
    assert len(platform.deliveries) == 5


async def _answer(bus: Bus, msg: OutboundMessage) -> dict[str, object]:
    await bus.publish(msg)
    return await bus.receipt(msg.request_id)
