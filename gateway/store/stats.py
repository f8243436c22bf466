"""Service statistics per advisor and day.

Days are calendar days in China Standard Time (UTC+8). A *conversation* is one customer's
messages to one advisor on one day; its first-response time runs from the customer's first
message that day to the advisor's first sent reply after it. The response rate is the share of
conversations answered within `within` seconds. The human-intervention rate (per day, all
advisors) is the share of customers who wrote to a bot that day and reached an advisor later the
same day.

Whole CST days (what `/api/v1/stats` asks for) are read from a rollup of the records
(`stats_threads`: one row per advisor, customer and day with the message counts and the
conversation's first message, first sent reply and their difference; `stats_bot_days`: one row
per customer and day with a bot contact). `gateway.store.records` appends every record it writes,
updates or deletes to `stats_pending` (`queue_changes`, in the same transaction);
`StatsStore.catch_up` folds that queue in — a background job every 30 s, and every statistics
query before it reads, so answers are exact. It recomputes from the records the rollup rows the
queued changes can affect (a sent reply can answer a conversation of an earlier day, a receipt
can turn a queued reply into a sent one, a purge removes messages), each row once however many
of its changes are queued. (Until migration 0008 this ran in every records write, and cost more
than the rest of the webhook path.) The response rate for
any `within`, the average and the 90th percentile (nearest rank) are then aggregates over the
rollup. Other periods are computed
from the records directly, with the same definitions.
"""

from __future__ import annotations

import asyncio
import functools
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import groupby
from typing import Any

from sqlalchemy import (
    Float,
    Integer,
    String,
    and_,
    bindparam,
    case,
    cast,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.store.driver import execute_many
from gateway.store.schema import bindings as b
from gateway.store.schema import records as r
from gateway.store.schema import stats_bot_days as bd
from gateway.store.schema import stats_pending as sp
from gateway.store.schema import stats_threads as st
from gateway.store.tx import transaction
from gateway.store.writer import LoopWriter, Writer

__all__ = [
    "CHANGE_COLUMNS",
    "CST_OFFSET",
    "Change",
    "StatsStore",
    "day_number",
    "day_of",
    "queue_changes",
]

CST_OFFSET = 8 * 3600
_ROLLUP_LOCK = 0x6B656673  # PostgreSQL advisory lock serializing rollup refreshes ("kefs")
_CHUNK = 20  # threads per lookup of the conversations a sent reply may answer (building, keying
# and compiling a UNION of 100 held the event loop for tens of ms each)


def day_of(column: Any, dialect: str) -> Any:
    """The CST day number (days since 1970-01-01) of an epoch-seconds column, in SQL.
    (PostgreSQL's CAST rounds, SQLite's truncates: floor where it rounds.)"""
    shifted = (column + CST_OFFSET) / 86400
    return cast(func.floor(shifted) if dialect == "postgresql" else shifted, Integer)


def day_number(at: float) -> int:
    """`day_of` in Python (the same floating-point operations)."""
    return math.floor((at + CST_OFFSET) / 86400)


def _day_start(number: int) -> float:
    return float(number * 86400 - CST_OFFSET)


@dataclass(frozen=True, slots=True)
class Change:
    """A record as written, updated or deleted: what the rollup needs to know of it."""

    direction: str
    advisor_id: str | None
    platform: str
    account: str
    customer: str
    status: str
    at: float

    @classmethod
    def of(cls, row: Any) -> Change:
        m = row._mapping if hasattr(row, "_mapping") else row
        return cls(
            str(m["direction"]),
            m["advisor_id"],
            str(m["platform"]),
            str(m["account"]),
            str(m["customer"]),
            str(m["status"]),
            float(m["at"]),
        )


# What `Change.of` reads from a RETURNING clause.
CHANGE_COLUMNS = (
    r.c.direction,
    r.c.advisor_id,
    r.c.platform,
    r.c.account,
    r.c.customer,
    r.c.status,
    r.c.at,
)

_QUEUE = insert(sp)  # one prebuilt statement, executed with many parameter sets
_CATCH_UP_BATCH = 50_000  # queued changes read at once: each affected row is recomputed once
# Rollup rows recomputed per transaction (≈ 7–15 ms), and a pause after each: the webhook path's
# dedup flushes wait behind each of these transactions (on SQLite in the same writer process) —
# short ones and a gap keep that wait short (a soak with 50 rows per transaction and no gap saw
# p99 grow from 0.3 to 1.6 s as conversations grew).
_KEYS_PER_TX = 10
_PAUSE = 0.02  # seconds between catch-up transactions
_SLICE = 2_000  # queued changes read and sorted out per trip to the driver
_DELETE_CHUNK = 500  # queued changes deleted per statement


def queue_changes(conn: Connection, changes: Sequence[Change]) -> None:
    """Queue `changes` for the rollup, in the caller's transaction (see `StatsStore.catch_up`);
    synchronous, for writes that run whole (`gateway.store.writer`, `AsyncConnection.run_sync`)."""
    if changes:
        execute_many(conn, _QUEUE, [_as_row(c) for c in changes])


def _as_row(c: Change) -> dict[str, Any]:
    return {
        "direction": c.direction,
        "advisor_id": c.advisor_id,
        "platform": c.platform,
        "account": c.account,
        "customer": c.customer,
        "status": c.status,
        "at": c.at,
    }


_OLDEST = select(
    sp.c.seq, sp.c.direction, sp.c.advisor_id, sp.c.platform, sp.c.account, sp.c.customer,
    sp.c.status, sp.c.at,
).order_by(sp.c.seq)  # fmt: skip
_LOCK = text("SELECT pg_advisory_xact_lock(:k)")

_Thread = tuple[str, str, str, str]  # advisor_id, platform, account, customer
_Customer = tuple[str, str, str]  # platform, account, customer


@dataclass(slots=True)
class _Affected:
    """What a set of record changes can alter in the rollup."""

    threads: set[tuple[int, _Thread]]  # (day, thread) rows to recompute
    replies: dict[_Thread, tuple[float, float]]  # earliest and latest reply per thread
    customers: set[tuple[int, _Customer]]  # (day, customer) bot-contact rows to recompute

    @classmethod
    def of(cls, changes: Iterable[Change]) -> _Affected:
        affected = cls(set(), {}, set())
        affected.add(changes)
        return affected

    def add(self, changes: Iterable[Change]) -> None:
        for c in changes:
            if c.direction == "in" and c.status in ("bot", "advisor"):
                self.customers.add((day_number(c.at), (c.platform, c.account, c.customer)))
            if c.advisor_id is None:
                continue
            thread = (c.advisor_id, c.platform, c.account, c.customer)
            self.threads.add((day_number(c.at), thread))
            if c.direction == "out":
                low, high = self.replies.get(thread, (c.at, c.at))
                self.replies[thread] = (min(low, c.at), max(high, c.at))


def _recompute(
    threads: Iterable[tuple[int, _Thread]],
    customers: Iterable[tuple[int, _Customer]],
    conn: Connection,
) -> None:
    """One catch-up transaction (run by the store's writer, `gateway.store.writer`)."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        conn.execute(_LOCK, {"k": _ROLLUP_LOCK})
    keys = [
        {"k_day": d, "k_advisor": t[0], "k_platform": t[1], "k_account": t[2], "k_customer": t[3]}
        | _bounds(d)
        for d, t in sorted(threads)
    ]
    if keys:
        conn.execute(_DELETE_THREAD, keys)
        conn.execute(_recompute_threads(dialect), keys)
    keys = [
        {"k_day": d, "k_platform": p, "k_account": a, "k_customer": c} | _bounds(d)
        for d, (p, a, c) in sorted(customers)
    ]
    if keys:
        conn.execute(_DELETE_BOT_DAY, keys)
        conn.execute(_recompute_bot_days(dialect), keys)


def _dequeue(seqs: list[int], conn: Connection) -> None:
    conn.execute(delete(sp).where(sp.c.seq.in_(seqs)))


async def _answered_by(
    conn: AsyncConnection, replies: dict[_Thread, tuple[float, float]]
) -> set[tuple[int, _Thread]]:
    """Conversations (of any day) whose first sent reply a changed reply at `at` may be or may
    have been: asked at or before `at`, unanswered or answered at or after it."""
    found: set[tuple[int, _Thread]] = set()
    items = list(replies.items())
    for i in range(0, len(items), _CHUNK):
        # one indexed SELECT per thread, UNION ALL: an OR of them would scan the table on SQLite
        query = union_all(
            *(
                select(
                    st.c.day,
                    st.c.advisor_id,
                    st.c.platform,
                    st.c.account,
                    st.c.customer,
                ).where(
                    st.c.platform == p,
                    st.c.account == a,
                    st.c.customer == c,
                    st.c.advisor_id == adv,
                    st.c.asked <= last,
                    or_(st.c.answered.is_(None), st.c.answered >= first),
                )
                for (adv, p, a, c), (first, last) in items[i : i + _CHUNK]
            )
        )
        for day, adv, p, a, c in (await conn.execute(query)).all():
            found.add((day, (adv, p, a, c)))
    return found


def _bounds(number: int) -> dict[str, float]:
    # A second of slack around the day: `day_of` decides, the range only selects the index span.
    return {"k_low": _day_start(number) - 1, "k_high": _day_start(number + 1) + 1}


def _key(name: str, type_: Any = String) -> Any:
    return bindparam(f"k_{name}", type_=type_)


def _customer_day_keys() -> list[Any]:
    """The keyed day and customer, as columns of an INSERT ... SELECT."""
    return [
        _key("day", Integer).label("day"),
        _key("platform").label("platform"),
        _key("account").label("account"),
        _key("customer").label("customer"),
    ]


def _of_customer_day(table: Any, dialect: str) -> Any:
    """The keyed customer's rows of `table` (records) on the keyed day."""
    return and_(
        table.c.platform == _key("platform"),
        table.c.account == _key("account"),
        table.c.customer == _key("customer"),
        table.c.at >= _key("low", Float),
        table.c.at < _key("high", Float),
        day_of(table.c.at, dialect) == _key("day", Integer),
    )


def _keyed(table: Any) -> Any:
    """The keyed customer's row of a rollup table on the keyed day."""
    return and_(
        table.c.day == _key("day", Integer),
        table.c.platform == _key("platform"),
        table.c.account == _key("account"),
        table.c.customer == _key("customer"),
    )


_DELETE_THREAD = delete(st).where(_keyed(st), st.c.advisor_id == _key("advisor"))
_DELETE_BOT_DAY = delete(bd).where(_keyed(bd))


def _recompute_threads(dialect: str) -> Any:
    """INSERT one thread-day's row from its records (nothing when it has none)."""
    counted = (
        select(
            *_customer_day_keys(),
            _key("advisor").label("advisor_id"),
            func.sum(case((r.c.direction == "in", 1), else_=0)).label("customer_messages"),
            func.sum(case((r.c.direction == "out", 1), else_=0)).label("advisor_messages"),
            func.min(case((r.c.direction == "in", r.c.at))).label("asked"),
        )
        .where(
            _of_customer_day(r, dialect),
            # through a function: the customer's index, never the advisor's whole day (SQLite
            # has no statistics to choose by)
            func.coalesce(r.c.advisor_id, "") == _key("advisor"),
            (r.c.direction == "in") | (r.c.status == "sent"),
        )
        .having(func.count() > 0)
        .subquery()
    )
    o = r.alias("o")
    answered = (
        select(o.c.at)
        .where(
            o.c.platform == counted.c.platform,
            o.c.account == counted.c.account,
            o.c.customer == counted.c.customer,
            o.c.at >= counted.c.asked,
            o.c.direction == "out",
            o.c.status == "sent",
            o.c.advisor_id == counted.c.advisor_id,
        )
        .order_by(o.c.at)
        .limit(1)
        .scalar_subquery()
    )
    # materialized, so that `delay` reuses `answered` rather than running its lookup again
    with_answer = select(counted, answered.label("answered")).cte().prefix_with("MATERIALIZED")
    return insert(st).from_select(
        [*(column.name for column in with_answer.c), "delay"],
        select(with_answer, (with_answer.c.answered - with_answer.c.asked).label("delay")),
    )


def _recompute_bot_days(dialect: str) -> Any:
    """INSERT one customer-day's bot contact from its records (nothing without one)."""
    found = (
        select(
            *_customer_day_keys(),
            func.min(case((r.c.status == "bot", r.c.at))).label("first_bot"),
            func.max(case((r.c.status == "advisor", r.c.at))).label("last_advisor"),
        )
        .where(
            _of_customer_day(r, dialect),
            r.c.direction == "in",
            (r.c.status == "bot") | (r.c.status == "advisor"),
        )
        .subquery()
    )
    return insert(bd).from_select(
        ["day", "platform", "account", "customer", "first_bot", "last_advisor"],
        select(found).where(found.c.first_bot.is_not(None)),
    )


@dataclass
class _Row:
    customer_messages: int = 0
    advisor_messages: int = 0
    conversations: int = 0
    responses: int = 0
    answered: int = 0
    delay_sum: float = 0.0
    p90: float | None = None


class StatsStore:
    def __init__(self, engine: AsyncEngine, *, writer: Writer | None = None) -> None:
        """`writer`: the catch-up's write transactions go through it — the same SQLite writer
        process as the webhook path's dedup flushes, so they take turns instead of waking each
        other from SQLite's busy handler (whose growing sleeps starved the flushes for up to a
        second while a catch-up ran: bench/results/2026-12-07-hotpath.md)."""
        self._engine = engine
        self._dialect = engine.dialect.name
        self._writer = writer if writer is not None else LoopWriter(engine)

    def _day(self, column: Any) -> Any:
        return day_of(column, self._dialect)

    async def catch_up(
        self, batch: int = _CATCH_UP_BATCH, keys_per_tx: int = _KEYS_PER_TX, pause: float = _PAUSE
    ) -> int:
        """Fold the queued record changes into the rollup; returns how many were folded in.

        Up to `batch` changes are read at once and every rollup row they can affect is
        recomputed once, however many of the changes touch it (a busy customer's conversation
        gathers hundreds between two catch-ups), `keys_per_tx` rows per transaction and `pause`
        seconds after each so that the webhook path's writes are never held up for long (a
        statistics query, which waits for it, passes no pause); then the changes are taken off
        the queue. A crash in between leaves them queued (recomputing is idempotent); a change
        queued meanwhile, even to a row just recomputed, stays queued for the next catch-up.
        Processes sharing PostgreSQL may fold in the same changes at once (work done twice, the
        same result): an advisory lock makes their recomputing transactions take turns, so the
        later one sees what the earlier wrote."""
        total = 0
        while True:
            # Read and sorted out a slice at a time, each slice a trip to the driver: tens of
            # thousands of changes at once held the event loop (every webhook) for ≈ 100 ms.
            rows: list[Any] = []
            affected = _Affected.of(())
            async with transaction(self._engine, "stats catch-up", write=False) as conn:
                result = await conn.stream(_OLDEST.limit(batch))
                async for part in result.partitions(_SLICE):
                    rows.extend(part)
                    affected.add(Change.of(row) for row in part)
            if not rows:
                return total
            async with transaction(self._engine, "stats catch-up", write=False) as conn:
                # conversations of earlier days a reply may answer (or no longer answer)
                threads = sorted(affected.threads | await _answered_by(conn, affected.replies))
            customers = sorted(affected.customers)
            for at in range(0, max(len(threads), len(customers)), keys_per_tx):
                recompute = functools.partial(
                    _recompute, threads[at : at + keys_per_tx], customers[at : at + keys_per_tx]
                )
                await self._writer.run("stats catch-up", recompute)
                if pause:
                    await asyncio.sleep(pause)
            seqs = [row.seq for row in rows]
            for at in range(0, len(seqs), _DELETE_CHUNK):
                dequeue = functools.partial(_dequeue, seqs[at : at + _DELETE_CHUNK])
                await self._writer.run("stats catch-up", dequeue)
            total += len(rows)
            if len(rows) < batch:
                return total

    async def advisor_days(
        self,
        since: float,
        until: float,
        within: float,
        advisor_id: str | None = None,
        *,
        from_records: bool = False,
    ) -> list[dict[str, Any]]:
        """One row per advisor and day with messages, responses and first-response times.
        `from_records` computes whole days from the records too (slow: a check of the rollup)."""
        days = None if from_records else _whole_days(since, until)
        if days is None:
            rows = await self._advisor_days_from_records(since, until, within, advisor_id)
        else:
            await self.catch_up(pause=0.0)
            rows = await self._advisor_days_from_rollup(*days, within, advisor_id)
        return [_report(advisor, number, row) for (advisor, number), row in sorted(rows.items())]

    async def _advisor_days_from_rollup(
        self, first: int, end: int, within: float, advisor_id: str | None
    ) -> dict[tuple[str, int], _Row]:
        window = and_(st.c.day >= first, st.c.day < end)
        if advisor_id is not None:
            window = and_(window, st.c.advisor_id == advisor_id)
        columns = [
            st.c.advisor_id,
            st.c.day,
            func.sum(st.c.customer_messages),
            func.sum(st.c.advisor_messages),
            func.count(st.c.asked),
            func.sum(case((st.c.delay <= within, 1), else_=0)),
            func.count(st.c.delay),
            func.sum(st.c.delay),
        ]
        if self._dialect == "postgresql":  # nearest rank, as `_nearest_rank`
            columns.append(func.percentile_disc(0.9).within_group(st.c.delay))
        sums = select(*columns).where(window).group_by(st.c.day, st.c.advisor_id)
        rows: dict[tuple[str, int], _Row] = {}
        async with transaction(self._engine, "stats", write=False) as conn:
            for advisor, number, ins, outs, talks, fast, answered, total, *p90 in (
                await conn.execute(sums)
            ).all():
                rows[(advisor, number)] = _Row(
                    int(ins),
                    int(outs),
                    int(talks),
                    int(fast or 0),
                    int(answered),
                    float(total or 0.0),
                    None if not p90 or p90[0] is None else float(p90[0]),
                )
            if self._dialect != "postgresql":
                for key, p90_value in (await _p90_sqlite(conn, first, end, advisor_id)).items():
                    rows[key].p90 = p90_value
        return rows

    async def _advisor_days_from_records(
        self, since: float, until: float, within: float, advisor_id: str | None
    ) -> dict[tuple[str, int], _Row]:
        rows: dict[tuple[str, int], _Row] = defaultdict(_Row)
        delays: dict[tuple[str, int], list[float]] = defaultdict(list)
        window = and_(r.c.at >= since, r.c.at < until, r.c.advisor_id.is_not(None))
        if advisor_id is not None:
            window = and_(window, r.c.advisor_id == advisor_id)
        day = self._day(r.c.at).label("day")
        counts = (
            select(r.c.advisor_id, day, r.c.direction, func.count().label("n"))
            .where(window, (r.c.direction == "in") | (r.c.status == "sent"))
            .group_by(r.c.advisor_id, day, r.c.direction)
        )
        firsts = (
            select(
                r.c.advisor_id,
                r.c.platform,
                r.c.account,
                r.c.customer,
                day,
                func.min(r.c.at).label("asked"),
            )
            .where(window, r.c.direction == "in")
            .group_by(r.c.advisor_id, r.c.platform, r.c.account, r.c.customer, day)
            .subquery()
        )
        o = r.alias("o")
        answered = (
            select(func.min(o.c.at))
            .where(
                o.c.direction == "out",
                o.c.status == "sent",
                o.c.advisor_id == firsts.c.advisor_id,
                o.c.platform == firsts.c.platform,
                o.c.account == firsts.c.account,
                o.c.customer == firsts.c.customer,
                o.c.at >= firsts.c.asked,
            )
            .scalar_subquery()
        )
        delays_query = select(
            firsts.c.advisor_id, firsts.c.day, (answered - firsts.c.asked).label("delay")
        )
        async with transaction(self._engine, "stats", write=False) as conn:
            for advisor, number, direction, n in (await conn.execute(counts)).all():
                row = rows[(advisor, number)]
                if direction == "in":
                    row.customer_messages = n
                else:
                    row.advisor_messages = n
            for advisor, number, delay in (await conn.execute(delays_query)).all():
                row = rows[(advisor, number)]
                row.conversations += 1
                if delay is not None:
                    delays[(advisor, number)].append(float(delay))
                    row.responses += delay <= within
        for key, found in delays.items():
            row = rows[key]
            row.answered, row.delay_sum, row.p90 = len(found), sum(found), _nearest_rank(found)
        return rows

    async def intervention_days(
        self, since: float, until: float, *, from_records: bool = False
    ) -> list[dict[str, Any]]:
        """Per day: customers who wrote to a bot, and how many of them reached an advisor later
        (`from_records`: as for `advisor_days`)."""
        days = None if from_records else _whole_days(since, until)
        if days is None:
            query = self._intervention_from_records(since, until)
        else:
            await self.catch_up(pause=0.0)
            moved = case((bd.c.last_advisor > bd.c.first_bot, 1), else_=0)
            query = (
                select(bd.c.day, func.count(), func.sum(moved))
                .where(bd.c.day >= days[0], bd.c.day < days[1])
                .group_by(bd.c.day)
                .order_by(bd.c.day)
            )
        async with transaction(self._engine, "stats", write=False) as conn:
            rows = (await conn.execute(query)).all()
        return [
            {
                "day": _date(d),
                "bot_customers": int(n),
                "moved_to_advisor": int(m or 0),
                "human_intervention_rate": round(int(m or 0) / n, 4) if n else None,
            }
            for d, n, m in rows
        ]

    def _intervention_from_records(self, since: float, until: float) -> Any:
        day = self._day(r.c.at).label("day")
        key = (r.c.platform, r.c.account, r.c.customer)
        bot = (
            select(*key, day, func.min(r.c.at).label("first_bot"))
            .where(r.c.direction == "in", r.c.status == "bot", r.c.at >= since, r.c.at < until)
            .group_by(*key, day)
            .subquery()
        )
        a = r.alias("a")
        moved = (
            select(func.count())
            .where(
                a.c.direction == "in",
                a.c.status == "advisor",
                a.c.platform == bot.c.platform,
                a.c.account == bot.c.account,
                a.c.customer == bot.c.customer,
                a.c.at > bot.c.first_bot,
                self._day(a.c.at) == bot.c.day,
            )
            .scalar_subquery()
        )
        return (
            select(
                bot.c.day,
                func.count().label("bot_customers"),
                func.sum(case((moved > 0, 1), else_=0)).label("moved"),
            )
            .group_by(bot.c.day)
            .order_by(bot.c.day)
        )

    async def binding_days(self, since: float, until: float) -> list[dict[str, Any]]:
        """Current bindings made in the period, by day and source (channel)."""
        day = self._day(b.c.bound_at).label("day")
        query = (
            select(day, b.c.source, func.count())
            .where(b.c.bound_at >= since, b.c.bound_at < until)
            .group_by(day, b.c.source)
            .order_by(day, b.c.source)
        )
        async with transaction(self._engine, "stats", write=False) as conn:
            rows = (await conn.execute(query)).all()
        return [{"day": _date(d), "source": s, "bindings": int(n)} for d, s, n in rows]


def _whole_days(since: float, until: float) -> tuple[int, int] | None:
    """(first day, day after the last) when the period is whole CST days, else None."""
    if (since + CST_OFFSET) % 86400 or (until + CST_OFFSET) % 86400:
        return None
    return day_number(since), day_number(until)


# SQLite has no percentile aggregate; a window (row_number per advisor and day) over a month's
# conversations took 1.4 s at 1M records, reading the delays in index order through the driver
# and ranking them here 0.5 s (SQLAlchemy's row objects alone would cost about 0.6 s more).
_DELAYS = (
    "SELECT day, advisor_id, delay FROM stats_threads"
    " WHERE day >= ? AND day < ? AND delay IS NOT NULL ORDER BY day, advisor_id, delay"
)
_ADVISOR_DELAYS = (
    "SELECT day, advisor_id, delay FROM stats_threads"
    " WHERE day >= ? AND day < ? AND advisor_id = ? AND delay IS NOT NULL ORDER BY day, delay"
)


async def _p90_sqlite(
    conn: AsyncConnection, first: int, end: int, advisor_id: str | None
) -> dict[tuple[str, int], float]:
    """Per advisor and day, the nearest-rank 90th percentile of the delays (SQLite)."""
    raw: Any = (await conn.get_raw_connection()).driver_connection  # aiosqlite's
    if advisor_id is None:
        cursor = await raw.execute(_DELAYS, (first, end))
    else:
        cursor = await raw.execute(_ADVISOR_DELAYS, (first, end, advisor_id))
    try:
        found = await cursor.fetchall()
    finally:
        await cursor.close()
    p90: dict[tuple[str, int], float] = {}
    for (number, advisor), group in groupby(found, key=lambda row: (row[0], row[1])):
        value = _nearest_rank([float(row[2]) for row in group])
        if value is not None:
            p90[(advisor, number)] = value
    return p90


def _nearest_rank(values: Sequence[float]) -> float | None:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)] if ordered else None


def _report(advisor: str, number: int, row: _Row) -> dict[str, Any]:
    return {
        "advisor_id": advisor,
        "day": _date(number),
        "customer_messages": row.customer_messages,
        "advisor_messages": row.advisor_messages,
        "conversations": row.conversations,
        "responses": row.responses,
        "response_rate": round(row.responses / row.conversations, 4) if row.conversations else None,
        "first_response_avg_s": round(row.delay_sum / row.answered, 1) if row.answered else None,
        "first_response_p90_s": round(row.p90, 1) if row.p90 is not None else None,
    }


def _date(number: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=int(number))).isoformat()
