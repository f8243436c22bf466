"""Service statistics at 1 million records: the rollup against the records, SQLite and PostgreSQL.

For each database: a store migrated to revision 0006 (before the statistics rollup) is filled with
1,000,000 records — 200 advisors, 20,000 customers, 30 CST days from 2026-10-01, 55 % inbound,
replies sent — then migrated to the newest revision (0007 backfills the rollup: timed). Then, for
one day, one week and the month (whole CST days, as `/api/v1/stats` asks):

- `rollup`: what `/api/v1/stats` runs — `advisor_days`, `intervention_days`, `binding_days` —
  best of `--repeat` runs;
- `records`: `advisor_days` + `intervention_days` computed from the records (the code path before
  the rollup, kept for other periods and as a check), one run; its answer must equal the rollup's.

Last, the recorder's write path: `--writes` messages (inbound, requests, receipts) in batches of
200 through `RecordsStore.write`, without and with the rollup (with: the changes are queued in
each write — migration 0008 — and one `StatsStore.catch_up` folds them in afterwards, timed).

On PostgreSQL the month is also timed right after the backfill, before the `VACUUM ANALYZE`
that autovacuum runs after such bulk inserts (the other figures are after it).

PostgreSQL runs in a temporary database on the server of GATEWAY_BENCH_POSTGRES_URL (default
postgresql+asyncpg://postgres@127.0.0.1:5432/test; `--no-postgres` skips it).

    .venv/bin/python bench/bench_stats.py [--records N] [--repeat N] [--writes N] [--no-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from unittest import mock

import asyncpg
from alembic import command
from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from yarl import URL

import gateway.store.records as records_module
from gateway.store.engine import alembic_config, create_engine, migrate
from gateway.store.records import RecordsStore, StatusUpdate
from gateway.store.schema import records as r
from gateway.store.schema import stats_threads
from gateway.store.stats import Change, StatsStore
from gateway.store.writer import writer_for

CST = timezone(timedelta(hours=8))
START = datetime(2026, 10, 1, tzinfo=CST).timestamp()
DAYS = 30
POSTGRES = os.environ.get(
    "GATEWAY_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


def message(rng: random.Random, message_id: str, replied: str) -> dict[str, Any]:
    """A customer's message to their advisor (55 %) or the advisor's reply (status `replied`)."""
    customer = rng.randrange(20_000)
    advisor = f"a{customer % 200}"
    inbound = rng.random() < 0.55
    return {
        "direction": "in" if inbound else "out",
        "message_id": message_id,
        "platform": "wechat",
        "account": "shop",
        "customer": f"c{customer}",
        "advisor_id": advisor,
        "sender": None if inbound else f"advisor:{advisor}",
        "kind": "text",
        "text": "你好",
        "status": "advisor" if inbound else replied,
        "reason": None,
    }


def rows(n: int) -> list[dict[str, Any]]:
    rng = random.Random(7)
    return [
        {**message(rng, f"m{i}", "sent"), "at": START + rng.random() * DAYS * 86400}
        for i in range(n)
    ]


def recorder_batches(n: int, first: int, at: float) -> list[tuple[list[dict[str, Any]], list[Any]]]:
    """What the recorder writes: batches of 200 messages — inbound, outbound requests, and the
    receipts of the previous batch's requests — on the day after the month."""
    rng = random.Random(first)
    batches: list[tuple[list[dict[str, Any]], list[Any]]] = []
    requests: list[str] = []
    for b in range(0, n, 200):
        receipts = [StatusUpdate(m, "sent", None, at) for m in requests]
        batch = [
            {**message(rng, f"w{i}", "queued"), "at": at + (i - first) * 0.5}
            for i in range(first + b, first + b + 200 - len(receipts))
        ]
        requests = [row["message_id"] for row in batch if row["direction"] == "out"]
        batches.append((batch, receipts))
    return batches


async def best(repeat: int, call: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    took, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = await call()
        took = min(took, time.perf_counter() - t0)
    return took, result


async def run(url: str, n: int, repeat: int, writes: int) -> None:
    name = url.split(":")[0]
    engine = create_engine(url)
    async with engine.begin() as conn:  # the schema before the rollup
        await conn.run_sync(lambda sync: command.upgrade(alembic_config(sync), "0006"))
    t0 = time.perf_counter()
    data = rows(n)
    async with engine.begin() as conn:
        for i in range(0, n, 20_000):
            await conn.execute(insert(r), data[i : i + 20_000])
    print(f"{name}: {n:,} records loaded in {time.perf_counter() - t0:.0f} s")
    t0 = time.perf_counter()
    await migrate(engine)
    took = time.perf_counter() - t0
    async with engine.connect() as conn:
        threads = (await conn.execute(select(func.count()).select_from(stats_threads))).scalar()
    print(f"  migration 0007 (rollup backfill): {took:.1f} s, {threads:,} stats_threads rows")
    writer = writer_for(engine)  # as the gateway wires it: on SQLite its writer process
    stats = StatsStore(engine, writer=writer)
    if engine.dialect.name == "postgresql":
        await _maintenance(engine, "ANALYZE")
        fresh, _ = await best(repeat, lambda: stats.advisor_days(START, START + DAYS * 86400, 300))
        print(f"  30 days right after the backfill (ANALYZE only): {fresh * 1e3:.0f} ms")
        await _maintenance(engine, "VACUUM ANALYZE")  # what autovacuum does after bulk inserts
    for label, days in (("1 day", 1), ("7 days", 7), ("30 days", DAYS)):
        since, until = START, START + days * 86400

        async def rollup(since: float = since, until: float = until) -> Any:
            return (
                await stats.advisor_days(since, until, within=300),
                await stats.intervention_days(since, until),
                await stats.binding_days(since, until),
            )

        async def from_records(since: float = since, until: float = until) -> Any:
            return (
                await stats.advisor_days(since, until, within=300, from_records=True),
                await stats.intervention_days(since, until, from_records=True),
            )

        fast, (report, _, _) = await best(repeat, rollup)
        slow, (check, _) = await best(1, from_records)
        assert report == check, f"{label}: the rollup differs from the records"
        print(
            f"  {label:8} {len(report):>5} advisor-days: rollup {fast * 1e3:7.0f} ms (best of "
            f"{repeat}), records {slow * 1e3:7.0f} ms, same answer"
        )
    store = RecordsStore(engine)
    after = START + (DAYS + 1) * 86400
    for label, rollup_on in (("without rollup", False), ("with rollup", True)):
        batches = recorder_batches(writes, 0 if rollup_on else 10_000_000, after)
        off = mock.patch.object(records_module, "queue_changes", _not_queued)
        with contextlib.nullcontext() if rollup_on else off:
            t0 = time.perf_counter()
            for batch, receipts in batches:
                await store.write(batch, receipts)
            took = time.perf_counter() - t0
            with longest_stall() as stall:
                caught_up = await stats.catch_up() if rollup_on else 0
            folded = time.perf_counter() - t0 - took
        then = (
            f"; then the catch-up folded {caught_up:,} changes in {folded:4.1f} s, holding the "
            f"event loop for {stall[0] * 1e3:.0f} ms at most"
        )
        print(
            f"  recorder writes {label:14}: {writes:,} messages in batches of 200: "
            f"{took:5.1f} s, {writes / took:6.0f} messages/s" + (then if rollup_on else "")
        )
    await writer.close()
    await engine.dispose()


@contextlib.contextmanager
def longest_stall() -> Iterator[list[float]]:
    """The longest time the event loop went without turning while the block ran (what a webhook
    arriving then would wait), in seconds: `[0]` of the yielded list, filled in at exit."""
    result = [0.0]
    gaps: list[float] = []

    async def tick() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticker = asyncio.get_running_loop().create_task(tick())
    try:
        yield result
    finally:
        ticker.cancel()
        result[0] = max(gaps, default=0.0)


def _not_queued(conn: Connection, changes: Sequence[Change]) -> None:
    """The write path as it was before the rollup (for comparison only)."""


async def _maintenance(engine: AsyncEngine, sql: str) -> None:
    async with engine.connect() as conn:
        await (await conn.execution_options(isolation_level="AUTOCOMMIT")).execute(text(sql))


async def _pg_admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(str(URL(url.replace("postgresql+asyncpg", "postgresql"))))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--writes", type=int, default=10_000)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'stats.db'}"
        asyncio.run(run(url, args.records, args.repeat, args.writes))
    if args.no_postgres:
        return
    database = f"kefu_bench_stats_{uuid.uuid4().hex[:8]}"
    asyncio.run(_pg_admin(POSTGRES, f'CREATE DATABASE "{database}"'))
    try:
        url = str(URL(POSTGRES).with_path(f"/{database}"))
        asyncio.run(run(url, args.records, args.repeat, args.writes))
    finally:
        asyncio.run(_pg_admin(POSTGRES, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
