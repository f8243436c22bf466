"""Fault: PostgreSQL unreachable for a moment (a TCP proxy in front of it cuts every connection and
refuses new ones, then lets them through again).

Asserted: callbacks that need the store during the cut are answered 503 (``store_unavailable``,
or ``broker_unavailable`` for a retry that finds a claim left pending by a failed attempt), never
5xx otherwise and never 200 without the message on RabbitMQ; the platform's retries get every
callback answered 200 once the store is back; nothing is lost; the gateway serves fresh
callbacks right after; and no message is on RabbitMQ twice. A store failure between a confirmed
publish and marking the dedup row done is answered 200 (the message was handed on); the second
test forces exactly that moment.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr
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

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres, pytest.mark.timeout(60)]


@pytest.fixture
async def client(
    postgres_url: str, pg_proxy: TcpProxy, amqp_proxy: TcpProxy
) -> AsyncIterator[GatewayClient]:
    """The gateway in-process, PostgreSQL and RabbitMQ both behind proxies (closed after it)."""
    amqp = URL(AMQP_URL).with_port(amqp_proxy.port).with_query(reconnect_interval="0.3")
    settings = Settings(
        amqp_url=SecretStr(str(amqp)),
        database_url=SecretStr(str(URL(postgres_url).with_port(pg_proxy.port))),
        publish_timeout=3.0,
    )
    app = create_app(settings, fault_accounts())
    async with TestClient(TestServer(app)) as test_client:
        yield test_client
        pg_proxy.restore()
        amqp_proxy.resume()


async def test_store_cut_mid_stream(
    client: GatewayClient, pg_proxy: TcpProxy, ledger: Ledger, tag: str
) -> None:
    """PostgreSQL cut for 1.5 s under a stream of callbacks: 503s during the cut, everything
    answered and on RabbitMQ afterwards, new callbacks served 0.3 s after the store is back, no
    duplicate."""
    base = base_url(client)
    callbacks = make_callbacks(tag, 160)
    platform = Platform(callbacks, lambda _i, _a: base, concurrency=8)
    stream = asyncio.create_task(platform.run(deadline=time.monotonic() + 40))
    await platform.wait_answered(40)
    cut_at = time.monotonic()
    pg_proxy.cut()
    await asyncio.sleep(1.5)
    pg_proxy.restore()
    restored_at = time.monotonic()
    await asyncio.sleep(0.3)
    fresh = make_callbacks(f"{tag}-fresh", 10)  # new messages, 0.3 s after the store is back
    await Platform(fresh, lambda _i, _a: base).resend(fresh, lambda _i: base)
    await stream
    assert all(c.succeeded for c in callbacks), [c.key for c in callbacks if not c.succeeded]
    await platform.resend(callbacks[:40:4], lambda _i: base)
    await ledger.wait_for(c.key for c in callbacks + fresh)
    await ledger.settle()
    refusals = [a for c in callbacks for a in c.answers if a.status != 200]
    during_cut = [a for a in refusals if cut_at <= a.sent <= restored_at]
    report = Report.of(
        "postgresql cut 1.5 s",
        callbacks + fresh,
        ledger,
        answered_503=len(refusals),
        during_cut=len(during_cut),
        last_success_after_cut_s=round(max(c.first_success() or 0 for c in callbacks) - cut_at, 1),
    )
    print(report.line())
    assert during_cut, "no callback met the cut"
    assert {a.status for a in refusals} == {503}
    assert {a.error for a in refusals} <= {"store_unavailable", "broker_unavailable"}
    assert "store_unavailable" in {a.error for a in during_cut}
    assert [c.answers[0].status for c in fresh] == [200] * len(fresh), "not recovered"
    assert report.lost == []
    assert report.duplicated == {}
    assert_consumer_can_dedup(callbacks + fresh, ledger)


async def test_store_failure_after_confirmed_publish(
    client: GatewayClient, pg_proxy: TcpProxy, amqp_proxy: TcpProxy, ledger: Ledger, tag: str
) -> None:
    """The store fails exactly between the publisher confirm and marking the dedup row done
    (RabbitMQ's answers are held until the message is on the queue, then PostgreSQL is cut and
    the confirm released): the callback is answered 200 — it was handed on — and is on RabbitMQ
    once."""
    base = base_url(client)
    (callback,) = make_callbacks(tag, 1)
    platform = Platform([callback], lambda _i, _a: base)
    amqp_proxy.stall(requests=False, responses=True)  # publish goes out, the confirm waits
    attempt = asyncio.create_task(platform.resend([callback], lambda _i: base))
    await ledger.wait_for([callback.key], timeout=5)
    pg_proxy.cut()
    amqp_proxy.resume()
    await attempt
    pg_proxy.restore()
    first = callback.answers[0]
    print(f"[store fails after confirm] first answer {first.status} {first.error}")
    assert first.status == 200, first
    await ledger.settle()
    assert len(ledger.of(callback.key)) == 1
