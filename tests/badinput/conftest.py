"""Fixtures for the bad-input suite: one gateway per test module and database backend, and
`assert_refused`.

The gateway runs in-process (aiohttp test server) against the real RabbitMQ and a real store —
SQLite and PostgreSQL, like the `database_url` fixture, from the same migrated template. It is
module-scoped on purpose: one process takes every bad input of a module in a row, which is what
"the process keeps serving" means, and it keeps ~400 cases fast (a fresh app and database per
case costs ~0.7 s). Tests of this package run on the module's event loop
(``pytest.mark.asyncio(loop_scope="module")``).

`assert_refused` checks the whole refusal contract of DESIGN.md ("HTTP surface"): the status,
exactly one ``webhook.refused`` log line naming neither the message text, the customer nor a
secret, nothing published, and the endpoint still serving a good callback afterwards.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aio_pika
import orjson
import pytest
import pytest_asyncio
from aio_pika.abc import AbstractIncomingMessage
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr
from structlog.testing import capture_logs
from yarl import URL

from gateway.accounts import parse_accounts
from gateway.app import create_app
from gateway.broker.topology import INBOUND, declare_topology
from gateway.settings import Settings
from tests.badinput.callbacks import (
    ACCOUNTS,
    SECRETS,
    TEXT,
    Call,
    GatewayClient,
    good,
    new_customer,
)
from tests.conftest import AMQP_URL, POSTGRES_URL, InboundTap, _pg_admin

MAX_BODY = 256 * 1024


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def backend_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A fresh database for one module: an SQLite file, or a copy of the migrated PostgreSQL
    template (the same two backends as the `database_url` fixture)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('badinput') / 'gateway.db'}"
        return
    template = request.getfixturevalue("postgres_template")
    name = f"kefu_bad_{uuid.uuid4().hex[:10]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    yield str(URL(POSTGRES_URL).with_path(f"/{name}"))
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def badinput_settings(database_url: str, **changes: Any) -> Settings:
    """The settings every bad-input gateway runs with (documented defaults for the limits)."""
    values: dict[str, Any] = {
        "amqp_url": SecretStr(AMQP_URL),
        "database_url": SecretStr(database_url),
        "publish_timeout": 3.0,
        "replay_window": 300,
        "max_body_bytes": MAX_BODY,
        "max_json_depth": 32,
        **changes,
    }
    return Settings(**values)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(backend_url: str) -> AsyncIterator[GatewayClient]:
    """The gateway with every webhook endpoint: WeChat plain/safe/store/other, Doudian ``dd``,
    Douyin open platform ``dy``."""
    app = create_app(badinput_settings(backend_url), parse_accounts(ACCOUNTS, {}))
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def tap() -> AsyncIterator[InboundTap]:
    """An exclusive queue bound to every routing key of kefu.inbound, for the whole module."""
    connection = await aio_pika.connect(AMQP_URL)
    recorder = InboundTap()
    async with connection:
        channel = await connection.channel()
        await declare_topology(channel)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(INBOUND, routing_key="#")

        async def on_message(message: AbstractIncomingMessage) -> None:
            recorder.received.append(
                (message.routing_key or "", orjson.loads(message.body), message)
            )
            await message.ack()

        await queue.consume(on_message)
        yield recorder


async def assert_serving(client: GatewayClient, tap: InboundTap, endpoint: str) -> None:
    """A good callback to `endpoint` is answered 200 and arrives on RabbitMQ."""
    customer = new_customer("oGood")
    response = await good(endpoint, customer).send(client)
    assert response.status == 200, await response.text()
    await tap.wait_for(lambda: tap.for_customer(customer))


async def assert_accepted(
    client: GatewayClient, tap: InboundTap, call: Call, customer: str
) -> None:
    """`call` is answered 200 without a refusal and its message is published exactly once."""
    with capture_logs() as logs:
        response = await call.send(client)
    assert response.status == 200, await response.text()
    assert not [e for e in logs if e["event"] in ("webhook.refused", "http.failed")], logs
    await tap.wait_for(lambda: tap.for_customer(customer))
    await assert_serving(client, tap, call.path)
    assert len(tap.for_customer(customer)) == 1


async def assert_refused(
    client: GatewayClient,
    tap: InboundTap,
    call: Call,
    status: int,
    customer: str,
    *,
    endpoint: str | None = None,
    **send: Any,
) -> None:
    """`call` is answered `status` with one clean ``webhook.refused`` line, nothing is published,
    and `endpoint` (default: the call's) still answers a good callback with 200."""
    with capture_logs() as logs:
        response = await call.send(client, **send)
        answer = await response.text()
    assert response.status == status, answer
    refusals = [entry for entry in logs if entry["event"] == "webhook.refused"]
    assert len(refusals) == 1, logs
    assert refusals[0]["status"] == status
    assert not [entry for entry in logs if entry["event"] == "http.failed"], logs
    leaked = [s for s in (customer, TEXT, *SECRETS) if s in repr(logs) or s in answer]
    assert leaked == [], f"refusal log line or answer contains {leaked}"
    # One publisher channel → one queue keeps order: had the refused call been published, its
    # message would be on the tap before the good callback's.
    await assert_serving(client, tap, endpoint or call.path)
    assert tap.for_customer(customer) == []
