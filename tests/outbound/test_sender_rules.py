"""The outbound rules end to end (real RabbitMQ, fake platform over HTTP, both databases)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.outbound import OutboundMessage
from tests.outbound.conftest import Bindings, Bus, message, now
from tests.outbound.fake_platform import FakePlatform
from tests.outbound.helpers import running

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]

Fake = tuple[FakePlatform, str]
DY_CONTEXT = {"open_id": "merchant-open-id", "conversation_id": "@conv=="}


def douyin(customer: str, **fields: object) -> OutboundMessage:
    return message(platform="douyin", account="dy", customer=customer, context=DY_CONTEXT, **fields)


async def publish_all(bus: Bus, messages: list[OutboundMessage]) -> list[dict[str, object]]:
    for msg in messages:
        await bus.publish(msg)
    await bus.wait(lambda: all(bus.of(m.request_id) for m in messages), timeout=30)
    return [bus.of(m.request_id)[0] for m in messages]


async def test_21st_reply_in_a_window_is_refused(bus: Bus, engine: AsyncEngine, fake: Fake) -> None:
    """Douyin allows 20 replies per window: the 21st (sent last, in order) gets reply_limit."""
    platform, base = fake
    customer = f"dy-{uuid.uuid4().hex[:8]}"
    async with running(bus, engine, base) as sender:
        assert sender.store is not None
        await sender.store.record_customer_action("douyin", "dy", customer, now())
        receipts = await publish_all(bus, [douyin(customer) for _ in range(21)])
    assert [r["status"] for r in receipts] == ["sent"] * 20 + ["rejected"]
    assert receipts[-1]["reason"] == "reply_limit"
    assert len(platform.deliveries) == 20
    assert platform.deliveries[0].body["content"] == {
        "msg_type": 1,
        "text": {"text": "您好，订单已发货"},
    }
    assert platform.deliveries[0].body["conversation_id"] == "@conv=="


async def test_wechat_allows_five_replies_per_customer_message(
    bus: Bus, engine: AsyncEngine, fake: Fake
) -> None:
    """WeChat's default is 5 replies, and the customer's next message restarts the count."""
    platform, base = fake
    customer = f"o-{uuid.uuid4().hex[:8]}"
    platform.customer_message("wxshop", customer)
    async with running(bus, engine, base) as sender:
        assert sender.store is not None
        await sender.store.record_customer_action("wechat", "shop", customer, now())
        first = await publish_all(bus, [message(customer=customer) for _ in range(6)])
        platform.customer_message("wxshop", customer)
        await sender.store.record_customer_action("wechat", "shop", customer, now())
        again = await publish_all(bus, [message(customer=customer)])
    assert [r["status"] for r in first] == ["sent"] * 5 + ["rejected"]
    assert first[-1]["reason"] == "reply_limit"
    assert again[0]["status"] == "sent"
    assert platform.calls["custom"] == 6


async def test_fifth_proactive_touch_in_a_month_is_refused(
    bus: Bus, engine: AsyncEngine, fake: Fake
) -> None:
    """4 touches x 3 messages go out within their minutes; the 13th message needs a 5th touch."""
    platform, base = fake
    customer = f"dy-{uuid.uuid4().hex[:8]}"
    async with running(bus, engine, base):
        receipts = await publish_all(
            bus, [douyin(customer, proactive=True, sender="bot:promo") for _ in range(13)]
        )
    assert [r["status"] for r in receipts] == ["sent"] * 12 + ["rejected"]
    assert receipts[-1]["reason"] == "quota_exhausted"
    assert len(platform.deliveries) == 12


async def test_sensitive_words_block_or_mask(bus: Bus, engine: AsyncEngine, fake: Fake) -> None:
    """A block-list word never reaches the platform (the receipt names it); a mask-list word is
    sent masked."""
    platform, base = fake
    blocked = message(content={"text": "拼多多上更便宜"})
    masked = message(content={"text": "加我微信聊"})
    platform.customer_message("wxshop", masked.customer)
    async with running(bus, engine, base) as sender:
        assert sender.store is not None
        for msg in (blocked, masked):
            await sender.store.record_customer_action("wechat", "shop", msg.customer, now())
        no, yes = await publish_all(bus, [blocked, masked])
    assert (no["status"], no["reason"], no["word"]) == ("rejected", "sensitive_word", "拼多多")
    assert "拼多多" in str(no["detail"])
    assert yes["status"] == "sent"
    assert [d.body["text"] for d in platform.deliveries] == [{"content": "加我**聊"}]
    assert platform.calls["custom"] == 1


async def test_only_the_bound_advisor_may_message_a_bound_customer(
    bus: Bus, engine: AsyncEngine, fake: Fake
) -> None:
    """Another advisor is refused not_bound_advisor; the bound advisor and bots may send."""
    platform, base = fake
    customer = f"o-{uuid.uuid4().hex[:8]}"
    platform.customer_message("wxshop", customer)
    bindings = Bindings()
    bindings.bound[("wechat", "shop", customer)] = "a2"
    async with running(bus, engine, base, bindings=bindings) as sender:
        assert sender.store is not None
        await sender.store.record_customer_action("wechat", "shop", customer, now())
        receipts = await publish_all(
            bus,
            [
                message(customer=customer, sender="advisor:a1"),
                message(customer=customer, sender="advisor:a2"),
                message(customer=customer, sender="bot:faq"),
            ],
        )
    assert [(r["status"], r["reason"]) for r in receipts] == [
        ("rejected", "not_bound_advisor"),
        ("sent", None),
        ("sent", None),
    ]
    assert len(platform.deliveries) == 2


async def test_no_window_is_refused_here_or_by_the_platform(
    bus: Bus, engine: AsyncEngine, fake: Fake
) -> None:
    """Without a customer action the reply is refused before any call; when only the platform
    knows the window is closed (45015) the receipt says so and the reply is given back."""
    platform, base = fake
    never = message()
    platform_only = message()
    async with running(bus, engine, base) as sender:
        store = sender.store
        assert store is not None
        await store.record_customer_action("wechat", "shop", platform_only.customer, now())
        here, there = await publish_all(bus, [never, platform_only])
        platform.customer_message("wxshop", platform_only.customer)
        retry = await publish_all(bus, [message(customer=platform_only.customer)] * 1)
    assert (here["status"], here["reason"], here["attempts"]) == ("rejected", "window_closed", 0)
    assert (there["status"], there["reason"]) == ("rejected", "window_closed")
    assert there["platform_code"] == 45015
    assert retry[0]["status"] == "sent"
    assert platform.calls["custom"] == 2


async def test_platform_reply_limit_is_reported_and_not_retried(
    bus: Bus, engine: AsyncEngine, fake: Fake
) -> None:
    """With a looser local policy, WeChat's own 45047 ends the sixth reply as reply_limit."""
    platform, base = fake
    customer = f"o-{uuid.uuid4().hex[:8]}"
    platform.customer_message("wxshop", customer)
    loose = {"wechat": {"replies_per_window": 10}}
    async with running(bus, engine, base, policies=loose) as sender:
        assert sender.store is not None
        await sender.store.record_customer_action("wechat", "shop", customer, now())
        receipts = await publish_all(bus, [message(customer=customer) for _ in range(6)])
    assert [r["status"] for r in receipts] == ["sent"] * 5 + ["rejected"]
    assert (receipts[-1]["reason"], receipts[-1]["platform_code"]) == ("reply_limit", 45047)
    assert receipts[-1]["attempts"] == 1 and platform.calls["custom"] == 6
