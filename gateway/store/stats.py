"""Service statistics per advisor and day, computed with SQL aggregates over the records.

Days are calendar days in China Standard Time (UTC+8). A *conversation* is one customer's
messages to one advisor on one day; its first-response time runs from the customer's first
message that day to the advisor's first sent reply after it. The response rate is the share of
conversations answered within `within` seconds. The human-intervention rate (per day, all
advisors) is the share of customers who wrote to a bot that day and reached an advisor later the
same day.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Integer, and_, case, cast, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.store.schema import bindings as b
from gateway.store.schema import records as r
from gateway.store.tx import transaction

__all__ = ["CST_OFFSET", "StatsStore", "day_of"]

CST_OFFSET = 8 * 3600


def day_of(column: Any, dialect: str) -> Any:
    """The CST day number (days since 1970-01-01) of an epoch-seconds column, in SQL.
    (PostgreSQL's CAST rounds, SQLite's truncates: floor where it rounds.)"""
    shifted = (column + CST_OFFSET) / 86400
    return cast(func.floor(shifted) if dialect == "postgresql" else shifted, Integer)


@dataclass
class _Row:
    customer_messages: int = 0
    advisor_messages: int = 0
    conversations: int = 0
    responses: int = 0
    first_response: list[float] | None = None


class StatsStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name

    def _day(self, column: Any) -> Any:
        return day_of(column, self._dialect)

    async def advisor_days(
        self, since: float, until: float, within: float, advisor_id: str | None = None
    ) -> list[dict[str, Any]]:
        """One row per advisor and day with messages, responses and first-response times."""
        rows: dict[tuple[str, int], _Row] = defaultdict(_Row)
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
        delays = select(
            firsts.c.advisor_id, firsts.c.day, (answered - firsts.c.asked).label("delay")
        )
        async with transaction(self._engine, "stats", write=False) as conn:
            for advisor, number, direction, n in (await conn.execute(counts)).all():
                row = rows[(advisor, number)]
                if direction == "in":
                    row.customer_messages = n
                else:
                    row.advisor_messages = n
            for advisor, number, delay in (await conn.execute(delays)).all():
                row = rows[(advisor, number)]
                row.conversations += 1
                if delay is not None:
                    row.first_response = [*(row.first_response or []), float(delay)]
                    row.responses += delay <= within
        return [_report(advisor, number, row) for (advisor, number), row in sorted(rows.items())]

    async def intervention_days(self, since: float, until: float) -> list[dict[str, Any]]:
        """Per day: customers who wrote to a bot, and how many of them reached an advisor later."""
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
        query = (
            select(
                bot.c.day,
                func.count().label("bot_customers"),
                func.sum(case((moved > 0, 1), else_=0)).label("moved"),
            )
            .group_by(bot.c.day)
            .order_by(bot.c.day)
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


def _report(advisor: str, number: int, row: _Row) -> dict[str, Any]:
    delays = sorted(row.first_response or [])
    return {
        "advisor_id": advisor,
        "day": _date(number),
        "customer_messages": row.customer_messages,
        "advisor_messages": row.advisor_messages,
        "conversations": row.conversations,
        "responses": row.responses,
        "response_rate": round(row.responses / row.conversations, 4) if row.conversations else None,
        "first_response_avg_s": round(sum(delays) / len(delays), 1) if delays else None,
        "first_response_p90_s": round(delays[max(0, math.ceil(0.9 * len(delays)) - 1)], 1)
        if delays
        else None,
    }


def _date(number: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=int(number))).isoformat()
