"""Service statistics at 1 million records: how long the SQL aggregates take.

Fills a temporary SQLite store (and PostgreSQL when GATEWAY_BENCH_POSTGRES_URL is set) with
1,000,000 records — 200 advisors, 20,000 customers, 30 days, about half inbound — then times
`StatsStore.advisor_days` for one day, one week and one month, against a baseline of counting
the same rows with one `SELECT count(*)` in the same run.

    .venv/bin/python bench/bench_stats.py [--records N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, insert, select

from gateway.store.engine import create_engine, migrate
from gateway.store.schema import records as r
from gateway.store.stats import StatsStore

START = time.mktime((2026, 10, 1, 0, 0, 0, 0, 0, -1))


def rows(n: int) -> list[dict[str, object]]:
    rng = random.Random(7)
    out: list[dict[str, object]] = []
    for i in range(n):
        customer = rng.randrange(20_000)
        advisor = f"a{customer % 200}"
        inbound = rng.random() < 0.55
        out.append({"direction": "in" if inbound else "out", "message_id": f"m{i}",
                    "platform": "wechat", "account": "shop", "customer": f"c{customer}",
                    "advisor_id": advisor, "sender": None if inbound else f"advisor:{advisor}",
                    "kind": "text", "text": "你好", "status": "advisor" if inbound else "sent",
                    "reason": None, "at": START + rng.random() * 30 * 86400})
    return out


async def run(url: str, n: int) -> None:
    engine = create_engine(url)
    await migrate(engine)
    t0 = time.perf_counter()
    data = rows(n)
    async with engine.begin() as conn:
        for i in range(0, n, 20_000):
            await conn.execute(insert(r), data[i:i + 20_000])
    print(f"{url.split(':')[0]}: {n:,} records loaded in {time.perf_counter() - t0:.0f} s")
    stats = StatsStore(engine)
    for label, days in (("1 day", 1), ("7 days", 7), ("30 days", 30)):
        since, until = START + 86400, START + 86400 * (1 + days)
        t0 = time.perf_counter()
        async with engine.connect() as conn:
            count = (await conn.execute(select(func.count()).select_from(r).where(
                r.c.at >= since, r.c.at < until))).scalar_one()
        base = time.perf_counter() - t0
        t0 = time.perf_counter()
        report = await stats.advisor_days(since, min(until, START + 30 * 86400), within=300)
        took = time.perf_counter() - t0
        print(f"  {label:8} {count:>9,} records: stats {took * 1e3:8.0f} ms "
              f"({len(report)} advisor-days), count(*) baseline {base * 1e3:6.0f} ms, "
              f"ratio {took / base:5.1f}")
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(f"sqlite+aiosqlite:///{Path(tmp) / 'stats.db'}", args.records))
    postgres = os.environ.get("GATEWAY_BENCH_POSTGRES_URL")
    if postgres:
        asyncio.run(run(postgres, args.records))


if __name__ == "__main__":
    main()
