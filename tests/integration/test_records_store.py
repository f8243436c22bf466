"""Conversation records in the real store: write, receipts before requests, pages, purge."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.recorder import to_record
from gateway.store.engine import create_engine, migrate
from gateway.store.records import RecordQuery, RecordsStore, StatusUpdate

pytestmark = [pytest.mark.postgres]


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[RecordsStore]:
    engine: AsyncEngine = create_engine(database_url)
    await migrate(engine)
    yield RecordsStore(engine)
    await engine.dispose()


def inbound(n: int, at: float) -> dict[str, object]:
    return {
        "direction": "in",
        "message_id": f"m{n}",
        "platform": "wechat",
        "account": "s",
        "customer": "c1",
        "advisor_id": "a1",
        "sender": None,
        "kind": "text",
        "text": f"hello {n}",
        "status": "advisor",
        "reason": "bound",
        "at": at,
    }


async def test_pages_newest_first_and_redelivery_is_harmless(store: RecordsStore) -> None:
    """Records list newest first in pages; writing a record twice keeps one."""
    now = time.time()
    await store.write([inbound(n, now + n) for n in range(5)], [])
    await store.write([inbound(4, now + 4)], [])
    first = await store.list(RecordQuery(platform="wechat", account="s", customer="c1", limit=3))
    assert [r["message_id"] for r in first] == ["m4", "m3", "m2"]
    rest = await store.list(RecordQuery(customer="c1", after_seq=first[-1]["seq"], limit=3))
    assert [r["message_id"] for r in rest] == ["m1", "m0"]


async def test_receipt_before_request_keeps_both(store: RecordsStore) -> None:
    """An outcome that arrives before its request is kept; the request fills in the text."""
    await store.write([], [StatusUpdate("r1", "sent", None, time.time())])
    request = to_record(
        "kefu.outbound",
        {
            "request_id": "r1",
            "sender": "advisor:a1",
            "platform": "wechat",
            "account": "s",
            "customer": "c1",
            "kind": "text",
            "content": {"text": "hi"},
        },
    )
    assert isinstance(request, dict)
    await store.write([request], [])
    (row,) = await store.list(RecordQuery(advisor_id="a1"))
    assert (row["status"], row["text"], row["advisor_id"]) == ("sent", "hi", "a1")


async def test_purge_deletes_only_older_than_retention(store: RecordsStore) -> None:
    """Records older than the retention go, in batches; newer ones stay."""
    now = time.time()
    await store.write([inbound(n, now - 40 * 86400) for n in range(7)] + [inbound(99, now)], [])
    assert await store.purge(30 * 86400, batch=5) == 5
    assert await store.purge(30 * 86400, batch=5) == 2
    assert await store.purge(30 * 86400, batch=5) == 0
    assert [r["message_id"] for r in await store.list(RecordQuery(customer="c1"))] == ["m99"]
