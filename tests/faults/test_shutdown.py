"""Fault: the gateway is stopped while RabbitMQ is unreachable. Graceful shutdown must still end
within GATEWAY_SHUTDOWN_TIMEOUT (plus a margin) — an orchestrator's SIGTERM must not hang."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr
from yarl import URL

from gateway.app import create_app
from gateway.settings import Settings
from tests.conftest import AMQP_URL
from tests.faults.platform import fault_accounts
from tests.faults.proxy import TcpProxy

pytestmark = [pytest.mark.rabbitmq, pytest.mark.timeout(60)]

SHUTDOWN_TIMEOUT = 2.0
MARGIN = 5.0  # each consumer may spend up to 1 s on its cancel before giving up


async def test_shutdown_with_rabbitmq_unreachable_is_bounded(
    tmp_path: Path, amqp_proxy: TcpProxy
) -> None:
    """With RabbitMQ cut off, closing the app finishes within the shutdown timeout + 5 s (the
    store does not matter here: SQLite only)."""
    url = URL(AMQP_URL).with_port(amqp_proxy.port).with_query(reconnect_interval="0.3")
    faulty = Settings(
        amqp_url=SecretStr(str(url)),
        database_url=SecretStr(f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"),
        shutdown_timeout=SHUTDOWN_TIMEOUT,
    )
    client = TestClient(TestServer(create_app(faulty, fault_accounts())))
    await client.start_server()
    amqp_proxy.cut()
    await asyncio.sleep(0.5)
    started = time.monotonic()
    closing = asyncio.create_task(client.close())
    done, _ = await asyncio.wait([closing], timeout=SHUTDOWN_TIMEOUT + MARGIN)
    took = time.monotonic() - started
    amqp_proxy.restore()  # let a hung shutdown finish, so the test leaves nothing running
    async with asyncio.timeout(30):
        await closing
    print(f"[shutdown, rabbitmq unreachable] closed: {bool(done)} after {took:.1f} s")
    assert done, f"shutdown still running after {took:.1f} s"
