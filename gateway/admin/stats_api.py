"""`GET /api/v1/stats`: service statistics as JSON or a CSV download."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, model_validator

from gateway.admin.http import json_response, parse_query
from gateway.keys import STATS

__all__ = ["add_stats_routes"]

CST = timezone(timedelta(hours=8))


class StatsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: date = Field(alias="from")
    end: date = Field(alias="to", description="inclusive")
    advisor_id: str | None = Field(default=None, max_length=64)
    within: int = Field(default=300, ge=1, le=86400, description="seconds for a response to count")
    format: Literal["json", "csv"] = "json"

    @model_validator(mode="after")
    def _span(self) -> StatsQuery:
        if self.end < self.start:
            raise ValueError("'to' is before 'from'")
        if (self.end - self.start).days > 92:
            raise ValueError("at most 93 days per request")
        return self


def add_stats_routes(app: web.Application, prefix: str) -> None:
    app.router.add_get(f"{prefix}/stats", get_stats)


async def get_stats(request: web.Request) -> web.Response:
    """Per advisor and day (CST): messages, responses, first-response time, response rate;
    per day: human-intervention rate and bindings by source."""
    query = parse_query(request, StatsQuery)
    since = datetime.combine(query.start, time(), CST).timestamp()
    until = datetime.combine(query.end + timedelta(days=1), time(), CST).timestamp()
    stats = request.app[STATS]
    advisors = await stats.advisor_days(since, until, query.within, query.advisor_id)
    if query.format == "csv":
        return _csv(advisors, f"kefu-stats-{query.start}-{query.end}.csv")
    return json_response(
        {
            "from": query.start.isoformat(),
            "to": query.end.isoformat(),
            "timezone": "+08:00",
            "response_within_s": query.within,
            "advisors": advisors,
            "human_intervention": await stats.intervention_days(since, until),
            "bindings": await stats.binding_days(since, until),
        }
    )


def _csv(rows: list[dict[str, Any]], filename: str) -> web.Response:
    out = io.StringIO()
    columns = [
        "day",
        "advisor_id",
        "customer_messages",
        "advisor_messages",
        "conversations",
        "responses",
        "response_rate",
        "first_response_avg_s",
        "first_response_p90_s",
    ]
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return web.Response(
        text=out.getvalue(),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
