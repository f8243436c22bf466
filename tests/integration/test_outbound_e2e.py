"""Issue "Outbound" end to end through the whole gateway: a customer writes (webhook), their bound
advisor answers on kefu.outbound, the fake platform gets exactly one correct API call, the receipt
says sent; another advisor is refused; a merchant sensitive word never reaches the platform; the
conversation records show all of it."""

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

from gateway.accounts import Accounts, parse_accounts
from gateway.app import create_app
from gateway.broker.topology import OUTBOUND, OUTBOUND_KEY, RECEIPTS
from gateway.settings import Settings
from tests import wechat_reference as ref
from tests.conftest import AMQP_URL, require_sole_consumer
from tests.outbound.fake_platform import FakePlatform

pytestmark = [pytest.mark.rabbitmq]

ADMIN = {"Authorization": "Bearer adm"}
APP_ID, SECRET, TOKEN = "wxe2eshop", "e2e-secret", "e2e-token"


@pytest.fixture
async def platform(aiohttp_server: Any) -> tuple[FakePlatform, str]:
    fake = FakePlatform(wechat_apps={APP_ID: SECRET})
    server = await aiohttp_server(fake.app())
    return fake, str(server.make_url("")).rstrip("/")


@pytest.fixture
async def client(
    aiohttp_client: Any, settings: Settings, platform: tuple[FakePlatform, str]
) -> TestClient:
    account = f"e2e{secrets.token_hex(3)}"  # a fresh account: other tests' replies stay apart
    accounts: Accounts = parse_accounts(
        {
            "accounts": {
                account: {
                    "platform": "wechat",
                    "token": TOKEN,
                    "app_id": APP_ID,
                    "app_secret": SECRET,
                    "api_base": platform[1],
                }
            }
        },
        {},
    )
    app = create_app(settings.model_copy(update={"admin_token": SecretStr("adm")}), accounts)
    client = await aiohttp_client(app)
    client.account = account  # type: ignore[attr-defined]
    return client


@pytest.fixture
async def receipts() -> AsyncIterator[dict[str, dict[str, Any]]]:
    by_request: dict[str, dict[str, Any]] = {}
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(RECEIPTS, "receipt.#")

        async def on_message(message: AbstractIncomingMessage) -> None:
            doc = orjson.loads(message.body)
            by_request[str(doc.get("request_id"))] = doc
            await message.ack()

        await queue.consume(on_message)
        yield by_request


async def publish(reply: dict[str, Any]) -> None:
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(OUTBOUND)
        await exchange.publish(
            aio_pika.Message(orjson.dumps(reply), message_id=reply["request_id"]), OUTBOUND_KEY
        )


async def wait(predicate: Any, timeout: float = 15.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.05)


async def test_customer_writes_advisor_replies_platform_gets_one_call(
    client: TestClient, platform: tuple[FakePlatform, str], receipts: dict[str, dict[str, Any]]
) -> None:
    """Window opened by the inbound message; sent once; wrong advisor and sensitive word refused."""
    fake, _ = platform
    account = client.account  # type: ignore[attr-defined]
    await require_sole_consumer(OUTBOUND)
    customer = f"oOut{secrets.token_hex(4)}"
    for advisor in ("amy", "ben"):
        assert (
            await client.post(
                "/api/v1/advisors",
                headers=ADMIN,
                json={"id": f"{advisor}{account}", "nickname": advisor, "status": "online"},
            )
        ).status == 201
    bind = await client.post(
        "/api/v1/bindings",
        headers=ADMIN,
        json={
            "bindings": [
                {
                    "advisor_id": f"amy{account}",
                    "customer": {"platform": "wechat", "account": account, "external_id": customer},
                }
            ]
        },
    )
    assert bind.status == 200
    await client.post(
        "/api/v1/words",
        headers=ADMIN,
        json={"id": f"pol{account}", "category": "policy", "words": ["加微信"]},
    )
    fake.customer_message(APP_ID, customer)  # what WeChat itself knows: the customer wrote
    body = (
        f"<xml><ToUserName>gh</ToUserName><FromUserName>{customer}</FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType>text</MsgType>"
        f"<Content>什么时候发货</Content><MsgId>{secrets.randbits(60)}</MsgId></xml>"
    )
    query = ref.plain_query(TOKEN, str(int(time.time())), secrets.token_hex(4))
    assert (await client.post(f"/webhooks/wechat/{account}", params=query, data=body)).status == 200

    def reply(request_id: str, advisor: str, text: str) -> dict[str, Any]:
        return {
            "schema": "gateway.outbound/1",
            "request_id": request_id,
            "sender": f"advisor:{advisor}{account}",
            "platform": "wechat",
            "account": account,
            "customer": customer,
            "kind": "text",
            "content": {"text": text},
        }

    ok, other, bad = (f"r{secrets.token_hex(4)}" for _ in range(3))
    await publish(reply(ok, "amy", "今天下午发货"))
    await publish(reply(ok, "amy", "今天下午发货"))  # the advisor app retried: same request
    await publish(reply(other, "ben", "我来回答"))
    await publish(reply(bad, "amy", "加 微 信 聊"))
    await wait(lambda: {ok, other, bad} <= set(receipts))
    assert receipts[ok]["status"] == "sent"
    assert (receipts[other]["status"], receipts[other]["reason"]) == (
        "rejected",
        "not_bound_advisor",
    )
    assert (receipts[bad]["reason"], receipts[bad]["word"]) == ("sensitive_word", "加微信")
    sent = [d for d in fake.deliveries if d.to == customer]
    assert [(d.endpoint, d.text) for d in sent] == [("custom", "今天下午发货")]
    conversation: list[dict[str, Any]] = []

    async def recorded() -> bool:
        nonlocal conversation
        response = await client.get(
            "/api/v1/records",
            headers=ADMIN,
            params={"platform": "wechat", "account": account, "customer": customer},
        )
        conversation = (await response.json())["items"]
        # Each request's own final status, not just "some reply was rejected": the receipts of
        # `other` and `bad` reach the recorder independently.
        final = {r["message_id"]: r["status"] for r in conversation}
        return (
            "advisor" in {r["status"] for r in conversation if r["direction"] == "in"}
            and final.get(ok) == "sent"
            and final.get(other) == "rejected"
            and final.get(bad) == "rejected"
        )

    async with asyncio.timeout(10):
        while not await recorded():
            await asyncio.sleep(0.1)
    texts = {r["message_id"]: (r["direction"], r["status"], r["reason"]) for r in conversation}
    assert texts[ok] == ("out", "sent", None)
    assert texts[bad] == ("out", "rejected", "sensitive_word")
    assert [r["text"] for r in conversation if r["direction"] == "in"] == ["什么时候发货"]
