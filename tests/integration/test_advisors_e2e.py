"""The advisor model end to end (issue "Advisors, groups and bindings"): admin API, WeChat
subscribe with a group QR scene, routing to the bound advisor, offline reply once, rebind, unbind;
and two gateway processes binding 1,000 customers within capacity."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import orjson
import pytest
from aio_pika.abc import AbstractIncomingMessage
from aiohttp.test_utils import TestClient
from pydantic import SecretStr

from gateway.accounts import Accounts
from gateway.app import create_app
from gateway.broker.topology import OUTBOUND, OUTBOUND_KEY
from gateway.settings import Settings
from tests import wechat_reference as ref
from tests.conftest import AMQP_URL, TOKEN, InboundTap

pytestmark = [pytest.mark.rabbitmq]

ADMIN = {"Authorization": "Bearer adm"}


@pytest.fixture
def admin_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"admin_token": SecretStr("adm")})


@pytest.fixture
async def client(aiohttp_client: Any, admin_settings: Settings, accounts: Accounts) -> TestClient:
    return await aiohttp_client(create_app(admin_settings, accounts))


@pytest.fixture
async def outbound_tap() -> AsyncIterator[list[dict[str, Any]]]:
    """Everything queued on kefu.outbound during the test (an exclusive queue bound beside it)."""
    received: list[dict[str, Any]] = []
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(OUTBOUND, OUTBOUND_KEY)

        async def on_message(message: AbstractIncomingMessage) -> None:
            received.append(orjson.loads(message.body))
            await message.ack()

        await queue.consume(on_message)
        yield received


def xml(customer: str, inner: str) -> bytes:
    return (
        f"<xml><ToUserName>gh</ToUserName><FromUserName>{customer}</FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime>{inner}</xml>"
    ).encode()


async def send(client: TestClient, body: bytes) -> None:
    query = ref.plain_query(TOKEN, str(int(time.time())), secrets.token_hex(4))
    response = await client.post("/webhooks/wechat/plain", params=query, data=body)
    assert response.status == 200, await response.text()


async def text(client: TestClient, customer: str, words: str) -> None:
    await send(
        client,
        xml(
            customer,
            f"<MsgType>text</MsgType><Content>{words}</Content>"
            f"<MsgId>{secrets.randbits(60)}</MsgId>",
        ),
    )


async def api(
    client: TestClient, method: str, path: str, body: Any = None, status: int = 200
) -> Any:
    response = await client.request(method, f"/api/v1{path}", json=body, headers=ADMIN)
    assert response.status == status, await response.text()
    return await response.json() if response.status != 204 else None


async def test_group_scene_binding_offline_reply_rebind_unbind(
    client: TestClient, inbound_tap: InboundTap, outbound_tap: list[dict[str, Any]]
) -> None:
    """The issue's end-to-end path, step by step."""
    for advisor in ("alice", "bob"):
        await api(
            client,
            "POST",
            "/advisors",
            {
                "id": advisor,
                "nickname": advisor.title(),
                "status": "online",
                "welcome": f"我是{advisor}，很高兴为您服务",
                "offline_reply": "顾问暂时不在，稍后回复您",
            },
            status=201,
        )
    await api(client, "POST", "/groups", {"id": "vip", "name": "VIP"}, status=201)
    await api(client, "POST", "/groups/vip/members", {"advisor_ids": ["alice"]})
    scene = await api(client, "POST", "/scenes", {"kind": "group", "target_id": "vip"}, status=201)
    customer = f"oE2E{secrets.token_hex(4)}"

    await send(
        client,
        xml(
            customer,
            "<MsgType>event</MsgType><Event>subscribe</Event>"
            f"<EventKey>{scene['qr_event_key']}</EventKey>",
        ),
    )
    await text(client, customer, "你好")
    await inbound_tap.wait_for(lambda: len(inbound_tap.for_customer(customer)) == 2)
    keys = [key for key, _ in inbound_tap.for_customer(customer)]
    assert keys == ["event.wechat.subscribe", "advisor.alice"]
    await inbound_tap.wait_for(
        lambda: any(d.get("request_id", "").startswith("welcome:") for d in outbound_tap)
    )
    welcome = [d for d in outbound_tap if d["customer"] == customer]
    assert [d["content"]["text"] for d in welcome] == ["我是alice，很高兴为您服务"]

    await api(client, "PATCH", "/advisors/alice", {"status": "offline"})
    await text(client, customer, "在吗")
    await text(client, customer, "还在吗")
    await inbound_tap.wait_for(lambda: len(inbound_tap.for_customer(customer)) == 4)
    assert [key for key, _ in inbound_tap.for_customer(customer)][2:] == ["advisor.alice"] * 2
    await asyncio.sleep(0.3)
    offline = [
        d
        for d in outbound_tap
        if d["request_id"].startswith("offline:") and d["customer"] == customer
    ]
    assert [d["content"]["text"] for d in offline] == ["顾问暂时不在，稍后回复您"]

    customer_id = f"wechat:plain:{customer}"
    rebound = await api(
        client,
        "POST",
        "/bindings",
        {"mode": "rebind", "bindings": [{"customer_id": customer_id, "advisor_id": "bob"}]},
    )
    assert rebound["results"][0]["outcome"] == "bound"
    await text(client, customer, "换人了吗")
    await inbound_tap.wait_for(lambda: len(inbound_tap.for_customer(customer)) == 5)
    assert inbound_tap.for_customer(customer)[-1][0] == "advisor.bob"

    await api(client, "POST", "/bindings/_unbind", {"customer_ids": [customer_id]})
    await text(client, customer, "谢谢")
    await inbound_tap.wait_for(lambda: len(inbound_tap.for_customer(customer)) == 6)
    assert inbound_tap.for_customer(customer)[-1][0] == "bot.wechat"
    notes = [
        doc
        for key, doc in ((k, d) for k, d, _ in inbound_tap.received)
        if key == "event.gateway.customer_bound" and doc.get("customer_id") == customer_id
    ]
    assert len(notes) >= 1


async def test_handoff_keyword_binds_within_default_group(
    client: TestClient, inbound_tap: InboundTap
) -> None:
    """「转人工」 from an unbound customer binds them within the default group."""
    await api(
        client,
        "POST",
        "/advisors",
        {"id": "carol", "nickname": "Carol", "status": "online"},
        status=201,
    )
    await api(client, "POST", "/groups", {"id": "desk", "name": "Desk"}, status=201)
    await api(client, "POST", "/groups/desk/members", {"advisor_ids": ["carol"]})
    await api(client, "PUT", "/settings", {"default_group": "desk"})
    customer = f"oH{secrets.token_hex(4)}"
    await text(client, customer, "随便看看")
    await text(client, customer, "转人工")
    await inbound_tap.wait_for(lambda: len(inbound_tap.for_customer(customer)) == 2)
    assert [key for key, _ in inbound_tap.for_customer(customer)] == ["bot.wechat", "advisor.carol"]


async def test_admin_validation_and_limits(client: TestClient) -> None:
    """Bad bodies are 422, unknown ids 404, duplicates 409, over-capacity bindings say so."""
    await api(client, "POST", "/advisors", {"id": "x", "nickname": "X" * 17}, status=422)
    await api(client, "POST", "/advisors", {"id": "x", "nickname": "X", "capacity": 1}, status=201)
    await api(client, "POST", "/advisors", {"id": "x", "nickname": "X"}, status=409)
    await api(client, "GET", "/advisors/nobody", status=404)
    await api(client, "PUT", "/settings", {"default_group": "nope"}, status=422)
    results = await api(
        client,
        "POST",
        "/bindings",
        {
            "bindings": [
                {
                    "advisor_id": "x",
                    "customer": {"platform": "wechat", "account": "plain", "external_id": f"o{n}"},
                }
                for n in range(2)
            ]
        },
    )
    assert [r["outcome"] for r in results["results"]] == ["bound", "full"]
    await api(
        client,
        "PATCH",
        "/customers/wechat:plain:o0",
        {"tags": {f"k{n}": ["v"] for n in range(5)}},
        status=422,
    )
    tagged = await api(
        client,
        "PATCH",
        "/customers/wechat:plain:o0",
        {"tags": {"level": ["gold"]}, "region": "广东"},
    )
    assert tagged["tags"] == {"level": ["gold"]}
    found = await api(client, "GET", "/customers?tag=gold")
    assert [c["id"] for c in found["items"]] == ["wechat:plain:o0"]
    unassigned = await api(client, "GET", "/customers?unassigned=true")
    assert [c["id"] for c in unassigned["items"]] == ["wechat:plain:o1"]


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_two_gateways_bind_1000_within_capacity(
    aiohttp_client: Any, admin_settings: Settings, accounts: Accounts
) -> None:
    """Two gateways on one PostgreSQL take 1,000 group-scene subscribes of distinct customers
    into a group of 3 advisors × capacity 300: none over capacity, each customer bound once."""
    first = await aiohttp_client(create_app(admin_settings, accounts))
    second = await aiohttp_client(create_app(admin_settings, accounts))
    for n in range(3):
        await api(
            first,
            "POST",
            "/advisors",
            {"id": f"g{n}", "nickname": f"G{n}", "status": "online", "capacity": 300},
            status=201,
        )
    await api(first, "POST", "/groups", {"id": "big", "name": "Big"}, status=201)
    await api(first, "POST", "/groups/big/members", {"advisor_ids": ["g0", "g1", "g2"]})
    scene = await api(first, "POST", "/scenes", {"kind": "group", "target_id": "big"}, status=201)
    customers = [f"oLoad{n:04d}{secrets.token_hex(2)}" for n in range(1000)]
    semaphore = asyncio.Semaphore(32)

    async def subscribe(n: int, customer: str) -> None:
        async with semaphore:
            await send(
                first if n % 2 else second,
                xml(
                    customer,
                    "<MsgType>event</MsgType><Event>subscribe</Event>"
                    f"<EventKey>{scene['qr_event_key']}</EventKey>",
                ),
            )

    await asyncio.gather(*(subscribe(n, c) for n, c in enumerate(customers)))
    counts = [(await api(first, "GET", f"/advisors/g{n}"))["bound_count"] for n in range(3)]
    assert counts == [300, 300, 300]
    bound: list[str] = []
    for n in range(3):
        cursor = None
        while True:
            page = await api(
                first,
                "GET",
                f"/customers?advisor_id=g{n}&limit=500" + (f"&cursor={cursor}" if cursor else ""),
            )
            bound += [c["id"] for c in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
    assert len(bound) == len(set(bound)) == 900
