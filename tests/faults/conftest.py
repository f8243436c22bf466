"""Fixtures of the fault tests: a unique tag per test, a ledger on kefu.inbound, an accounts file
for `serve` subprocesses, and a factory of gateway processes that are all killed at the end."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from yarl import URL

from tests.conftest import AMQP_URL
from tests.faults.platform import FAULT_ACCOUNTS_TOML, GatewayProcess, Ledger, open_ledger
from tests.faults.proxy import TcpProxy


@pytest.fixture
def tag() -> str:
    """The customer-id prefix of one test's callbacks."""
    return f"oFault{secrets.token_hex(4)}"


@pytest.fixture
async def ledger(tag: str) -> AsyncIterator[Ledger]:
    async with open_ledger(tag) as opened:
        yield opened


@pytest.fixture
def accounts_file(tmp_path: Path) -> Path:
    path = tmp_path / "accounts.toml"
    path.write_text(FAULT_ACCOUNTS_TOML)
    return path


GatewayFactory = Callable[[str, str], Awaitable[GatewayProcess]]


@pytest.fixture
async def gateways(tmp_path: Path, accounts_file: Path) -> AsyncIterator[GatewayFactory]:
    """`await gateways(name, database_url)`: a started `serve` process; all are SIGKILLed at
    the end of the test if still running."""
    started: list[GatewayProcess] = []

    async def start(name: str, database_url: str) -> GatewayProcess:
        process = GatewayProcess(
            name, database_url=database_url, config=accounts_file, logs=tmp_path
        )
        started.append(process)
        await process.start()
        return process

    yield start
    for process in started:
        await process.kill()


@pytest.fixture
async def amqp_proxy() -> AsyncIterator[TcpProxy]:
    """A proxy in front of RabbitMQ."""
    target = URL(AMQP_URL)
    proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5672)
    await proxy.start()
    yield proxy
    await proxy.close()


@pytest.fixture
async def pg_proxy(postgres_url: str) -> AsyncIterator[TcpProxy]:
    """A proxy in front of the test's PostgreSQL database server."""
    target = URL(postgres_url)
    proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5432)
    await proxy.start()
    yield proxy
    await proxy.close()
