"""Fixtures for the outbound tests: the fake platform over real HTTP, a migrated store on both
databases, and a private copy of the outbound topology on the real RabbitMQ.

`bus` declares ``test.<id>.outbound`` (direct) → quorum queue with the contract's arguments
(dead-lettering to ``test.<id>.dlx`` → ``test.<id>.dead``, delivery limit 5) and
``test.<id>.receipts`` with an exclusive tap, so tests neither see nor disturb other processes'
messages on the shared broker; everything is deleted afterwards.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aio_pika
import orjson
import pytest
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection, ExchangeType

from gateway.accounts import Accounts, parse_accounts
from gateway.outbound import OutboundMessage, OutboundNames, enqueue
from rules.engine import RuleSet
from rules.wordlists import WordList
from tests.conftest import AES_KEY, AMQP_URL, TOKEN
from tests.outbound.fake_platform import FakePlatform

SECRETS = {"wxshop": "shop-secret", "wxmini": "mini-secret", "wxstore": "store-secret"}
DOUYIN = {"awdy": "dy-secret"}
RULES = RuleSet.build(
    [
        WordList("comp", "竞品", "competitor", ("拼多多",), "flag", "block"),
        WordList("contact", "联系方式", "policy", ("微信",), "flag", "mask"),
    ],
    [],
    1,
)


def accounts_for(base: str) -> Accounts:
    """Accounts of every surface, all pointing at the fake platform."""
    wechat = {"platform": "wechat", "token": TOKEN, "api_base": base}
    return parse_accounts(
        {
            "accounts": {
                "shop": {**wechat, "app_id": "wxshop", "app_secret": SECRETS["wxshop"]},
                "mini": {**wechat, "app_id": "wxmini", "app_secret": SECRETS["wxmini"],
                         "surface": "mini_program"},
                "store": {**wechat, "app_id": "wxstore", "app_secret": SECRETS["wxstore"],
                          "surface": "channels_store", "encoding_aes_key": AES_KEY},
                "dy": {"platform": "douyin", "flavor": "open", "client_key": "awdy",
                       "client_secret": DOUYIN["awdy"], "api_base": base},
                "tb": {"platform": "taobao", "app_key": "tbkey", "app_secret": "tbsecret"},
            }
        },
        {},
    )  # fmt: skip


class Bindings:
    """A `BindingLookup` over a dict: (platform, account, customer) -> advisor id."""

    def __init__(self) -> None:
        self.bound: dict[tuple[str, str, str], str] = {}

    async def advisor_of(self, platform: str, account: str, customer_id: str) -> str | None:
        return self.bound.get((platform, account, customer_id))


def message(**fields: Any) -> OutboundMessage:
    """An outbound text reply with a fresh request_id; keyword arguments override."""
    doc: dict[str, Any] = {
        "schema": "gateway.outbound/1",
        "request_id": f"rq-{uuid.uuid4().hex}",
        "sender": "advisor:a1",
        "platform": "wechat",
        "account": "shop",
        "customer": f"o-{uuid.uuid4().hex[:12]}",
        "kind": "text",
        "content": {"text": "您好，订单已发货"},
    }
    doc.update(fields)
    return OutboundMessage.model_validate(doc)


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Bus:
    connection: AbstractRobustConnection
    names: OutboundNames
    dead_queue: str
    channel: aio_pika.abc.AbstractChannel
    receipts: list[dict[str, Any]] = field(default_factory=list)
    receipt_keys: list[str] = field(default_factory=list)
    dead: list[AbstractIncomingMessage] = field(default_factory=list)

    async def publish(self, msg: OutboundMessage | bytes, request_id: str | None = None) -> None:
        if isinstance(msg, OutboundMessage):
            await enqueue(self.channel, msg, names=self.names)
            return
        exchange = await self.channel.get_exchange(self.names.exchange, ensure=False)
        body = aio_pika.Message(msg, message_id=request_id, delivery_mode=2)
        await exchange.publish(body, self.names.routing_key, mandatory=True)

    def of(self, request_id: str | None) -> list[dict[str, Any]]:
        return [r for r in self.receipts if r["request_id"] == request_id]

    async def receipt(self, request_id: str, timeout: float = 15.0) -> dict[str, Any]:
        await self.wait(lambda: bool(self.of(request_id)), timeout)
        return self.of(request_id)[0]

    async def wait(self, predicate: Callable[[], bool], timeout: float = 15.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.02)


@pytest.fixture
async def fake(aiohttp_server: Any) -> tuple[FakePlatform, str]:
    platform = FakePlatform(
        wechat_apps=dict(SECRETS), mini_program_apps=frozenset({"wxmini"}), douyin_apps=DOUYIN
    )
    server = await aiohttp_server(platform.app())
    return platform, str(server.make_url("")).rstrip("/")


@pytest.fixture
async def bus() -> AsyncIterator[Bus]:
    prefix = f"test.{uuid.uuid4().hex[:10]}"
    names = OutboundNames(
        exchange=f"{prefix}.outbound",
        queue=f"{prefix}.outbound",
        receipts=f"{prefix}.receipts",
        dlx=f"{prefix}.dlx",
    )
    connection = await aio_pika.connect_robust(AMQP_URL)
    channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
    outbound = await channel.declare_exchange(names.exchange, ExchangeType.DIRECT, durable=True)
    receipts = await channel.declare_exchange(names.receipts, ExchangeType.TOPIC, durable=True)
    dlx = await channel.declare_exchange(names.dlx, ExchangeType.FANOUT, durable=True)
    quorum: dict[str, Any] = {"x-queue-type": "quorum"}
    dead = await channel.declare_queue(f"{prefix}.dead", durable=True, arguments=quorum)
    await dead.bind(dlx, "")
    work_args = {**quorum, "x-dead-letter-exchange": names.dlx, "x-delivery-limit": 5}
    work = await channel.declare_queue(names.queue, durable=True, arguments=work_args)
    await work.bind(outbound, names.routing_key)
    tap = await channel.declare_queue(exclusive=True, auto_delete=True)
    await tap.bind(receipts, "receipt.#")
    result = Bus(connection, names, dead.name, channel)

    async def on_receipt(msg: AbstractIncomingMessage) -> None:
        result.receipts.append(orjson.loads(msg.body))
        result.receipt_keys.append(msg.routing_key or "")
        await msg.ack()

    async def on_dead(msg: AbstractIncomingMessage) -> None:
        result.dead.append(msg)
        await msg.ack()

    await tap.consume(on_receipt)
    await dead.consume(on_dead)
    try:
        yield result
    finally:
        for queue in (work, dead):
            await queue.delete(if_unused=False, if_empty=False)
        for exchange in (outbound, receipts, dlx):
            await exchange.delete()
        await connection.close()
