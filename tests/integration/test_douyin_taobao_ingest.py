"""Douyin (Doudian push, open-platform webhooks) and Taobao TMC through the whole gateway:
real RabbitMQ, real store, a fake TMC server speaking the real protocol on loopback."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient

from adapters.douyin.simulate import doudian_push, douyin_im_text, douyin_webhook
from gateway.accounts import Accounts, parse_accounts
from gateway.app import create_app
from gateway.settings import Settings
from gateway.tmc.fake_server import FakeTmcServer
from tests.conftest import ACCOUNTS_DOC, InboundTap

pytestmark = [pytest.mark.rabbitmq]

DOUDIAN_KEY, DOUDIAN_SECRET = "7000000000000000001", "doudian-test-secret"
DOUYIN_KEY, DOUYIN_SECRET = "awtest0000000001", "douyin-test-secret"
TAOBAO_KEY, TAOBAO_SECRET = "12345678", "taobao-test-secret"


@pytest.fixture
async def tmc() -> AsyncIterator[tuple[FakeTmcServer, str]]:
    server = FakeTmcServer(app_key=TAOBAO_KEY, app_secret=TAOBAO_SECRET, redeliver_after=0.5)
    url = await server.start()
    yield server, url
    await server.close()


@pytest.fixture
def all_accounts(tmc: tuple[FakeTmcServer, str]) -> Accounts:
    doc: dict[str, Any] = {
        "accounts": {
            **ACCOUNTS_DOC["accounts"],
            "dd": {
                "platform": "douyin",
                "flavor": "doudian",
                "app_key": DOUDIAN_KEY,
                "app_secret": DOUDIAN_SECRET,
            },
            "dy": {
                "platform": "douyin",
                "flavor": "open",
                "client_key": DOUYIN_KEY,
                "client_secret": DOUYIN_SECRET,
            },
            "tb": {
                "platform": "taobao",
                "app_key": TAOBAO_KEY,
                "app_secret": TAOBAO_SECRET,
                "tmc_url": tmc[1],
            },
        }
    }
    return parse_accounts(doc, {})


@pytest.fixture
async def client(aiohttp_client: Any, settings: Settings, all_accounts: Accounts) -> TestClient:
    return await aiohttp_client(create_app(settings, all_accounts))


async def test_doudian_batch_published_then_acknowledged(
    client: TestClient, inbound_tap: InboundTap
) -> None:
    """A two-record Doudian push is answered code 0 after both are published; receivers masked."""
    buyer = f"buyer{secrets.token_hex(4)}"
    order_id = str(6919471234567891234 + secrets.randbelow(10**6))
    records = [
        {
            "tag": "100",
            "msg_id": secrets.token_hex(8),
            "data": {
                "p_id": int(order_id),
                "shop_id": 1,
                "order_status": 1,
                "buyer_id": buyer,
                "receiver_name": "王小明",
                "receiver_tel": "13812345678",
                "post_addr": "文三路1号",
            },
        },
        {
            "tag": "200",
            "msg_id": secrets.token_hex(8),
            "data": {
                "aftersale_id": "7000000000000000123",
                "p_id": int(order_id),
                "buyer_id": buyer,
            },
        },
    ]
    callback = doudian_push(records, app_key=DOUDIAN_KEY, app_secret=DOUDIAN_SECRET)
    response = await client.post(
        "/webhooks/douyin/dd",
        data=callback.body,
        headers={**callback.headers, "Content-Type": "application/json"},
    )
    assert response.status == 200
    assert await response.json() == {"code": 0, "msg": "success"}
    await inbound_tap.wait_for(lambda: len(inbound_tap.for_customer(buyer)) == 2)
    published = {doc["kind"]: (key, doc) for key, doc in inbound_tap.for_customer(buyer)}
    key, order = published["order"]
    assert key.startswith("event.douyin.doudian_")
    assert order["order"]["id"] == order_id
    raw = orjson.dumps(order).decode()
    for value in ("王小明", "13812345678", "文三路1号"):
        assert value not in raw
    assert {"name", "phone", "address"} <= set(order["pii"])
    assert published["aftersale"][0].startswith("event.douyin.")


async def test_doudian_bad_signature_refused(client: TestClient, inbound_tap: InboundTap) -> None:
    """A Doudian push with a wrong event-sign is refused and nothing is published."""
    buyer = f"buyer{secrets.token_hex(4)}"
    callback = doudian_push(
        [{"tag": "100", "msg_id": "m1", "data": {"p_id": 1, "buyer_id": buyer}}],
        app_key=DOUDIAN_KEY,
        app_secret="wrong-secret",
    )
    response = await client.post(
        "/webhooks/douyin/dd",
        data=callback.body,
        headers={**callback.headers, "Content-Type": "application/json"},
    )
    assert response.status == 401
    await inbound_tap.settle()
    assert inbound_tap.for_customer(buyer) == []


async def test_douyin_open_im_message_and_challenge(
    client: TestClient, inbound_tap: InboundTap
) -> None:
    """An IM text goes to bot.douyin once (Msg-Id dedup); verify_webhook echoes the challenge."""
    sender = f"dyuser{secrets.token_hex(4)}"
    envelope = douyin_im_text(
        client_key=DOUYIN_KEY,
        sender=sender,
        receiver="shop",
        text="还有货吗",
        created_ms=int(time.time() * 1000),
    )
    callback = douyin_webhook(envelope, client_secret=DOUYIN_SECRET, msg_id=secrets.token_hex(8))
    for _ in range(2):
        response = await client.post(
            "/webhooks/douyin/dy",
            data=callback.body,
            headers={**callback.headers, "Content-Type": "application/json"},
        )
        assert response.status == 200
    await inbound_tap.wait_for(lambda: inbound_tap.for_customer(sender))
    await inbound_tap.settle()
    ((key, doc),) = inbound_tap.for_customer(sender)
    assert (key, doc["text"], doc["kind"]) == ("bot.douyin", "还有货吗", "text")
    challenge = douyin_webhook(
        {"event": "verify_webhook", "client_key": DOUYIN_KEY, "content": {"challenge": 12345}},
        client_secret=DOUYIN_SECRET,
    )
    response = await client.post(
        "/webhooks/douyin/dy",
        data=challenge.body,
        headers={**challenge.headers, "Content-Type": "application/json"},
    )
    assert (response.status, await response.json()) == (200, {"challenge": 12345})


async def test_taobao_tmc_confirms_after_publish(
    client: TestClient, inbound_tap: InboundTap, tmc: tuple[FakeTmcServer, str]
) -> None:
    """TMC trade and refund messages are published, then confirmed; /readyz shows TMC connected."""
    server, _ = tmc
    buyer = f"tb{secrets.token_hex(4)}"
    tid = 3712345678901234567 + secrets.randbelow(10**6)
    trade_id = server.publish(
        "taobao_trade_TradeBuyerPay",
        orjson.dumps(
            {"tid": tid, "buyer_nick": buyer, "status": "WAIT_SELLER_SEND_GOODS"}
        ).decode(),
        user_id=buyer,
        nick=buyer,
    )
    refund_id = server.publish(
        "taobao_refund_RefundCreated",
        orjson.dumps({"refund_id": 99887766554433, "tid": tid, "buyer_nick": buyer}).decode(),
        user_id=buyer,
        nick=buyer,
    )
    await server.wait_for(
        lambda: server.confirmed[trade_id] and server.confirmed[refund_id], timeout=10
    )
    published = [
        doc
        for rk, doc, _ in inbound_tap.received
        if doc["platform"] == "taobao" and doc["platform_msg_id"] in (str(trade_id), str(refund_id))
    ]
    assert sorted(doc["kind"] for doc in published) == ["aftersale", "order"]
    assert {doc["order"]["id"] for doc in published if doc["kind"] == "order"} == {str(tid)}
    ready = await (await client.get("/readyz")).json()
    assert ready["checks"]["tmc:tb"] == "ok"
