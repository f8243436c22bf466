"""Mass-send tasks end to end: admin API → the gateway's mass worker → outbound queue → sender →
fake Douyin API → receipts → per-customer results, on the real RabbitMQ and both databases.

The gateway under test and its outbound sender use a private copy of the outbound topology
(``test.<id>.*``), so other gateways on the shared broker neither take nor answer its messages.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aio_pika
import orjson
import pytest
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection, ExchangeType
from aiohttp.test_utils import TestClient
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.accounts import Accounts, parse_accounts
from gateway.app import create_app
from gateway.keys import MASS_CONFIG
from gateway.mass.ledger import Ledger
from gateway.mass.model import MassConfig, new_task_id
from gateway.outbound import OutboundNames, OutboundSender, PolicyBook, SenderConfig, start_sender
from gateway.settings import Settings
from gateway.store.bindings import BindingStore
from gateway.store.mass import MassStore, NewTask
from rules.engine import RuleSet
from tests.conftest import AMQP_URL
from tests.outbound.fake_platform import FakePlatform

pytestmark = [pytest.mark.rabbitmq]

ADMIN = {"Authorization": "Bearer adm"}
KEY, SECRET = "awmass", "mass-secret"
TEXT = "双11会员专享：全场8折"
CONTEXT = {"open_id": "merchant-open-id"}
POLICY = {"douyin": {"messages_per_touch": 1}, "wechat": {"messages_per_touch": 1}}


@dataclass
class Topology:
    """Private outbound, receipts and dead-letter exchanges and queues; `receipts` taps them."""

    prefix: str
    connection: AbstractRobustConnection
    receipts: dict[str, list[dict[str, Any]]]

    @property
    def names(self) -> OutboundNames:
        p = self.prefix
        return OutboundNames(
            f"{p}.outbound", "outbound", f"{p}.outbound", f"{p}.receipts", f"{p}.dlx"
        )

    @property
    def dead(self) -> str:
        return f"{self.prefix}.dead"

    def mass_config(self, **knobs: Any) -> MassConfig:
        names = self.names
        fast: dict[str, Any] = {"poll_interval": 0.05, "lease_seconds": 5.0, "retry_pause": 0.2}
        return MassConfig(
            outbound_exchange=names.exchange, outbound_routing_key=names.routing_key,
            receipts_exchange=names.receipts, receipts_queue=f"{self.prefix}.mass-receipts",
            dead_queue=self.dead, **{**fast, **knobs},
        )  # fmt: skip

    async def publish(self, message: dict[str, Any]) -> None:
        """Queue a ``gateway.outbound/1`` message as an advisor app would."""
        channel = await self.connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(self.names.exchange, ensure=False)
        body = orjson.dumps({"schema": "gateway.outbound/1", **message})
        await exchange.publish(aio_pika.Message(body, message_id=message["request_id"]), "outbound")
        await channel.close()


@pytest.fixture
async def topology() -> AsyncIterator[Topology]:
    prefix = f"test.{uuid.uuid4().hex[:10]}"
    connection = await aio_pika.connect_robust(AMQP_URL)
    channel = await connection.channel()
    quorum: dict[str, Any] = {"x-queue-type": "quorum"}
    top = Topology(prefix, connection, {})
    names = top.names
    outbound = await channel.declare_exchange(names.exchange, ExchangeType.DIRECT, durable=True)
    receipts = await channel.declare_exchange(names.receipts, ExchangeType.TOPIC, durable=True)
    dlx = await channel.declare_exchange(names.dlx, ExchangeType.FANOUT, durable=True)
    dead = await channel.declare_queue(top.dead, durable=True, arguments=quorum)
    await dead.bind(dlx, "")
    work_args = {**quorum, "x-dead-letter-exchange": names.dlx, "x-delivery-limit": 5}
    work = await channel.declare_queue(names.queue, durable=True, arguments=work_args)
    await work.bind(outbound, names.routing_key)
    tap = await channel.declare_queue(exclusive=True, auto_delete=True)
    await tap.bind(receipts, "receipt.#")

    async def on_receipt(message: AbstractIncomingMessage) -> None:
        doc = orjson.loads(message.body)
        top.receipts.setdefault(str(doc.get("request_id")), []).append(doc)
        await message.ack()

    await tap.consume(on_receipt)
    try:
        yield top
    finally:
        for queue in (names.queue, top.dead, f"{prefix}.mass-receipts"):
            await channel.queue_delete(queue)
        for exchange in (outbound, receipts, dlx):
            await exchange.delete()
        await connection.close()


@pytest.fixture
async def platform(aiohttp_server: Any) -> tuple[FakePlatform, str]:
    fake = FakePlatform(douyin_apps={KEY: SECRET})
    server = await aiohttp_server(fake.app())
    return fake, str(server.make_url("")).rstrip("/")


class Gateway:
    """A gateway app (restartable, one database) plus an outbound sender on the private topology."""

    def __init__(
        self,
        aiohttp_client: Any,
        settings: Settings,
        topology: Topology,
        engine: AsyncEngine,
        account: dict[str, Any],
        **knobs: Any,
    ) -> None:
        self.account = f"acct{secrets.token_hex(3)}"
        self.platform = str(account["platform"])
        self.accounts: Accounts = parse_accounts({"accounts": {self.account: account}}, {})
        self.settings = settings.model_copy(
            update={"admin_token": SecretStr("adm"), "outbound_enabled": False,
                    "outbound_policy": orjson.dumps(POLICY).decode()}
        )  # fmt: skip
        self.topology = topology
        self.engine = engine
        self.config = topology.mass_config(**knobs)
        self._aiohttp_client = aiohttp_client
        self.client: TestClient | None = None
        self.sender: OutboundSender | None = None

    async def start(self) -> TestClient:
        app = create_app(self.settings, self.accounts)
        app[MASS_CONFIG] = self.config
        self.client = await self._aiohttp_client(app)
        if self.sender is None:
            self.sender = await start_sender(
                self.topology.connection, self.engine, self.accounts, RuleSet.empty,
                BindingStore(self.engine),
                SenderConfig(names=self.topology.names, policies=PolicyBook.parse(POLICY),
                             rate_per_second=0.0, backoff_base=0.01, backoff_cap=0.02),
            )  # fmt: skip
        return self.client

    async def close(self) -> None:
        if self.sender is not None:
            await self.sender.close(timeout=5.0)

    async def api(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        assert self.client is not None
        response = await self.client.request(method, f"/api/v1{path}", json=body, headers=ADMIN)
        assert response.status == status, await response.text()
        return await response.json()

    def customer(self, external: str) -> str:
        return f"{self.platform}:{self.account}:{external}"

    async def customers(self, advisor: str, externals: list[str]) -> list[str]:
        """Bind customers (created from their platform handles) to an advisor; their ids."""
        handle = {"platform": self.platform, "account": self.account}
        ops = [{"advisor_id": advisor, "customer": {**handle, "external_id": e}} for e in externals]
        done = await self.api("POST", "/bindings", {"bindings": ops})
        assert {r["outcome"] for r in done["results"]} == {"bound"}
        return [r["customer_id"] for r in done["results"]]

    async def advisor(self, name: str) -> str:
        advisor = f"{name}{self.account}"
        await self.api("POST", "/advisors", {"id": advisor, "nickname": name}, status=201)
        return advisor

    def task(self, advisor: str, **audience: Any) -> dict[str, Any]:
        material = {"kind": "text", "content": {"text": TEXT}, "context": CONTEXT}
        body = {"advisor_id": advisor, "platform": self.platform, "account": self.account}
        return {**body, "material": material, **audience}

    async def finished(self, task_id: str, timeout: float = 20.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while not (task := await self.api("GET", f"/mass-tasks/{task_id}"))["done"]:
                await asyncio.sleep(0.05)
        return dict(task)


@pytest.fixture
async def gateways(
    aiohttp_client: Any, settings: Settings, topology: Topology, engine: AsyncEngine
) -> AsyncIterator[Callable[..., Gateway]]:
    """Makes `Gateway`s; their senders are closed after the test."""
    made: list[Gateway] = []

    def make(account: dict[str, Any], **knobs: Any) -> Gateway:
        made.append(Gateway(aiohttp_client, settings, topology, engine, account, **knobs))
        return made[-1]

    yield make
    for gateway in made:
        await gateway.close()


def douyin(base: str) -> dict[str, Any]:
    return {"platform": "douyin", "flavor": "open", "client_key": KEY, "client_secret": SECRET,
            "api_base": base}  # fmt: skip


async def wait(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.05)


def sent_to(fake: FakePlatform) -> Counter[str]:
    """Deliveries of the task's text, by platform user id."""
    return Counter(d.to for d in fake.deliveries if d.text == TEXT)


async def test_task_reaches_exactly_the_right_customers_once(
    gateways: Callable[..., Gateway], platform: tuple[FakePlatform, str], topology: Topology
) -> None:
    """Of 30 customers (10 tagged, 5 touched lately) exactly the 7 untouched tagged ones get one
    message each, counts add up, and a 5th monthly touch is rejected quota_exhausted."""
    fake, base = platform
    gw = gateways(douyin(base), batch_size=3)
    await gw.start()
    amy, ben = await gw.advisor("amy"), await gw.advisor("ben")
    ext = [f"u{n:02d}{gw.account}" for n in range(30)]
    ids = await gw.customers(amy, ext)
    others = await gw.customers(ben, [f"b{n}{gw.account}" for n in range(3)])
    for customer in ids[:10] + others:
        await gw.api("PATCH", f"/customers/{customer}", {"tags": {"level": ["vip"], "x": ["a"]}})

    # touched recently: u00 four proactive touches, u01/u10/u11 one, u02 a reply after writing
    assert gw.sender is not None and gw.sender.store is not None
    await gw.sender.store.record_customer_action("douyin", gw.account, ext[2], datetime.now(UTC))
    before = [(ext[0], True)] * 4 + [(e, True) for e in (ext[1], ext[10], ext[11])]
    before.append((ext[2], False))
    rids = [f"pre-{uuid.uuid4().hex}" for _ in before]
    for rid, (to, proactive) in zip(rids, before, strict=True):
        await topology.publish(
            {"request_id": rid, "sender": f"advisor:{amy}", "platform": "douyin",
             "account": gw.account, "customer": to, "kind": "text", "content": {"text": "您好"},
             "proactive": proactive, "context": CONTEXT}
        )  # fmt: skip
    await wait(lambda: all(rid in topology.receipts for rid in rids))
    assert {topology.receipts[rid][0]["status"] for rid in rids} == {"sent"}

    task = await gw.api("POST", "/mass-tasks", gw.task(amy, filter={"tag": "vip"}), status=201)
    assert task["state"] == "pending" and task["skip_recent"] is True
    done = await gw.finished(task["id"])
    progress = done["progress"]
    assert done["state"] == "completed"
    assert (progress["total"], progress["sent"], progress["skipped"]) == (10, 7, 3)
    assert progress["by_reason"]["skipped"] == {"recently_touched": 3}
    assert sum(progress[s] for s in ("pending", "queued", "rejected", "failed", "cancelled")) == 0
    assert sent_to(fake) == Counter(ext[3:10])
    tid = task["id"]
    skipped = await gw.api("GET", f"/mass-tasks/{tid}/results?status=skipped&limit=2")
    assert [r["customer_id"] for r in skipped["items"]] == ids[:2]
    cursor = skipped["next_cursor"]
    rest = await gw.api("GET", f"/mass-tasks/{tid}/results?status=skipped&cursor={cursor}")
    assert [r["customer_id"] for r in rest["items"]] == [ids[2]] and rest["next_cursor"] is None
    sent = await gw.api("GET", f"/mass-tasks/{tid}/results?status=sent")
    assert {r["request_id"] for r in sent["items"]} == {f"mass:{tid}:{i}" for i in ids[3:10]}
    assert all(topology.receipts[f"mass:{tid}:{i}"][0]["sender"] == f"advisor:{amy}"
               for i in ids[3:10])  # fmt: skip

    audience = [ids[0], ids[12], others[0], "douyin:nobody:x"]
    second = await gw.api(
        "POST", "/mass-tasks", gw.task(amy, customer_ids=audience, skip_recent=False), status=201
    )
    progress = (await gw.finished(second["id"]))["progress"]
    counts = tuple(progress[k] for k in ("total", "sent", "rejected", "skipped"))
    assert counts == (4, 1, 1, 2)
    assert progress["by_reason"]["rejected"] == {"quota_exhausted": 1}
    assert progress["by_reason"]["skipped"] == {"not_bound": 2}
    rejected = await gw.api("GET", f"/mass-tasks/{second['id']}/results?status=rejected")
    assert [r["customer_id"] for r in rejected["items"]] == [ids[0]]
    assert sent_to(fake) == Counter([*ext[3:10], ext[12]])

    await gw.api("PATCH", f"/mass-tasks/{tid}", {"skip_recent": False}, status=409)
    await gw.api("POST", f"/mass-tasks/{tid}/_cancel", status=409)
    listed = await gw.api("GET", f"/mass-tasks?advisor_id={amy}&limit=1")
    assert [t["id"] for t in listed["items"]] == [second["id"]]
    older = await gw.api("GET", f"/mass-tasks?advisor_id={amy}&cursor={listed['next_cursor']}")
    assert [t["id"] for t in older["items"]] == [tid]


async def test_update_while_pending_cancel_and_validation(
    gateways: Callable[..., Gateway], platform: tuple[FakePlatform, str]
) -> None:
    """A scheduled task changes until it starts, cancel stops a running expansion, and bad
    bodies, unknown ids and late changes are refused 422, 404 and 409."""
    fake, base = platform
    fake.delay = 0.15
    gw = gateways(douyin(base), batch_size=2, max_in_flight=2)
    await gw.start()
    amy = await gw.advisor("amy")
    ext = [f"c{n:02d}{gw.account}" for n in range(12)]
    ids = await gw.customers(amy, ext)

    later = gw.task(amy, customer_ids=ids[:2], start_at=time.time() + 3600)
    task = await gw.api("POST", "/mass-tasks", later, status=201)
    material = {"kind": "text", "content": {"text": " 新文案 "}, "context": CONTEXT}
    patch = {"material": material, "customer_ids": ids[:3]}
    changed = await gw.api("PATCH", f"/mass-tasks/{task['id']}", patch)
    assert changed["material"]["content"] == {"text": "新文案"}
    assert (changed["progress"]["total"], changed["customer_count"]) == (3, 3)
    cancelled = await gw.api("POST", f"/mass-tasks/{task['id']}/_cancel")
    assert (cancelled["state"], cancelled["progress"]["cancelled"]) == ("cancelled", 3)
    await gw.api("PATCH", f"/mass-tasks/{task['id']}", {"skip_recent": False}, status=409)
    await gw.api("POST", f"/mass-tasks/{task['id']}/_cancel", status=409)

    running = await gw.api("POST", "/mass-tasks", gw.task(amy, filter={}), status=201)
    await wait(lambda: sum(sent_to(fake).values()) >= 2)
    stopped = await gw.api("POST", f"/mass-tasks/{running['id']}/_cancel")
    assert stopped["state"] == "cancelled"
    final = (await gw.finished(running["id"]))["progress"]
    assert final["total"] == 12 and final["pending"] == 0 and final["cancelled"] >= 6
    assert final["sent"] + final["cancelled"] == 12
    await asyncio.sleep(0.5)  # nothing more goes out
    page = await gw.api("GET", f"/mass-tasks/{running['id']}/results?status=sent")
    sent = {r["customer_id"] for r in page["items"]}
    assert sent_to(fake) == Counter(e for e in ext if gw.customer(e) in sent)

    good = gw.task(amy, filter={"tag": "vip"})
    await gw.api("POST", "/mass-tasks", {**good, "customer_ids": ids[:1]}, status=422)
    bad_material = {"kind": "text", "content": {"media_id": "m1"}}
    await gw.api("POST", "/mass-tasks", {**good, "material": bad_material}, status=422)
    too_many = [f"douyin:{gw.account}:{n}" for n in range(15_001)]
    await gw.api("POST", "/mass-tasks", {**good, "filter": None, "customer_ids": too_many}, 422)
    await gw.api("POST", "/mass-tasks", {**good, "account": "nope"}, status=422)
    await gw.api("POST", "/mass-tasks", {**good, "filter": {"tag_kind": "level"}}, status=422)
    await gw.api("POST", "/mass-tasks", {**good, "advisor_id": "ghost"}, status=404)
    await gw.api("GET", "/mass-tasks/mt-unknown", status=404)
    await gw.api("GET", "/mass-tasks/mt-unknown/results", status=404)
    await gw.api("POST", "/mass-tasks/mt-unknown/_cancel", status=404)
    await gw.api("GET", "/mass-tasks?state=bogus", status=422)


async def test_restart_mid_expansion_sends_each_message_once(
    gateways: Callable[..., Gateway], platform: tuple[FakePlatform, str], engine: AsyncEngine
) -> None:
    """A stopped gateway and a worker that died between queueing and publishing a batch (of a
    running and of a since-cancelled task) leave nothing unsent and nothing sent twice."""
    fake, base = platform
    fake.delay = 0.1
    gw = gateways(douyin(base), batch_size=2, max_in_flight=2)
    client = await gw.start()
    amy, ben = await gw.advisor("amy"), await gw.advisor("ben")
    ext = [f"r{n:02d}{gw.account}" for n in range(12)]
    await gw.customers(amy, ext)
    ben_ext = [f"s{n:02d}{gw.account}" for n in range(3)]
    ben_ids = await gw.customers(ben, ben_ext)
    task = await gw.api("POST", "/mass-tasks", gw.task(amy, filter={}), status=201)
    await wait(lambda: sum(sent_to(fake).values()) >= 2)
    await client.close()

    ledger, store = Ledger(engine), MassStore(engine)
    run = await ledger.lease(task["id"], "crashed-worker", seconds=0.0)
    assert run is not None and run.state == "running"
    batch = await ledger.claim(run, "crashed-worker", size=2, since=0.0, window=0.0, lease=0.0)
    assert batch is not None and len(batch.queued) == 2  # queued, never published
    assert sum(sent_to(fake).values()) < 12
    body = gw.task(ben)
    other = await store.create(
        NewTask(new_task_id(), ben, "douyin", gw.account, body["material"], {"explicit": 3},
                ben_ids, skip_recent=False, start_at=0.0)
    )  # fmt: skip
    assert await ledger.lease(other["id"], "crashed-worker", seconds=0.0) is not None
    assert await ledger.start(other["id"], "crashed-worker")
    run = await ledger.lease(other["id"], "crashed-worker", seconds=0.0)
    assert run is not None
    assert await ledger.claim(run, "crashed-worker", size=2, since=0.0, window=0.0, lease=0.0)
    assert (await store.cancel(other["id"]))["progress"]["queued"] == 2

    await gw.start()
    done = await gw.finished(task["id"])
    assert (done["state"], done["progress"]["sent"], done["progress"]["total"]) == (
        "completed", 12, 12,
    )  # fmt: skip
    cancelled = (await gw.finished(other["id"]))["progress"]
    assert (cancelled["sent"], cancelled["cancelled"]) == (2, 1)
    assert sent_to(fake) == Counter(ext + ben_ext[:2])
