"""Fault: RabbitMQ stalls — connections stay open, nothing is forwarded for a few seconds, then
everything held is delivered (a broker blocked by a resource alarm, or a network that buffers).

Asserted: publishes time out (GATEWAY_PUBLISH_TIMEOUT = 1 s), the messages go to the durable
outbox and every callback is answered 200 at its first attempt; after the stall the outbox
drains to 0 and every message is on RabbitMQ. A message is on RabbitMQ more than once only if
one of its publishes timed out (an ``inbound.outboxed`` line): the broker still routes the
timed-out publish when the stall ends, and the outbox publishes it again — the strict-xfail test
below pins that; such copies share the message_id, so consumers can drop them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr
from structlog.testing import capture_logs
from yarl import URL

from gateway.app import create_app
from gateway.settings import Settings
from tests.badinput.callbacks import GatewayClient
from tests.conftest import AMQP_URL
from tests.faults.platform import (
    Ledger,
    Platform,
    Report,
    assert_consumer_can_dedup,
    base_url,
    fault_accounts,
    make_callbacks,
)
from tests.faults.proxy import TcpProxy

pytestmark = [pytest.mark.rabbitmq, pytest.mark.timeout(60)]

STALL = 2.5


@asynccontextmanager
async def stalling_gateway(settings: Settings, proxy: TcpProxy) -> AsyncIterator[GatewayClient]:
    """The gateway in-process with RabbitMQ behind `proxy` (closed before the proxy)."""
    url = URL(AMQP_URL).with_port(proxy.port).with_query(reconnect_interval="0.3")
    stalling = settings.model_copy(update={"amqp_url": SecretStr(str(url)), "publish_timeout": 1.0})
    async with TestClient(TestServer(create_app(stalling, fault_accounts()))) as test_client:
        yield test_client
        proxy.resume()


@pytest.fixture
async def client(settings: Settings, amqp_proxy: TcpProxy) -> AsyncIterator[GatewayClient]:
    async with stalling_gateway(settings, amqp_proxy) as test_client:
        yield test_client


async def outbox_depth(client: GatewayClient) -> int:
    return int((await (await client.get("/readyz")).json())["outbox"])


async def wait_outbox_empty(client: GatewayClient, timeout: float = 15.0) -> None:
    async with asyncio.timeout(timeout):
        while await outbox_depth(client):
            await asyncio.sleep(0.1)


async def test_broker_stall_mid_stream(
    client: GatewayClient, amqp_proxy: TcpProxy, ledger: Ledger, tag: str
) -> None:
    """A 2.5 s stall under a stream: every callback answered 200 first time (through the
    outbox), nothing lost, nothing duplicated: a publish that timed out and was confirmed after
    the stall has its outbox copy dropped instead of sent again."""
    base = base_url(client)
    callbacks = make_callbacks(tag, 80)
    platform = Platform(callbacks, lambda _i, _a: base, concurrency=4)
    with capture_logs() as logs:
        stream = asyncio.create_task(platform.run(deadline=time.monotonic() + 30))
        await platform.wait_answered(30)
        amqp_proxy.stall(STALL)
        await asyncio.sleep(STALL / 2)
        depth_during = await outbox_depth(client)
        await stream
        await ledger.wait_for(c.key for c in callbacks)
        await wait_outbox_empty(client)
        await ledger.settle(0.7)
    timed_out = {entry["message_id"] for entry in logs if entry["event"] == "inbound.outboxed"}
    id_of = {copy.key: copy.message_id for copy in ledger.copies}
    report = Report.of(
        "rabbitmq stall 2.5 s",
        callbacks,
        ledger,
        outbox_depth_during_stall=depth_during,
        publishes_timed_out=len(timed_out),
        drain_failures=sum(1 for e in logs if e["event"] == "background.failed"),
    )
    print(report.line())
    assert all(len(c.answers) == 1 and c.answers[0].status == 200 for c in callbacks)
    assert depth_during > 0 and timed_out
    assert report.lost == []
    assert not report.duplicated, {id_of[key] for key in report.duplicated}
    assert_consumer_can_dedup(callbacks, ledger)


async def test_timed_out_publish_is_delivered_once(
    tmp_path: Path, amqp_proxy: TcpProxy, ledger: Ledger, tag: str
) -> None:
    """One callback during a 2 s stall: answered 200 through the outbox, and on RabbitMQ exactly
    once after the stall (SQLite only: the store plays no part)."""
    settings = Settings(
        amqp_url=SecretStr(AMQP_URL),
        database_url=SecretStr(f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"),
    )
    async with stalling_gateway(settings, amqp_proxy) as client:
        base = base_url(client)
        (callback,) = make_callbacks(tag, 1)
        platform = Platform([callback], lambda _i, _a: base)
        amqp_proxy.stall(2.0)
        await platform.resend([callback], lambda _i: base)
        assert callback.answers[0].status == 200
        await ledger.wait_for([callback.key], timeout=10)
        await wait_outbox_empty(client)
        await ledger.settle(1.0)
    print(f"[timed-out publish] copies on RabbitMQ: {len(ledger.of(callback.key))}")
    assert len(ledger.of(callback.key)) == 1
