"""Admin API for conversation records: a customer's conversation, an advisor's recent ones."""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, model_validator

from gateway.admin.http import json_response, parse_query
from gateway.keys import RECORDS
from gateway.store.records import RecordQuery

__all__ = ["add_records_routes"]


class RecordsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    platform: Literal["wechat", "douyin", "taobao"] | None = None
    account: str | None = Field(default=None, max_length=64)
    customer: str | None = Field(default=None, max_length=128)
    advisor_id: str | None = Field(default=None, max_length=64)
    since: float | None = Field(default=None, description="epoch seconds, inclusive")
    until: float | None = Field(default=None, description="epoch seconds, exclusive")
    cursor: int | None = Field(default=None, ge=1, description="next_cursor of the last page")
    limit: int = Field(default=100, ge=1, le=500)

    @model_validator(mode="after")
    def _who(self) -> RecordsQuery:
        if self.customer is not None and (self.platform is None or self.account is None):
            raise ValueError("a customer's conversation needs platform and account too")
        if self.customer is None and self.advisor_id is None:
            raise ValueError("give customer (with platform and account) or advisor_id")
        return self


def add_records_routes(app: web.Application, prefix: str) -> None:
    app.router.add_get(f"{prefix}/records", list_records)


async def list_records(request: web.Request) -> web.Response:
    """Newest first; continue with `cursor=next_cursor` until it is null."""
    query = parse_query(request, RecordsQuery)
    rows = await request.app[RECORDS].list(
        RecordQuery(
            platform=query.platform,
            account=query.account,
            customer=query.customer,
            advisor_id=query.advisor_id,
            since=query.since,
            until=query.until,
            after_seq=query.cursor,
            limit=query.limit + 1,
        )
    )
    page = rows[: query.limit]
    cursor = page[-1]["seq"] if len(rows) > query.limit else None
    return json_response({"items": page, "next_cursor": cursor})
