"""Admin API for rules on real parts: auth, CRUD, import/export, check, cross-process reload."""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pydantic import SecretStr

from gateway.accounts import Accounts
from gateway.app import create_app
from gateway.settings import Settings
from tests import wechat_reference as ref
from tests.conftest import TOKEN, InboundTap

pytestmark = [pytest.mark.rabbitmq]

ADMIN = "admin-test-token"
AUTH = {"Authorization": f"Bearer {ADMIN}"}


@pytest.fixture
def admin_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"admin_token": SecretStr(ADMIN)})


@pytest.fixture
async def client(aiohttp_client: Any, admin_settings: Settings, accounts: Accounts) -> TestClient:
    return await aiohttp_client(create_app(admin_settings, accounts))


def rule(rule_id: str, pattern: str, action: str = "route_human", **kw: Any) -> dict[str, Any]:
    return {
        "id": rule_id,
        "priority": 10,
        "match": "contains",
        "pattern": pattern,
        "action": action,
        **kw,
    }


async def test_admin_api_refuses_without_configured_token(
    aiohttp_client: Any, settings: Settings, accounts: Accounts
) -> None:
    """With no GATEWAY_ADMIN_TOKEN the API answers 403 to everyone."""
    client = await aiohttp_client(create_app(settings, accounts))
    response = await client.get("/api/v1/words", headers=AUTH)
    assert response.status == 403
    assert (await response.json())["error"] == "admin_api_disabled"


async def test_wrong_or_missing_token_is_401(client: TestClient) -> None:
    """A wrong or missing bearer token is refused."""
    assert (await client.get("/api/v1/words")).status == 401
    assert (
        await client.get("/api/v1/words", headers={"Authorization": "Bearer nope"})
    ).status == 401


async def test_word_list_crud(client: TestClient) -> None:
    """Create, read, replace, list and delete a word list; versions increase."""
    body = {
        "id": "rivals",
        "name": "竞品",
        "category": "competitor",
        "words": ["某宝", "拼夕夕"],
        "outbound_action": "block",
    }
    created = await client.post("/api/v1/words", json=body, headers=AUTH)
    assert created.status == 201
    assert (await created.json())["version"] == 1
    assert (await client.post("/api/v1/words", json=body, headers=AUTH)).status == 409
    replaced = await client.put(
        "/api/v1/words/rivals", json={**body, "words": ["某宝"]}, headers=AUTH
    )
    doc = await replaced.json()
    assert (doc["words"], doc["version"]) == (["某宝"], 2)
    listed = await (await client.get("/api/v1/words?limit=10", headers=AUTH)).json()
    assert [(i["id"], i["word_count"]) for i in listed["items"]] == [("rivals", 1)]
    assert (await client.delete("/api/v1/words/rivals", headers=AUTH)).status == 204
    assert (await client.get("/api/v1/words/rivals", headers=AUTH)).status == 404


@pytest.mark.parametrize(
    "body",
    [
        {"id": "x", "category": "nonsense", "words": ["a1"]},
        {"id": "x", "category": "custom", "words": ["a1"], "colour": "red"},
        {"id": "-bad id", "category": "custom", "words": ["a1"]},
        ["not", "an", "object"],
    ],
)
async def test_invalid_word_list_is_422(client: TestClient, body: Any) -> None:
    """Invalid lists are refused with 422 and a reason."""
    response = await client.post("/api/v1/words", json=body, headers=AUTH)
    assert response.status == 422
    assert (await response.json())["detail"]


async def test_keyword_rule_crud_and_check(client: TestClient) -> None:
    """A keyword rule takes effect at once: /rules/check sees it; deleting it removes it."""
    response = await client.post("/api/v1/keyword-rules", json=rule("human", "人工"), headers=AUTH)
    assert response.status == 201
    check = await client.post("/api/v1/rules/check", json={"text": "转人工！"}, headers=AUTH)
    assert (await check.json())["action"] == "route_human"
    assert (await client.delete("/api/v1/keyword-rules/human", headers=AUTH)).status == 204
    check = await client.post("/api/v1/rules/check", json={"text": "转人工！"}, headers=AUTH)
    assert (await check.json())["action"] == "none"


async def test_csv_and_json_import_export_round_trip(client: TestClient) -> None:
    """Word lists imported as CSV export back as the same CSV; rules round-trip as JSON."""
    csv_text = (
        "list,category,word,name,inbound_action,outbound_action\n"
        "policy1,policy,加微信,政策词,flag,block\npolicy1,policy,私下交易,,,\n"
    )
    imported = await client.post(
        "/api/v1/words/_import?format=csv", data=csv_text.encode(), headers=AUTH
    )
    assert (await imported.json())["imported"] == 1
    exported = await (await client.get("/api/v1/words/_export?format=csv", headers=AUTH)).text()
    again = await client.post(
        "/api/v1/words/_import?format=csv&replace=true", data=exported.encode(), headers=AUTH
    )
    assert again.status == 200
    assert (
        await (await client.get("/api/v1/words/_export?format=csv", headers=AUTH)).text()
        == exported
    )
    doc = {"keyword_rules": [rule("r1", "发货"), rule("r2", "退款", "route_bot")]}
    assert (
        await client.post("/api/v1/keyword-rules/_import", json=doc, headers=AUTH)
    ).status == 200
    out = await (await client.get("/api/v1/keyword-rules/_export", headers=AUTH)).json()
    assert [r["id"] for r in out["keyword_rules"]] == ["r1", "r2"]
    bad = await client.post(
        "/api/v1/words/_import?format=csv", data=b"list,word\nx,y\n", headers=AUTH
    )
    assert bad.status == 422


async def test_outbound_check_blocks_and_names_the_word(client: TestClient) -> None:
    """The outbound check blocks an advisor's message with a listed word, evasions included."""
    await client.post(
        "/api/v1/words",
        headers=AUTH,
        json={"id": "pol", "category": "policy", "words": ["加微信"], "outbound_action": "block"},
    )
    check = await client.post(
        "/api/v1/rules/check",
        headers=AUTH,
        json={"text": "亲，可以加 微.信 聊", "direction": "outbound"},
    )
    verdict = await check.json()
    assert verdict["blocked"] is True
    assert verdict["reason_word"] == "加微信"


async def test_ad_law_defaults_install(client: TestClient) -> None:
    """The shipped 广告法 lexicon installs with one call and flags absolute claims, not 最近."""
    response = await client.post("/api/v1/words/_defaults/ad-law", headers=AUTH)
    assert response.status == 201
    outbound = await client.post(
        "/api/v1/rules/check",
        headers=AUTH,
        json={"text": "全网第一的国家级产品", "direction": "outbound"},
    )
    assert (await outbound.json())["blocked"] is True
    innocent = await client.post(
        "/api/v1/rules/check",
        headers=AUTH,
        json={"text": "最近第一次买，最快什么时候发货？", "direction": "outbound"},
    )
    assert (await innocent.json())["blocked"] is False


async def test_quarantine_list_routes_inbound_to_quarantine(
    client: TestClient, inbound_tap: InboundTap
) -> None:
    """A message hitting a quarantine list goes to quarantine.<platform>, words recorded."""
    await client.post(
        "/api/v1/words",
        headers=AUTH,
        json={
            "id": "abuse1",
            "category": "abuse",
            "words": ["骗子公司"],
            "inbound_action": "quarantine",
        },
    )
    await client.post("/api/v1/keyword-rules", json=rule("h", "人工"), headers=AUTH)
    customer = f"oQ{secrets.token_hex(5)}"
    for text, msg_id in (("你们是骗子公司", 1), ("转人工", 2)):
        body = (
            f"<xml><ToUserName>gh</ToUserName><FromUserName>{customer}</FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType>text</MsgType>"
            f"<Content>{text}</Content><MsgId>{secrets.randbits(50) + msg_id}</MsgId></xml>"
        )
        query = ref.plain_query(TOKEN, str(int(time.time())), secrets.token_hex(3))
        assert (await client.post("/webhooks/wechat/plain", params=query, data=body)).status == 200
    await inbound_tap.wait_for(lambda: len(inbound_tap.for_customer(customer)) == 2)
    by_text = {doc["text"]: (key, doc) for key, doc in inbound_tap.for_customer(customer)}
    key, doc = by_text["你们是骗子公司"]
    assert key == "quarantine.wechat"
    assert doc["rules"]["sensitive"] == ["abuse:骗子公司"]
    assert doc["rules"]["action"] == "quarantine"
    key, doc = by_text["转人工"]
    assert (key, doc["route"]["reason"], doc["rules"]["rule_id"]) == (
        "bot.wechat",
        "route_human",
        "h",
    )


async def test_change_reaches_a_second_gateway_within_a_second(
    aiohttp_client: Any, admin_settings: Settings, accounts: Accounts
) -> None:
    """A rule added through gateway A is applied by gateway B (same store) in under a second."""
    first = await aiohttp_client(create_app(admin_settings, accounts))
    second = await aiohttp_client(create_app(admin_settings, accounts))
    status = await (await second.get("/api/v1/rules", headers=AUTH)).json()
    pattern = f"口令{secrets.token_hex(3)}"
    started = time.monotonic()
    response = await first.post(
        "/api/v1/keyword-rules",
        headers=AUTH,
        json=rule(f"r{secrets.token_hex(3)}", pattern, "route_bot"),
    )
    assert response.status == 201
    while True:
        check = await second.post("/api/v1/rules/check", json={"text": pattern}, headers=AUTH)
        if (await check.json())["action"] == "route_bot":
            break
        assert time.monotonic() - started < 1.0, "second gateway did not reload within 1 s"
        await asyncio.sleep(0.02)
    after = await (await second.get("/api/v1/rules", headers=AUTH)).json()
    assert after["loaded"] == after["revision"] > status["loaded"]
