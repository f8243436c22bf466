"""End to end on real parts: signed WeChat callbacks → gateway → RabbitMQ (and SQLite/PostgreSQL).

The callbacks are produced by `tests.wechat_reference`, an implementation of WeChat's scheme that
shares no code with the adapter.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
from aiohttp.test_utils import TestClient
from structlog.testing import capture_logs

from gateway.accounts import Accounts
from gateway.app import create_app
from gateway.logs import configure_logging
from gateway.settings import Settings
from normalizer.pii import PiiMasker, mask_log_event
from tests import wechat_reference as ref
from tests.conftest import AES_KEY, APP_ID, STORE_APP_ID, TOKEN, InboundTap

pytestmark = [pytest.mark.rabbitmq]

SCHEMA = json.loads(
    (Path(__file__).parents[2] / "docs" / "schemas" / "gateway.message.1.json").read_text()
)


def text_xml(customer: str, text: str, msg_id: int) -> bytes:
    return (
        f"<xml><ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA[{customer}]]>"
        f"</FromUserName><CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]>"
        f"</MsgType><Content><![CDATA[{text}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    ).encode()


def store_json(customer: str, text: str, msg_id: int) -> bytes:
    return orjson.dumps(
        {
            "ToUserName": "gh_store",
            "FromUserName": customer,
            "CreateTime": int(time.time()),
            "MsgType": "event",
            "Event": "commkf_send_msg_to_kf",
            "msg_id": msg_id,
            "msg_type": "text",
            "msg_event": "EVENT_TYPE_SEND_MSG",
            "text": {"content": text},
        }
    )


def plain(body: bytes) -> tuple[dict[str, str], bytes]:
    return ref.plain_query(TOKEN, str(int(time.time())), secrets.token_hex(4)), body


def safe(
    body: bytes, *, appid: str = APP_ID, json_envelope: bool = False
) -> tuple[dict[str, str], bytes]:
    encrypted = ref.encrypt(body, AES_KEY, appid)
    query = ref.safe_mode_query(TOKEN, str(int(time.time())), secrets.token_hex(4), encrypted)
    envelope = (
        orjson.dumps({"ToUserName": "gh", "Encrypt": encrypted})
        if json_envelope
        else ref.xml_envelope(encrypted)
    )
    return query, envelope


@pytest.fixture
async def client(aiohttp_client: Any, settings: Settings, accounts: Accounts) -> TestClient:
    return await aiohttp_client(create_app(settings, accounts))


def customer_id() -> str:
    return f"oTest_{secrets.token_hex(6)}"


@pytest.mark.parametrize(
    ("account", "build"),
    [
        ("plain", lambda c, m: plain(text_xml(c, "where is my order?", m))),
        ("safe", lambda c, m: safe(text_xml(c, "where is my order?", m))),
        (
            "store",
            lambda c, m: safe(
                store_json(c, "where is my order?", m), appid=STORE_APP_ID, json_envelope=True
            ),
        ),
    ],
    ids=["xml-plaintext", "xml-safe-mode", "channels-store-json-safe-mode"],
)
async def test_callback_published_once_schema_valid(
    client: TestClient, inbound_tap: InboundTap, account: str, build: Any
) -> None:
    """A signed callback is answered success after the confirm, and arrives once, schema-valid."""
    customer = customer_id()
    query, body = build(customer, secrets.randbits(60))
    response = await client.post(f"/webhooks/wechat/{account}", params=query, data=body)
    assert response.status == 200
    assert await response.text() == "success"
    await inbound_tap.wait_for(lambda: inbound_tap.for_customer(customer))
    await inbound_tap.settle()
    ((routing_key, doc),) = inbound_tap.for_customer(customer)
    jsonschema.validate(doc, SCHEMA)
    assert routing_key == "bot.wechat"
    assert (doc["text"], doc["account"], doc["route"]["target"]) == (
        "where is my order?",
        account,
        "bot",
    )
    (_, _, message) = next(r for r in inbound_tap.received if r[1]["customer"]["id"] == customer)
    assert message.message_id == doc["id"]
    assert message.delivery_mode == 2
    assert message.content_type == "application/json"
    assert message.headers["platform"] == "wechat"


async def test_platform_retry_is_published_once(
    client: TestClient, inbound_tap: InboundTap
) -> None:
    """The same callback sent three times (a platform retry) is answered thrice, published once."""
    customer = customer_id()
    query, body = safe(text_xml(customer, "hello", secrets.randbits(60)))
    for _ in range(3):
        response = await client.post("/webhooks/wechat/safe", params=query, data=body)
        assert (response.status, await response.text()) == (200, "success")
    await inbound_tap.wait_for(lambda: inbound_tap.for_customer(customer))
    await inbound_tap.settle()
    assert len(inbound_tap.for_customer(customer)) == 1


async def test_event_routed_to_events(client: TestClient, inbound_tap: InboundTap) -> None:
    """A Channels store order event goes to event.wechat.<event type>."""
    customer = customer_id()
    order_id = 3712345678901234567 + secrets.randbelow(10**6)
    body = orjson.dumps(
        {
            "ToUserName": "gh",
            "FromUserName": customer,
            "CreateTime": int(time.time()),
            "MsgType": "event",
            "Event": "channels_ec_order_pay",
            "order_info": {"order_id": order_id, "pay_time": int(time.time())},
        }
    )
    query, envelope = safe(body, appid=STORE_APP_ID, json_envelope=True)
    response = await client.post("/webhooks/wechat/store", params=query, data=envelope)
    assert response.status == 200
    await inbound_tap.wait_for(lambda: inbound_tap.for_customer(customer))
    ((routing_key, doc),) = inbound_tap.for_customer(customer)
    assert routing_key == "event.wechat.channels_ec_order_pay"
    assert (doc["kind"], doc["order"]["id"]) == ("order", str(order_id))
    jsonschema.validate(doc, SCHEMA)


def _tamper(query: dict[str, str], body: bytes) -> tuple[dict[str, str], bytes]:
    doc = body.decode()
    start = doc.index("CDATA[", doc.index("<Encrypt>")) + 6
    flipped = "A" if doc[start + 10] != "A" else "B"
    return query, (doc[: start + 10] + flipped + doc[start + 11 :]).encode()


@pytest.mark.parametrize(
    ("account", "build", "status"),
    [
        (
            "plain",
            lambda c: (
                {**plain(text_xml(c, "x", 1))[0], "signature": "0" * 40},
                text_xml(c, "x", 1),
            ),
            401,
        ),
        ("safe", lambda c: safe(text_xml(c, "x", 2), appid="wxSOMEBODYELSE0000"), 401),
        ("safe", lambda c: _tamper(*safe(text_xml(c, "x", 3))), 401),
        ("plain", lambda c: plain(b"<xml><MsgType>text</MsgType>"), 400),
        ("plain", lambda c: plain(b'<!DOCTYPE x [<!ENTITY a "b">]><xml>&a;</xml>'), 400),
        ("nobody", lambda c: plain(text_xml(c, "x", 4)), 404),
    ],
    ids=[
        "wrong-signature",
        "wrong-appid-in-ciphertext",
        "tampered-ciphertext",
        "truncated-xml",
        "dtd",
        "unknown-account",
    ],
)
async def test_refusals_publish_nothing_and_keep_serving(
    client: TestClient, inbound_tap: InboundTap, account: str, build: Any, status: int
) -> None:
    """Bad callbacks: their status, one log line without text, nothing published, still serving."""
    customer = customer_id()
    query, body = build(customer)
    with capture_logs() as logs:
        response = await client.post(f"/webhooks/wechat/{account}", params=query, data=body)
    assert response.status == status
    refusals = [entry for entry in logs if entry["event"] == "webhook.refused"]
    assert len(refusals) == 1
    assert customer not in repr(refusals) and TOKEN not in repr(refusals)
    await inbound_tap.settle()
    assert inbound_tap.for_customer(customer) == []
    good_customer = customer_id()
    query, body = plain(text_xml(good_customer, "still there?", secrets.randbits(60)))
    assert (await client.post("/webhooks/wechat/plain", params=query, data=body)).status == 200


async def test_callbacks_arriving_together_are_answered_each_on_its_own(
    client: TestClient, inbound_tap: InboundTap
) -> None:
    """Callbacks started together go through the adapter, normalize and rules as one batch: a
    refused one among them gets its own status, the others are published once each."""
    customers = [customer_id() for _ in range(6)]
    calls = [safe(text_xml(c, f"hello {n}", secrets.randbits(60))) for n, c in enumerate(customers)]
    calls[2] = _tamper(*calls[2])
    calls[4] = ({**calls[4][0], "msg_signature": "0" * 40}, calls[4][1])
    responses = await asyncio.gather(
        *(client.post("/webhooks/wechat/safe", params=q, data=b) for q, b in calls)
    )
    for response in responses:
        response.release()
    assert [r.status for r in responses] == [200, 200, 401, 200, 401, 200]
    good = [c for n, c in enumerate(customers) if n not in (2, 4)]
    await inbound_tap.wait_for(lambda: all(inbound_tap.for_customer(c) for c in good))
    await inbound_tap.settle()
    assert [len(inbound_tap.for_customer(c)) for c in good] == [1, 1, 1, 1]
    assert inbound_tap.for_customer(customers[2]) == inbound_tap.for_customer(customers[4]) == []


async def test_body_too_large(client: TestClient, settings: Settings) -> None:
    """A body over the limit is refused with 413."""
    query, _ = plain(b"")
    response = await client.post(
        "/webhooks/wechat/plain",
        params=query,
        data=b"<xml>" + b"a" * settings.max_body_bytes + b"</xml>",
    )
    assert response.status == 413


async def test_unknown_platform_is_404(client: TestClient) -> None:
    """A platform the gateway does not know is 404."""
    assert (await client.post("/webhooks/icq/plain", data=b"<xml/>")).status == 404


async def test_url_verification(client: TestClient) -> None:
    """GET with a valid signature echoes echostr; a bad one is 401."""
    query = ref.plain_query(TOKEN, str(int(time.time())), "5") | {"echostr": "echo-123"}
    response = await client.get("/webhooks/wechat/safe", params=query)
    assert (response.status, await response.text()) == (200, "echo-123")
    query["signature"] = "f" * 40
    assert (await client.get("/webhooks/wechat/safe", params=query)).status == 401


async def test_health_and_readiness(client: TestClient) -> None:
    """/healthz and /readyz answer 200 with the broker and the store reachable."""
    assert (await client.get("/healthz")).status == 200
    response = await client.get("/readyz")
    assert response.status == 200
    assert (await response.json())["checks"] == {"broker": "ok", "store": "ok"}


PII_VALUES = (
    "13812345678",
    "11010519491231002X",
    "6222021234567890128",
    "zhang.san@example.com",
    "新港中路397号",
    "15912345678",
)


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """The production logging configuration (JSON, PII processor) into a buffer, undone after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    buffer = io.StringIO()
    configure_logging(
        level="debug", fmt="json", mask=mask_log_event(PiiMasker()), cache=False, stream=buffer
    )
    yield buffer
    root.handlers[:] = handlers
    root.setLevel(level)


async def test_no_pii_in_published_message_or_logs(
    client: TestClient, inbound_tap: InboundTap, json_logs: io.StringIO
) -> None:
    """Phones, 身份证, bank cards, e-mail and receiver fields never reach RabbitMQ or the logs."""
    customer = customer_id()
    text = (
        "手机13812345678 身份证11010519491231002X 卡号6222021234567890128 邮箱zhang.san@example.com"
    )
    query, body = safe(
        store_json(customer, text, secrets.randbits(60)), appid=STORE_APP_ID, json_envelope=True
    )
    assert (await client.post("/webhooks/wechat/store", params=query, data=body)).status == 200
    order = orjson.dumps(
        {
            "ToUserName": "gh",
            "FromUserName": customer,
            "CreateTime": int(time.time()),
            "MsgType": "event",
            "Event": "channels_ec_order_new",
            "order_info": {
                "order_id": secrets.randbits(60),
                "delivery_info": {
                    "address_info": {
                        "user_name": "张三",
                        "tel_number": "15912345678",
                        "detail_info": "新港中路397号",
                    }
                },
            },
        }
    )
    query, body = safe(order, appid=STORE_APP_ID, json_envelope=True)
    assert (await client.post("/webhooks/wechat/store", params=query, data=body)).status == 200
    await inbound_tap.wait_for(lambda: len(inbound_tap.for_customer(customer)) == 2)
    published = orjson.dumps([doc for _, doc in inbound_tap.for_customer(customer)]).decode()
    logs = json_logs.getvalue()
    assert '"inbound.published"' in logs
    for value in PII_VALUES:
        assert value not in published
        assert value not in logs
    kinds = sorted({k for _, doc in inbound_tap.for_customer(customer) for k in doc["pii"]})
    assert kinds == ["address", "bank_card", "email", "id_card", "name", "phone"]


async def test_metrics_count_callbacks_and_queues(
    client: TestClient, inbound_tap: InboundTap
) -> None:
    """/metrics counts callbacks by status, masked PII and routes, and reads queue depths."""
    customer = customer_id()
    query, body = plain(text_xml(customer, "电话13812345678", secrets.randbits(60)))
    assert (await client.post("/webhooks/wechat/plain", params=query, data=body)).status == 200
    bad_query = {**query, "signature": "0" * 40}
    assert (await client.post("/webhooks/wechat/plain", params=bad_query, data=body)).status == 401
    text = await (await client.get("/metrics")).text()
    assert 'kefu_callbacks_total{platform="wechat",status="200"} 1.0' in text
    assert 'kefu_callbacks_total{platform="wechat",status="401"} 1.0' in text
    assert 'kefu_pii_masked_total{kind="phone"} 1.0' in text
    assert 'kefu_routed_total{platform="wechat",target="bot"} 1.0' in text
    assert 'kefu_queue_depth{queue="kefu.bots"}' in text
    assert "kefu_publish_seconds_bucket" in text
    tasks = re.search(r"^kefu_asyncio_tasks (\d+)\.0$", text, re.MULTILINE)
    assert tasks is not None and int(tasks.group(1)) > 0  # the app's own background tasks
