"""Service statistics from known records, on both databases, and through the admin API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.accounts import Accounts
from gateway.app import create_app
from gateway.keys import RECORDS
from gateway.settings import Settings
from gateway.store.engine import create_engine, migrate
from gateway.store.records import RecordsStore
from gateway.store.stats import StatsStore

pytestmark = [pytest.mark.postgres]

CST = timezone(timedelta(hours=8))
DAY = datetime(2026, 11, 20, tzinfo=CST)  # 2026-11-20 00:00 in China


def rec(
    n: int,
    direction: str,
    customer: str,
    minute: float,
    *,
    advisor: str | None = "a1",
    status: str = "advisor",
    day: int = 0,
) -> dict[str, Any]:
    at = (DAY + timedelta(days=day, minutes=minute)).timestamp()
    return {
        "direction": direction,
        "message_id": f"{direction}{n}",
        "platform": "wechat",
        "account": "s",
        "customer": customer,
        "advisor_id": advisor,
        "sender": f"advisor:{advisor}" if direction == "out" else None,
        "kind": "text",
        "text": "x",
        "status": status,
        "reason": None,
        "at": at,
    }


RECORDS_SET = [
    # c1: asks at 10:00, answered after 2 minutes, asks again, answered again
    rec(1, "in", "c1", 600),
    rec(2, "out", "c1", 602, status="sent"),
    rec(3, "in", "c1", 610),
    rec(4, "out", "c1", 611, status="sent"),
    # c2: asks at 10:00, answered after 10 minutes (outside a 5-minute window)
    rec(5, "in", "c2", 600),
    rec(6, "out", "c2", 610, status="sent"),
    # c3: asks, never answered; a rejected reply does not count
    rec(7, "in", "c3", 700),
    rec(8, "out", "c3", 701, status="rejected"),
    # c4 wrote to the bot, then reached advisor a1 (human intervention); c5 stayed with the bot
    rec(9, "in", "c4", 500, advisor=None, status="bot"),
    rec(10, "in", "c4", 505),
    rec(11, "in", "c5", 500, advisor=None, status="bot"),
    # next day (23:59 still counts as the 20th; 00:01 is the 21st)
    rec(12, "in", "c1", 1439),
    rec(13, "in", "c1", 1441),
]


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    await migrate(engine)
    await RecordsStore(engine).write(RECORDS_SET, [])
    yield engine
    await engine.dispose()


async def test_advisor_days(engine: AsyncEngine) -> None:
    """Messages, conversations, responses within 5 minutes, and first-response avg/p90 per day."""
    since, until = DAY.timestamp(), (DAY + timedelta(days=2)).timestamp()
    rows = await StatsStore(engine).advisor_days(since, until, within=300)
    day1, day2 = rows
    assert (day1["day"], day2["day"]) == ("2026-11-20", "2026-11-21")
    assert day1["customer_messages"] == 6  # c1×2, c2, c3, c4, c1 at 23:59
    assert day1["advisor_messages"] == 3
    assert (day1["conversations"], day1["responses"]) == (4, 1)  # c1, c2, c3, c4; only c1 fast
    assert day1["response_rate"] == 0.25
    assert day1["first_response_avg_s"] == 360.0  # c1 120 s, c2 600 s
    assert day1["first_response_p90_s"] == 600.0
    assert (day2["customer_messages"], day2["conversations"], day2["responses"]) == (1, 1, 0)


async def test_intervention_rate(engine: AsyncEngine) -> None:
    """Of two customers who wrote to a bot, one reached an advisor later that day."""
    since, until = DAY.timestamp(), (DAY + timedelta(days=1)).timestamp()
    (day,) = await StatsStore(engine).intervention_days(since, until)
    assert (day["bot_customers"], day["moved_to_advisor"], day["human_intervention_rate"]) == (
        2,
        1,
        0.5,
    )


async def test_stats_api_json_and_csv(
    aiohttp_client: Any, settings: Settings, accounts: Accounts
) -> None:
    """The admin API returns the same numbers as JSON and as a CSV download."""
    app = create_app(settings.model_copy(update={"admin_token": SecretStr("t")}), accounts)
    client: TestClient = await aiohttp_client(app)
    await app[RECORDS].write(RECORDS_SET, [])
    headers = {"Authorization": "Bearer t"}
    params = {"from": "2026-11-20", "to": "2026-11-20"}
    doc = await (await client.get("/api/v1/stats", params=params, headers=headers)).json()
    assert [(r["advisor_id"], r["responses"]) for r in doc["advisors"]] == [("a1", 1)]
    assert doc["human_intervention"][0]["human_intervention_rate"] == 0.5
    csv_text = await (
        await client.get("/api/v1/stats", params={**params, "format": "csv"}, headers=headers)
    ).text()
    assert csv_text.splitlines()[1].startswith("2026-11-20,a1,6,3,4,1,0.25,360.0,600.0")
    bad = await client.get(
        "/api/v1/stats", params={"from": "2026-11-20", "to": "2026-11-01"}, headers=headers
    )
    assert bad.status == 422
