"""Fault: RabbitMQ unreachable mid-stream (a TCP proxy cuts and refuses connections). Every
callback answered 200 reaches RabbitMQ exactly once after the broker is back, through the outbox."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr
from yarl import URL

from gateway.accounts import Accounts
from gateway.app import create_app
from gateway.settings import Settings
from tests import wechat_reference as ref
from tests.badinput.callbacks import GatewayClient
from tests.conftest import AMQP_URL, TOKEN, InboundTap
from tests.faults.proxy import TcpProxy

pytestmark = [pytest.mark.rabbitmq]


@pytest.fixture
async def proxy() -> AsyncIterator[TcpProxy]:
    target = URL(AMQP_URL)
    proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5672)
    await proxy.start()
    yield proxy
    await proxy.close()


@pytest.fixture
async def client(
    settings: Settings, accounts: Accounts, proxy: TcpProxy
) -> AsyncIterator[GatewayClient]:
    """The gateway talking to RabbitMQ through the proxy; closed (bounded) before the proxy."""
    url = URL(AMQP_URL).with_port(proxy.port).with_query(reconnect_interval="0.3")
    faulty = settings.model_copy(update={"amqp_url": SecretStr(str(url)), "publish_timeout": 1.0})
    client = TestClient(TestServer(create_app(faulty, accounts)))
    await client.start_server()
    try:
        yield client
    finally:
        async with asyncio.timeout(30):
            await client.close()


async def send(client: GatewayClient, customer: str) -> int:
    body = (
        f"<xml><ToUserName>gh</ToUserName><FromUserName>{customer}</FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType>text</MsgType>"
        f"<Content>hi</Content><MsgId>{secrets.randbits(60)}</MsgId></xml>"
    ).encode()
    query = ref.plain_query(TOKEN, str(int(time.time())), secrets.token_hex(4))
    response = await client.post("/webhooks/wechat/plain", params=query, data=body)
    return response.status


async def test_broker_outage_loses_and_duplicates_nothing(
    client: GatewayClient, inbound_tap: InboundTap, proxy: TcpProxy
) -> None:
    """20 callbacks before, 30 during and 20 after an outage: all answered, all on RabbitMQ once."""
    tag = f"oFault{secrets.token_hex(3)}"
    customers = [f"{tag}-{n}" for n in range(70)]
    assert [await send(client, c) for c in customers[:20]] == [200] * 20
    proxy.cut()
    await asyncio.sleep(0.2)
    during = [await send(client, c) for c in customers[20:50]]
    assert during == [200] * 30
    ready = await client.get("/readyz")
    assert ready.status == 503
    assert (await ready.json())["outbox"] >= 1
    proxy.restore()
    after = [await send(client, c) for c in customers[50:]]
    assert after == [200] * 20
    await inbound_tap.wait_for(
        lambda: all(inbound_tap.for_customer(c) for c in customers), timeout=20
    )
    await inbound_tap.settle()
    counts = [len(inbound_tap.for_customer(c)) for c in customers]
    print(
        f"callbacks 70, answered 200: 70, on RabbitMQ: {sum(counts)}, "
        f"duplicates: {sum(counts) - len(customers)}"
    )
    assert counts == [1] * 70
    order = [
        doc["customer"]["id"]
        for _, doc, _ in inbound_tap.received
        if doc.get("customer", {}).get("id", "").startswith(tag)
    ]
    assert order == customers, "messages left the outbox out of order"
    assert (await (await client.get("/readyz")).json())["outbox"] == 0
