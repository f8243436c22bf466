"""The statistics rollup (migration 0007) against the records it is derived from, on both
databases: late and early receipts, out-of-order messages, several days, the CST day boundary,
the purge, the backfill of records written before the rollup existed, and a randomized history
compared with the statistics computed from the records."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from alembic import command
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.store import stats as stats_module
from gateway.store.engine import alembic_config, migrate
from gateway.store.records import RecordsStore, StatusUpdate
from gateway.store.schema import records as records_table
from gateway.store.schema import stats_bot_days, stats_pending, stats_threads
from gateway.store.stats import StatsStore
from gateway.store.writer import writer_for

pytestmark = [pytest.mark.postgres]

CST = timezone(timedelta(hours=8))
DAY = datetime(2026, 11, 20, tzinfo=CST)  # 2026-11-20 00:00 in China


def at(minute: float, day: int = 0) -> float:
    return (DAY + timedelta(days=day, minutes=minute)).timestamp()


def inbound(
    n: int, customer: str, when: float, *, advisor: str | None = "a1", status: str = "advisor"
) -> dict[str, Any]:
    return {
        "direction": "in",
        "message_id": f"in{n}",
        "platform": "wechat",
        "account": "s",
        "customer": customer,
        "advisor_id": advisor,
        "sender": None,
        "kind": "text",
        "text": "x",
        "status": status,
        "reason": None,
        "at": when,
    }


def reply(
    n: int, customer: str, when: float, *, advisor: str = "a1", status: str = "queued"
) -> dict[str, Any]:
    return {
        "direction": "out",
        "message_id": f"out{n}",
        "platform": "wechat",
        "account": "s",
        "customer": customer,
        "advisor_id": advisor,
        "sender": f"advisor:{advisor}",
        "kind": "text",
        "text": "y",
        "status": status,
        "reason": None,
        "at": when,
    }


def sent(n: int, when: float = 0.0) -> StatusUpdate:
    return StatusUpdate(f"out{n}", "sent", None, when or time.time())


def span(days: int = 2, first: int = 0) -> tuple[float, float]:
    return at(0, first), at(0, first + days)


async def both(engine: AsyncEngine, within: float = 300, days: int = 2) -> list[dict[str, Any]]:
    """The rollup's answer (caught up through the writer the gateway uses: on SQLite its writer
    thread), after checking it against the records' answer."""
    writer = writer_for(engine)
    try:
        return await _both(StatsStore(engine, writer=writer), within, days)
    finally:
        await writer.close()


async def _both(stats: StatsStore, within: float, days: int) -> list[dict[str, Any]]:
    since, until = span(days)
    rolled = await stats.advisor_days(since, until, within)
    assert rolled == await stats.advisor_days(since, until, within, from_records=True)
    one = await stats.advisor_days(since, until, within, "a1")
    assert one == await stats.advisor_days(since, until, within, "a1", from_records=True)
    assert one == [row for row in rolled if row["advisor_id"] == "a1"]
    assert await stats.intervention_days(since, until) == await stats.intervention_days(
        since, until, from_records=True
    )
    return rolled


async def test_late_receipt_turns_a_queued_reply_into_the_first_response(
    engine: AsyncEngine,
) -> None:
    """A reply counts from the batch in which its receipt says `sent`; a rejected one never."""
    store = RecordsStore(engine)
    await store.write([inbound(1, "c1", at(600)), reply(1, "c1", at(601))], [])
    (row,) = await both(engine)
    assert (row["conversations"], row["responses"], row["advisor_messages"]) == (1, 0, 0)
    assert row["first_response_avg_s"] is None
    await store.write([reply(2, "c1", at(603))], [StatusUpdate("out1", "rejected", "x", 0)])
    await store.write([], [sent(2)])
    (row,) = await both(engine)
    assert (row["responses"], row["advisor_messages"], row["first_response_avg_s"]) == (
        1,
        1,
        180.0,
    )
    await store.write([], [sent(1)])  # a late `sent` for the earlier reply: it becomes the first
    (row,) = await both(engine)
    assert (row["advisor_messages"], row["first_response_avg_s"]) == (2, 60.0)
    await store.write([], [StatusUpdate("out1", "failed", "x", 0)])  # and stops being it
    (row,) = await both(engine)
    assert (row["advisor_messages"], row["first_response_avg_s"]) == (1, 180.0)


async def test_receipt_before_request_counts_once_the_request_arrives(
    engine: AsyncEngine,
) -> None:
    """A receipt recorded before its request leaves a blank record; the request completes it
    (platform and account included), and the conversation is answered at the receipt's time."""
    store = RecordsStore(engine)
    await store.write([inbound(1, "c1", at(600))], [sent(1, at(602))])
    (row,) = await both(engine)
    assert (row["responses"], row["advisor_messages"]) == (0, 0)
    await store.write([reply(1, "c1", at(610))], [])
    (row,) = await both(engine)
    assert (row["responses"], row["advisor_messages"], row["first_response_avg_s"]) == (
        1,
        1,
        120.0,
    )


async def test_an_earlier_message_arriving_late_moves_the_conversation_start(
    engine: AsyncEngine,
) -> None:
    """Messages written out of order: the first message is the earliest, whenever it arrived,
    and a reply between it and the previously first message becomes the first response."""
    store = RecordsStore(engine)
    await store.write([inbound(2, "c1", at(610)), reply(1, "c1", at(605), status="sent")], [])
    (row,) = await both(engine)
    assert (row["conversations"], row["responses"]) == (1, 0)
    await store.write([inbound(1, "c1", at(600))], [])
    (row,) = await both(engine)
    assert (row["customer_messages"], row["conversations"], row["responses"]) == (2, 1, 1)
    assert row["first_response_avg_s"] == 300.0
    await store.write([inbound(1, "c1", at(600))], [])  # a redelivery changes nothing
    assert await both(engine) == [row]


async def test_cst_day_boundary_and_an_answer_on_the_next_day(engine: AsyncEngine) -> None:
    """23:59 CST (15:59 UTC) belongs to the day, 00:01 to the next; a reply after midnight answers
    the previous day's conversation and counts as the next day's message."""
    store = RecordsStore(engine)
    await store.write(
        [
            inbound(1, "c1", at(1439)),
            reply(1, "c1", at(1441), status="sent"),
            inbound(2, "c1", at(1442)),
        ],
        [],
    )
    assert datetime.fromtimestamp(at(1439), UTC).hour == 15
    day1, day2 = await both(engine, within=60)
    assert (day1["day"], day1["customer_messages"], day1["advisor_messages"]) == (
        "2026-11-20",
        1,
        0,
    )
    assert (day1["responses"], day1["first_response_avg_s"]) == (0, 120.0)
    assert (day2["day"], day2["customer_messages"], day2["advisor_messages"]) == (
        "2026-11-21",
        1,
        1,
    )
    assert (day2["conversations"], day2["responses"]) == (1, 0)  # not answered after 00:02
    (only,) = await StatsStore(engine).advisor_days(*span(1, first=1), within=60)
    assert only == day2
    assert await both(engine, within=120) != [day1, day2]  # `within` is applied at query time


async def test_reply_days_later_answers_the_open_conversations(engine: AsyncEngine) -> None:
    """A reply answers every earlier conversation of the customer still open at that time."""
    store = RecordsStore(engine)
    await store.write([inbound(1, "c1", at(600)), inbound(2, "c1", at(600, day=1))], [])
    await store.write([reply(1, "c1", at(700, day=2), status="sent")], [])
    rows = await both(engine, days=3)
    assert [(r["day"], r["first_response_avg_s"]) for r in rows] == [
        ("2026-11-20", 2 * 86400 + 6000.0),
        ("2026-11-21", 86400 + 6000.0),
        ("2026-11-22", None),
    ]


async def test_intervention_rollup(engine: AsyncEngine) -> None:
    """Customers who wrote to a bot and reached an advisor later that day, with an advisor
    message arriving before the bot message it follows."""
    store = RecordsStore(engine)
    await store.write([inbound(2, "c1", at(505))], [])
    await store.write(
        [
            inbound(1, "c1", at(500), advisor=None, status="bot"),
            inbound(3, "c2", at(500), advisor=None, status="bot"),
            inbound(4, "c2", at(400)),  # before the bot: not an intervention
        ],
        [],
    )
    await both(engine)
    (day,) = await StatsStore(engine).intervention_days(*span(1))
    assert (day["bot_customers"], day["moved_to_advisor"]) == (2, 1)


async def test_purge_removes_the_rollup_with_the_records(engine: AsyncEngine) -> None:
    """Purged records take their conversations and bot contacts with them; what remains of a
    half-purged day is what its remaining records say."""
    store = RecordsStore(engine)
    await store.write(
        [
            inbound(1, "c1", at(600)),
            reply(1, "c1", at(601), status="sent"),
            inbound(2, "c2", at(600), advisor=None, status="bot"),
            inbound(3, "c1", at(900)),
            inbound(4, "c3", at(600, day=1)),
        ],
        [],
    )
    cutoff = at(700)
    assert await store.purge(time.time() - cutoff) == 3
    (day1, _) = await both(engine)
    assert (day1["customer_messages"], day1["advisor_messages"], day1["responses"]) == (1, 0, 0)
    assert day1["first_response_avg_s"] is None  # c1's conversation now starts at 15:00
    assert await StatsStore(engine).intervention_days(*span()) == []
    assert await store.purge(time.time() - at(0, day=2)) == 2
    assert await both(engine) == []
    async with engine.connect() as conn:
        for table in (stats_threads, stats_bot_days):
            assert (await conn.execute(select(func.count()).select_from(table))).scalar() == 0


async def count(engine: AsyncEngine, table: Any) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def test_writes_queue_changes_and_catch_up_folds_them_in(engine: AsyncEngine) -> None:
    """A records write only queues its changes (the rollup is untouched until a catch-up);
    catching up 2 changes and 1 rollup row at a time empties the queue and gives what one big
    batch gives."""
    store, stats = RecordsStore(engine), StatsStore(engine)
    await store.write(
        [
            inbound(1, "c1", at(600)),
            reply(1, "c1", at(601)),
            inbound(2, "c2", at(600), advisor=None, status="bot"),
            inbound(3, "c2", at(700)),
            inbound(4, "c3", at(100, day=1)),
        ],
        [],
    )
    await store.write([], [sent(1, at(605))])
    assert await count(engine, stats_pending) == 6
    assert await count(engine, stats_threads) == 0
    assert await stats.catch_up(batch=2, keys_per_tx=1) == 6
    assert await count(engine, stats_pending) == 0
    threads = await count(engine, stats_threads)
    assert (threads, await count(engine, stats_bot_days)) == (3, 1)
    assert await stats.catch_up() == 0
    rows = await both(engine)
    assert [(r["day"], r["conversations"], r["responses"]) for r in rows] == [
        ("2026-11-20", 2, 1),
        ("2026-11-21", 1, 0),
    ]


async def test_migration_backfills_existing_records(engine: AsyncEngine) -> None:
    """Records written before migration 0007 (straight into the table) are in the rollup after
    it; the numbers equal the ones computed from the records."""
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: command.downgrade(alembic_config(sync), "0006"))
        await conn.execute(
            insert(records_table),
            [
                inbound(1, "c1", at(600)),
                reply(1, "c1", at(602), status="sent"),
                reply(2, "c1", at(603), status="rejected"),
                inbound(2, "c2", at(1439)),
                reply(3, "c2", at(1445), status="sent"),
                inbound(3, "c3", at(100), advisor=None, status="bot"),
                inbound(4, "c3", at(200)),
            ],
        )
    await migrate(engine)
    rows = await both(engine)
    assert [(r["day"], r["conversations"], r["responses"]) for r in rows] == [
        ("2026-11-20", 3, 1),
        ("2026-11-21", 0, 0),
    ]
    (day,) = await StatsStore(engine).intervention_days(*span())
    assert day["moved_to_advisor"] == 1


@pytest.mark.parametrize("read_slice", [None, 4])
async def test_random_history_matches_the_records(
    engine: AsyncEngine, read_slice: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many batches of messages, replies and receipts in random order around midnight: after every
    batch, and after a purge, the rollup answers exactly what the records answer — also when the
    catch-up reads its queue in slices of 4 (each sorted out before the next is read)."""
    if read_slice is not None:
        monkeypatch.setattr(stats_module, "_SLICE", read_slice)
    rng = random.Random(20261122)
    store = RecordsStore(engine)
    pending: list[int] = []
    requests: list[dict[str, Any]] = []
    for batch in range(12):
        rows, requests = requests, []
        updates: list[StatusUpdate] = []
        for i in range(15):
            n = batch * 100 + i
            customer, advisor = f"c{rng.randrange(6)}", f"a{rng.randrange(2)}"
            when = at(1380 + rng.random() * 180 - 60 * rng.randrange(2))
            kind = rng.random()
            if kind < 0.45:
                status = rng.choice(["advisor", "advisor", "bot"])
                rows.append(
                    inbound(
                        n,
                        customer,
                        when,
                        advisor=None if status == "bot" else advisor,
                        status=status,
                    )
                )
            elif kind < 0.75:
                rows.append(reply(n, customer, when, advisor=advisor))
                pending.append(n)
            elif kind < 0.85:  # a receipt a batch before its request
                updates.append(StatusUpdate(f"out{n}", "sent", None, when))
                requests.append(reply(n, customer, when + 30, advisor=advisor))
            elif pending:
                chosen = pending.pop(rng.randrange(len(pending)))
                updates.append(
                    StatusUpdate(f"out{chosen}", rng.choice(["sent", "sent", "failed"]), None, 0)
                )
        if rng.random() < 0.3 and rows:  # a redelivered batch
            await store.write(rows, updates)
        await store.write(rows, updates)
        for within in (60, 3600):
            await both(engine, within=within, days=3)
    before = await both(engine, within=3600, days=3)
    assert sum(r["conversations"] for r in before) > 10
    assert sum(r["responses"] for r in before) > 5
    assert await store.purge(time.time() - at(1440)) > 0
    after = await both(engine, within=3600, days=3)
    assert after != before


async def test_p90_is_the_nearest_rank(engine: AsyncEngine) -> None:
    """Twenty conversations answered after 1..20 minutes: p90 is the 18th delay (not the largest,
    not an interpolation), average 10.5 minutes, 5 within 5 minutes."""
    store = RecordsStore(engine)
    await store.write(
        [inbound(n, f"c{n}", at(600)) for n in range(1, 21)]
        + [reply(n, f"c{n}", at(600 + n), status="sent") for n in range(1, 21)],
        [],
    )
    (row,) = await both(engine)
    assert (row["conversations"], row["responses"]) == (20, 5)
    assert (row["first_response_avg_s"], row["first_response_p90_s"]) == (630.0, 1080.0)
