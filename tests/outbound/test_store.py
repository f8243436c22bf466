"""The outbound store on SQLite and PostgreSQL: windows, touches, refunds, claims, and that
concurrent senders cannot overspend."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.outbound import OutboundPolicy, PolicyBook
from gateway.store.engine import create_engine
from gateway.store.outbound import Allowance, ClaimState, OutboundStore, Spent, Who, month_of

pytestmark = [pytest.mark.postgres]

BOOK = PolicyBook.defaults()
WECHAT, DOUYIN = BOOK.of("wechat", "x"), BOOK.of("douyin", "x")
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
HOUR = 3600.0


def who(platform: str = "douyin") -> Who:
    return Who(platform, "acct", f"c-{uuid.uuid4().hex[:10]}")


def store(engine: AsyncEngine, clock: float | None = None) -> OutboundStore:
    now = T0.timestamp() if clock is None else clock
    return OutboundStore(engine, rules=BOOK.of, stale_after=60, clock=lambda: now)


async def replies(
    s: OutboundStore, w: Who, rule: OutboundPolicy, at: datetime, n: int
) -> list[object]:
    return [await s.take_reply(w, rule, at.timestamp()) for _ in range(n)]


async def test_reply_needs_a_window_and_stops_at_the_limit(engine: AsyncEngine) -> None:
    """No action: window closed; then 20 replies, the 21st is over the limit; after 48 h closed."""
    s, w = store(engine), who()
    assert await s.take_reply(w, DOUYIN, T0.timestamp()) is Spent.WINDOW_CLOSED
    await s.record_customer_action(w.platform, w.account, w.customer, T0)
    got = await replies(s, w, DOUYIN, T0 + timedelta(hours=1), 21)
    assert all(isinstance(a, Allowance) for a in got[:20]) and got[20] is Spent.REPLY_LIMIT
    late = T0 + timedelta(hours=48, seconds=1)
    assert await s.take_reply(w, DOUYIN, late.timestamp()) is Spent.WINDOW_CLOSED


async def test_renewal_keeps_the_count_but_a_new_window_resets_it(engine: AsyncEngine) -> None:
    """Generic policy: an action inside the window renews it without resetting; one after it
    expired starts a new window with a fresh count."""
    s, w = store(engine), who()
    await s.record_customer_action(w.platform, w.account, w.customer, T0)
    await replies(s, w, DOUYIN, T0, 20)
    renewed = T0 + timedelta(hours=47)
    await s.record_customer_action(w.platform, w.account, w.customer, renewed)
    after_first = (T0 + timedelta(hours=60)).timestamp()
    assert await s.take_reply(w, DOUYIN, after_first) is Spent.REPLY_LIMIT  # window renewed
    fresh = renewed + timedelta(hours=49)
    await s.record_customer_action(w.platform, w.account, w.customer, fresh)
    assert isinstance(await s.take_reply(w, DOUYIN, fresh.timestamp()), Allowance)


async def test_wechat_resets_on_every_newer_message_only(engine: AsyncEngine) -> None:
    """WeChat: 5 replies per customer message; a newer message resets, an older (late) one not."""
    s, w = store(engine), who("wechat")
    await s.record_customer_action("wechat", w.account, w.customer, T0)
    assert (await replies(s, w, WECHAT, T0, 6))[5] is Spent.REPLY_LIMIT
    await s.record_customer_action("wechat", w.account, w.customer, T0 - timedelta(minutes=5))
    assert await s.take_reply(w, WECHAT, T0.timestamp()) is Spent.REPLY_LIMIT
    await s.record_customer_action("wechat", w.account, w.customer, T0 + timedelta(minutes=1))
    assert isinstance(await s.take_reply(w, WECHAT, T0.timestamp() + 60), Allowance)


async def test_touches_three_messages_a_minute_four_a_month(engine: AsyncEngine) -> None:
    """A touch carries 3 messages within 60 s; the month has 4 touches; the 5th is refused."""
    s, w, t = store(engine), who(), T0.timestamp()
    got = [await s.take_touch(w, DOUYIN, t) for _ in range(3)]
    assert [a.ordinal for a in got if isinstance(a, Allowance)] == [1, 1, 1]
    assert isinstance(a4 := await s.take_touch(w, DOUYIN, t + 1), Allowance) and a4.ordinal == 2
    assert isinstance(a5 := await s.take_touch(w, DOUYIN, t + 61), Allowance) and a5.ordinal == 3
    assert isinstance(a6 := await s.take_touch(w, DOUYIN, t + 200), Allowance) and a6.ordinal == 4
    assert await s.take_touch(w, DOUYIN, t + 300) is Spent.QUOTA_EXHAUSTED
    assert isinstance(await s.take_touch(w, DOUYIN, t + 201), Allowance)  # touch 4 has room


async def test_months_turn_at_midnight_in_shanghai(engine: AsyncEngine) -> None:
    """Touches reset when the month changes in Asia/Shanghai (16:00 UTC on the last day)."""
    s, w = store(engine), who()
    before = datetime(2026, 11, 30, 15, 59, 59, tzinfo=UTC).timestamp()
    assert (month_of(before), month_of(before + 1)) == ("2026-11", "2026-12")
    for n in range(4):
        assert isinstance(await s.take_touch(w, DOUYIN, before - 1000 * (4 - n)), Allowance)
    assert await s.take_touch(w, DOUYIN, before) is Spent.QUOTA_EXHAUSTED
    assert isinstance(await s.take_touch(w, DOUYIN, before + 1), Allowance)


async def test_refunds_give_back_what_was_not_sent(engine: AsyncEngine) -> None:
    """A refunded reply can be taken again; a refunded single-message touch returns the touch."""
    s, w, t = store(engine), who(), T0.timestamp()
    await s.record_customer_action(w.platform, w.account, w.customer, T0)
    taken = await replies(s, w, DOUYIN, T0, 20)
    assert isinstance(taken[-1], Allowance)
    await s.refund(taken[-1])
    assert isinstance(await s.take_reply(w, DOUYIN, t), Allowance)
    assert await s.take_reply(w, DOUYIN, t) is Spent.REPLY_LIMIT
    touches = [await s.take_touch(w, DOUYIN, t + 100 * n) for n in range(4)]
    assert isinstance(touches[-1], Allowance)
    await s.refund(touches[-1])
    assert isinstance(await s.take_touch(w, DOUYIN, t + 1000), Allowance)
    assert await s.take_touch(w, DOUYIN, t + 2000) is Spent.QUOTA_EXHAUSTED


async def test_claims_finish_replay_and_take_over(engine: AsyncEngine) -> None:
    """A request is owned once; finished ones replay their receipt; a stale or failed claim can
    be taken over and the previous owner's late finish is ignored."""
    rid, t = f"rq-{uuid.uuid4().hex}", T0.timestamp()
    first = await store(engine, t).claim(rid)
    assert first.state is ClaimState.OWNED
    assert (await store(engine, t + 10).claim(rid)).state is ClaimState.BUSY
    taken = await store(engine, t + 61).claim(rid)
    assert taken.state is ClaimState.OWNED
    assert not await store(engine).finish(rid, first.claimed_at, "sent", b'{"status":"sent"}')
    assert await store(engine).finish(rid, taken.claimed_at, "failed", b'{"status":"failed"}')
    again = await store(engine, t + 62).claim(rid)
    assert again.state is ClaimState.OWNED  # failed: a replay may try again
    await store(engine).finish(rid, again.claimed_at, "sent", b'{"status":"sent"}')
    dup = await store(engine, t + 63).claim(rid)
    assert (dup.state, dup.receipt) == (ClaimState.DUPLICATE, b'{"status":"sent"}')
    other = f"rq-{uuid.uuid4().hex}"
    mine = await store(engine, t).claim(other)
    await store(engine).release(other, mine.claimed_at)
    assert (await store(engine, t + 1).claim(other)).state is ClaimState.OWNED


async def test_two_senders_cannot_overspend(engine: AsyncEngine, database_url: str) -> None:
    """60 concurrent reply and touch requests from two engines get exactly 20 replies and 12
    touch messages."""
    second = create_engine(database_url)
    try:
        stores = (store(engine), store(second))
        w, t = who(), T0.timestamp()
        await stores[0].record_customer_action(w.platform, w.account, w.customer, T0)
        got = await asyncio.gather(
            *(stores[n % 2].take_reply(w, DOUYIN, t) for n in range(60)),
            *(stores[n % 2].take_touch(w, DOUYIN, t) for n in range(60)),
        )
    finally:
        await second.dispose()
    replies_ = [a for a in got[:60] if isinstance(a, Allowance)]
    touches = [a for a in got[60:] if isinstance(a, Allowance)]
    assert len(replies_) == 20 and set(got[:60]) - set(replies_) == {Spent.REPLY_LIMIT}
    assert sorted(a.ordinal for a in touches) == [1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]
    assert await store(engine).take_touch(w, DOUYIN, t + 61) is Spent.QUOTA_EXHAUSTED


async def test_purge_removes_expired_rows(engine: AsyncEngine) -> None:
    """Expired requests, idle windows and touches of months before last month are purged."""
    old = T0.timestamp() - 90 * 86400
    s, w = store(engine, old), who()
    await s.claim(f"rq-{uuid.uuid4().hex}")
    await s.record_customer_action(w.platform, w.account, w.customer, T0 - timedelta(days=90))
    await s.take_touch(w, DOUYIN, old)
    assert await store(engine).purge() >= 3
