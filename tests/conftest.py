"""Shared fixtures: real RabbitMQ and PostgreSQL endpoints, accounts, a tap on kefu.inbound.

Integration tests talk to the real services (DESIGN.md "Testing"):
- RabbitMQ at GATEWAY_TEST_AMQP_URL (default amqp://guest:guest@127.0.0.1:5672/);
- PostgreSQL at GATEWAY_TEST_POSTGRES_URL (default postgresql+asyncpg://postgres@127.0.0.1:5432/test):
  a fresh database is created for the session and dropped afterwards.
Tests observe RabbitMQ through their own exclusive queues; at the end of the session the default
`kefu.*` queues (inbound, outbound, receipts, dead letters), which also receive test messages, are
purged. Point
GATEWAY_TEST_AMQP_URL at a development broker, never at production.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import orjson
import pytest
import structlog
from aio_pika.abc import AbstractIncomingMessage
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine
from yarl import URL

from gateway.accounts import Accounts, parse_accounts
from gateway.broker.topology import DEAD, INBOUND, QUEUES, declare_topology
from gateway.mass.model import MassConfig
from gateway.recorder import RECORDS_QUEUE
from gateway.settings import Settings
from gateway.store.engine import create_engine, migrate

AMQP_URL = os.environ.get("GATEWAY_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
POSTGRES_URL = os.environ.get(
    "GATEWAY_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)

TOKEN = "gw_test_token"
AES_KEY = "Gw7kT2pQx9Lm4Rz8Vb1Nc6Hs3Jd5Fa0Ye2Ui7Oo4PqA"
OLD_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APP_ID = "wx1234567890abcdef"
STORE_APP_ID = "wxstore0000000001"

ACCOUNTS_DOC: dict[str, Any] = {
    "accounts": {
        "plain": {"platform": "wechat", "token": TOKEN, "app_id": APP_ID},
        "safe": {
            "platform": "wechat",
            "token": TOKEN,
            "app_id": APP_ID,
            "encoding_aes_key": AES_KEY,
            "previous_encoding_aes_key": OLD_AES_KEY,
        },
        "store": {
            "platform": "wechat",
            "token": TOKEN,
            "app_id": STORE_APP_ID,
            "encoding_aes_key": AES_KEY,
            "surface": "channels_store",
        },
    }
}


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


@pytest.fixture(scope="session", autouse=True)
def _purge_default_queues() -> Iterator[None]:
    yield

    async def purge() -> None:
        try:
            connection = await aio_pika.connect(AMQP_URL)
        except (ConnectionError, OSError):  # the broker is not there: nothing to purge
            return
        async with connection:
            for name in (
                *(binding.queue for binding in QUEUES),
                DEAD,
                RECORDS_QUEUE,
                MassConfig().receipts_queue,
            ):
                # A queue no test declared closes the channel (404): one channel per queue.
                async with await connection.channel() as channel:
                    with contextlib.suppress(aio_pika.exceptions.ChannelClosed):
                        await (await channel.get_queue(name, ensure=False)).purge()

    asyncio.run(purge())


@pytest.fixture
def accounts() -> Accounts:
    return parse_accounts(ACCOUNTS_DOC, {})


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(str(URL(POSTGRES_URL.replace("postgresql+asyncpg", "postgresql"))))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A database migrated once per session; each test gets a fresh copy of it."""
    name = f"kefu_tpl_{uuid.uuid4().hex[:10]}"

    async def build() -> None:
        await _pg_admin(f'CREATE DATABASE "{name}"')
        engine = create_engine(str(URL(POSTGRES_URL).with_path(f"/{name}")))
        try:
            await migrate(engine)
        finally:
            await engine.dispose()

    asyncio.run(build())
    yield name
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def postgres_url(postgres_template: str) -> Iterator[str]:
    """A fresh PostgreSQL database for one test (a copy of the migrated template), dropped after."""
    name = f"kefu_test_{uuid.uuid4().hex[:10]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"'))
    yield str(URL(POSTGRES_URL).with_path(f"/{name}"))
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every store test runs on both SQLite and PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """A migrated store on the test's database (SQLite file or PostgreSQL), disposed after."""
    engine = create_engine(database_url)
    await migrate(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        amqp_url=SecretStr(AMQP_URL),
        database_url=SecretStr(database_url),
        publish_timeout=3.0,
        replay_window=300,
    )


@dataclass
class InboundTap:
    """An exclusive queue bound to every routing key of kefu.inbound, recording what arrives."""

    received: list[tuple[str, dict[str, Any], AbstractIncomingMessage]] = field(
        default_factory=list
    )

    def with_id(self, message_id: str) -> list[dict[str, Any]]:
        return [doc for _, doc, _ in self.received if doc.get("id") == message_id]

    def for_customer(self, customer: str) -> list[tuple[str, dict[str, Any]]]:
        return [
            (rk, doc)
            for rk, doc, _ in self.received
            if (doc.get("customer") or {}).get("id") == customer
        ]

    async def wait_for(self, predicate: Any, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.02)

    async def settle(self, quiet: float = 0.3) -> None:
        """Wait until nothing new arrived for `quiet` seconds (to prove absence)."""
        count = -1
        while count != len(self.received):
            count = len(self.received)
            await asyncio.sleep(quiet)


@pytest.fixture
async def inbound_tap() -> AsyncIterator[InboundTap]:
    connection = await aio_pika.connect(AMQP_URL)
    tap = InboundTap()
    async with connection:
        channel = await connection.channel()
        await declare_topology(channel)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(INBOUND, routing_key="#")

        async def on_message(message: AbstractIncomingMessage) -> None:
            tap.received.append((message.routing_key or "", orjson.loads(message.body), message))
            await message.ack()

        await queue.consume(on_message)
        yield tap


async def require_sole_consumer(queue: str, timeout: float = 10.0) -> None:
    """Skip unless exactly one consumer (the gateway under test) reads `queue`.

    Tests that go through the contract queue `kefu.outbound` share it with any other gateway on
    the same broker (another test session on this machine, say); such a gateway does not know
    the test's accounts and would answer the test's messages itself.
    """
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            declared = await channel.declare_queue(queue, passive=True)
            consumers = declared.declaration_result.consumer_count
            if consumers == 1:
                return
            if asyncio.get_running_loop().time() > deadline:
                pytest.skip(f"{consumers} consumers on {queue}: another gateway shares the broker")
            await asyncio.sleep(0.2)
