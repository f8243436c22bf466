"""Chaos: with 30 % of the platform's calls failing with HTTP 5xx, 1,000 outbound messages end
each either sent exactly once or in the dead-letter queue — none lost, none duplicated — and the
messages of each customer reach the platform in the order they were queued."""

from __future__ import annotations

import time
import uuid
from collections import Counter

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.outbound import OutboundMessage
from tests.outbound.conftest import Bus, message, now
from tests.outbound.fake_platform import FakePlatform
from tests.outbound.helpers import running

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres, pytest.mark.timeout(120)]

MESSAGES, CUSTOMERS = 1000, 100
POLICY = {"wechat": {"replies_per_window": 100_000}}


async def test_chaos_none_lost_none_duplicated(
    bus: Bus, engine: AsyncEngine, fake: tuple[FakePlatform, str]
) -> None:
    """1,000 messages, 30 % failing calls: every request is sent once or dead-lettered, in order."""
    platform, base = fake
    platform.enforce_windows = False
    platform.failure_rate, platform.failure_codes = 0.3, False
    platform.fail_after_processing = True  # the store surface must dedup retries by request_id
    tag = uuid.uuid4().hex[:6]
    customers = [("shop" if n % 2 else "store", f"o-{tag}-{n}") for n in range(CUSTOMERS)]
    msgs: list[OutboundMessage] = []
    for n in range(MESSAGES):
        account, customer = customers[n % CUSTOMERS]
        rid = f"chaos-{tag}-{n:04d}"
        msgs.append(message(request_id=rid, account=account, customer=customer,
                            content={"text": f"第{n}条 {rid}"}))  # fmt: skip
    started = time.monotonic()
    async with running(bus, engine, base, prefetch=100, policies=POLICY) as sender:
        assert sender.store is not None
        for account, customer in customers:
            await sender.store.record_customer_action("wechat", account, customer, now())
        for msg in msgs:
            await bus.publish(msg)
        await bus.wait(lambda: len(bus.receipts) >= MESSAGES, timeout=90)
        failed = {r["request_id"] for r in bus.receipts if r["status"] == "failed"}
        await bus.wait(lambda: len(bus.dead) >= len(failed), timeout=10)
        outcomes = dict(sender.processor.outcomes)
    elapsed = time.monotonic() - started

    by_request = Counter(r["request_id"] for r in bus.receipts)
    assert set(by_request) == {m.request_id for m in msgs} and max(by_request.values()) == 1
    statuses = Counter(r["status"] for r in bus.receipts)
    assert set(statuses) <= {"sent", "failed"}
    delivered = Counter(_request_id(d) for d in platform.deliveries)
    sent = {r["request_id"] for r in bus.receipts if r["status"] == "sent"}
    assert all(delivered[rid] == 1 for rid in sent)
    assert max(delivered.values()) == 1  # nothing reached a customer twice
    dead = Counter(m.message_id for m in bus.dead)
    assert set(dead) == failed and (not dead or max(dead.values()) == 1)
    for _, customer in customers:
        order = [_request_id(d) for d in platform.deliveries if d.to == customer]
        assert order == sorted(order)
    assert elapsed < 60
    print(
        f"\nchaos: {MESSAGES} messages in {elapsed:.1f}s; sent={statuses['sent']} "
        f"dead={statuses['failed']} injected_failures={platform.injected} "
        f"calls={sum(platform.calls[k] for k in ('custom', 'store'))} "
        f"store_dedup_hits={platform.dedup_hits} outcomes={outcomes}"
    )


def _request_id(delivery: object) -> str:
    text = getattr(delivery, "text", None) or ""
    return text.rsplit(" ", 1)[-1]
