"""Two sender instances (two engines, two AMQP consumers) sharing one database cannot together
exceed a customer's reply limit."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.store.engine import create_engine
from tests.outbound.conftest import Bus, message, now
from tests.outbound.fake_platform import FakePlatform
from tests.outbound.helpers import running

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]


async def test_two_senders_share_the_reply_limit(
    bus: Bus, engine: AsyncEngine, database_url: str, fake: tuple[FakePlatform, str]
) -> None:
    """40 replies to one customer through two senders: exactly 20 sent, 20 reply_limit."""
    platform, base = fake
    platform.delay = 0.01
    customer = f"dy-{uuid.uuid4().hex[:8]}"
    context = {"open_id": "merchant"}
    msgs = [
        message(platform="douyin", account="dy", customer=customer, context=context)
        for _ in range(40)
    ]
    second = create_engine(database_url)
    try:
        async with (
            running(bus, engine, base, prefetch=8) as one,
            running(bus, second, base, prefetch=8) as two,
        ):
            assert one.store is not None
            await one.store.record_customer_action("douyin", "dy", customer, now())
            for msg in msgs:
                await bus.publish(msg)
            await bus.wait(lambda: all(bus.of(m.request_id) for m in msgs), timeout=30)
            per_sender = [sum(s.processor.outcomes.values()) for s in (one, two)]
    finally:
        await second.dispose()
    statuses = [bus.of(m.request_id)[0]["status"] for m in msgs]
    assert statuses.count("sent") == 20 and statuses.count("rejected") == 20
    assert {bus.of(m.request_id)[0]["reason"] for m in msgs} == {None, "reply_limit"}
    assert len(platform.deliveries) == 20
    assert sum(per_sender) == 40 and min(per_sender) > 0  # both took part
