"""The tools of the fault tests: a platform that retries, a ledger that counts what reaches
RabbitMQ, gateway processes to kill, and the one-line report.

- `Platform` sends callbacks like WeChat and Doudian do: every callback not answered 200 is sent
  again (byte for byte: same query, nonce, timestamp and body) until it is, and the test can send
  answered ones again to check dedup. It records every attempt and which callbacks had a request
  in flight at any moment (`snapshot`).
- `Ledger` is an exclusive queue bound to every routing key of ``kefu.inbound`` that records each
  copy of a test's messages with its arrival time and AMQP ``message_id``.
- `GatewayProcess` runs ``python -m gateway serve`` (as test_cli.py does) and can SIGKILL it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
import tomllib
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
import orjson
from aio_pika.abc import AbstractIncomingMessage

from gateway.accounts import Accounts, parse_accounts
from gateway.broker.topology import INBOUND, declare_topology
from tests.badinput.callbacks import (
    Call,
    GatewayClient,
    doudian,
    doudian_record,
    text_xml,
    wechat_plain,
)
from tests.conftest import AMQP_URL

__all__ = [
    "FAULT_ACCOUNTS_TOML",
    "Answer",
    "Callback",
    "GatewayProcess",
    "Ledger",
    "Platform",
    "Report",
    "assert_consumer_can_dedup",
    "base_url",
    "fault_accounts",
    "free_port",
    "make_callbacks",
    "open_ledger",
]

FAULT_TOKEN = "fault_token"
FAULT_DD_KEY, FAULT_DD_SECRET = "7000000000000000077", "fault-doudian-secret"
FAULT_ACCOUNTS_TOML = f"""
[accounts.mp]
platform = "wechat"
surface = "mini_program"
token = "{FAULT_TOKEN}"
app_id = "wxfault0000000001"

[accounts.dd]
platform = "douyin"
flavor = "doudian"
app_key = "{FAULT_DD_KEY}"
app_secret = "{FAULT_DD_SECRET}"
"""
ROOT = Path(__file__).parents[2]


def fault_accounts() -> Accounts:
    """The accounts of FAULT_ACCOUNTS_TOML, for gateways run in-process."""
    return parse_accounts(tomllib.loads(FAULT_ACCOUNTS_TOML), {})


def base_url(client: GatewayClient) -> str:
    """The base URL of an in-process gateway (aiohttp test client)."""
    return str(client.make_url("")).rstrip("/")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True, slots=True)
class Answer:
    """One attempt: when it was sent and answered, where to, and the status (None: no HTTP
    answer, e.g. connection refused or reset) with the gateway's error code."""

    sent: float
    answered: float
    target: str
    status: int | None
    error: str | None = None


@dataclass(slots=True)
class Callback:
    """One platform callback; `key` is its customer id, unique, which the ledger matches on."""

    key: str
    call: Call
    answers: list[Answer] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return any(answer.status == 200 for answer in self.answers)

    def first_success(self) -> float | None:
        return next((a.answered for a in self.answers if a.status == 200), None)


def make_callbacks(tag: str, count: int) -> list[Callback]:
    """`count` callbacks, alternately a WeChat plaintext text message (account ``mp``) and a
    Doudian paid-order push (account ``dd``), each from its own customer ``<tag>-<n>``."""
    callbacks = []
    for n in range(count):
        key = f"{tag}-{n}"
        if n % 2:
            call = doudian(
                [doudian_record(key)], app_key=FAULT_DD_KEY, secret=FAULT_DD_SECRET, account="dd"
            )
        else:
            call = wechat_plain("mp", text_xml(key), token=FAULT_TOKEN)
        callbacks.append(Callback(key, call))
    return callbacks


@dataclass(frozen=True, slots=True)
class Snapshot:
    answered: frozenset[str]
    in_flight: frozenset[str]


class Platform:
    """Sends callbacks with bounded concurrency and retries each until it is answered 200."""

    def __init__(
        self,
        callbacks: Sequence[Callback],
        target: Callable[[int, int], str],
        *,
        concurrency: int = 16,
        retry_delay: float = 0.2,
        timeout: float = 10.0,
    ) -> None:
        """`target(index, attempt)` is the base URL for attempt `attempt` of callback `index`."""
        self.callbacks = list(callbacks)
        self._target = target
        self._slots = asyncio.Semaphore(concurrency)
        self._retry_delay = retry_delay
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self.in_flight: set[str] = set()
        self.answered: set[str] = set()

    def snapshot(self) -> Snapshot:
        return Snapshot(frozenset(self.answered), frozenset(self.in_flight))

    async def run(self, deadline: float) -> None:
        """Until every callback is answered 200 or the deadline (monotonic) passes."""
        async with aiohttp.ClientSession(timeout=self._timeout) as session:
            await asyncio.gather(
                *(self._deliver(session, index, deadline) for index in range(len(self.callbacks)))
            )

    async def wait_answered(self, count: int, timeout: float = 30.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.answered) < count:
                await asyncio.sleep(0.005)

    async def resend(self, callbacks: Iterable[Callback], target: Callable[[int], str]) -> None:
        """Send each of `callbacks` once more (a platform retrying after a lost answer)."""
        async with aiohttp.ClientSession(timeout=self._timeout) as session:
            for callback in callbacks:
                index = self.callbacks.index(callback)
                await self._attempt(session, callback, target(index))

    async def _deliver(self, session: aiohttp.ClientSession, index: int, deadline: float) -> None:
        callback = self.callbacks[index]
        attempt = 0
        while not callback.succeeded and time.monotonic() < deadline:
            async with self._slots:
                await self._attempt(session, callback, self._target(index, attempt))
            attempt += 1
            if not callback.succeeded:
                await asyncio.sleep(self._retry_delay)

    async def _attempt(
        self, session: aiohttp.ClientSession, callback: Callback, base: str
    ) -> Answer:
        call = callback.call
        sent = time.monotonic()
        self.in_flight.add(callback.key)
        status: int | None = None
        error: str | None = None
        try:
            async with session.post(
                f"{base}/webhooks/{call.path}",
                params=list(call.query),
                headers=dict(call.headers),
                data=call.body,
            ) as response:
                status = response.status
                if status != 200:
                    body = orjson.loads(await response.read())
                    error = str(body.get("error")) if isinstance(body, dict) else None
        except (aiohttp.ClientError, TimeoutError, ConnectionError, orjson.JSONDecodeError) as exc:
            error = type(exc).__name__
        finally:
            self.in_flight.discard(callback.key)
        answer = Answer(sent, time.monotonic(), base, status, error)
        callback.answers.append(answer)
        if status == 200:
            self.answered.add(callback.key)
        return answer


@dataclass(frozen=True, slots=True)
class Copy:
    """One message that reached RabbitMQ."""

    arrived: float
    key: str
    message_id: str | None
    doc_id: str
    routing_key: str


class Ledger:
    """Every copy of the test's messages (customers starting with `tag`) that reached
    ``kefu.inbound``, in arrival order."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.copies: list[Copy] = []

    def of(self, key: str) -> list[Copy]:
        return [copy for copy in self.copies if copy.key == key]

    def counts(self) -> Counter[str]:
        return Counter(copy.key for copy in self.copies)

    async def wait_for(self, keys: Iterable[str], timeout: float = 20.0) -> None:
        wanted = set(keys)
        async with asyncio.timeout(timeout):
            while not wanted <= set(self.counts()):
                await asyncio.sleep(0.02)

    async def settle(self, quiet: float = 0.5) -> None:
        """Wait until nothing new arrived for `quiet` seconds."""
        count = -1
        while count != len(self.copies):
            count = len(self.copies)
            await asyncio.sleep(quiet)

    def record(self, message: AbstractIncomingMessage) -> None:
        """Keep `message` if it is one of this test's."""
        doc: dict[str, Any] = orjson.loads(message.body)
        key = str((doc.get("customer") or {}).get("id") or "")
        if key.startswith(self.tag):
            self.copies.append(
                Copy(
                    time.monotonic(),
                    key,
                    message.message_id,
                    str(doc.get("id")),
                    message.routing_key or "",
                )
            )


@asynccontextmanager
async def open_ledger(tag: str) -> AsyncIterator[Ledger]:
    connection = await aio_pika.connect(AMQP_URL)
    ledger = Ledger(tag)
    async with connection:
        channel = await connection.channel()
        await declare_topology(channel)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(INBOUND, routing_key="#")

        async def on_message(message: AbstractIncomingMessage) -> None:
            ledger.record(message)
            await message.ack()

        await queue.consume(on_message)
        yield ledger


@dataclass
class Report:
    """What a fault run did, as counted from outside the gateway."""

    name: str
    callbacks: int
    attempts: int
    success_answers: int
    on_queue: int
    unique: int
    duplicated: dict[str, int]
    lost: list[str]
    notes: dict[str, object] = field(default_factory=dict)

    @classmethod
    def of(
        cls, name: str, callbacks: Sequence[Callback], ledger: Ledger, **notes: object
    ) -> Report:
        counts = ledger.counts()
        return cls(
            name=name,
            callbacks=len(callbacks),
            attempts=sum(len(c.answers) for c in callbacks),
            success_answers=sum(1 for c in callbacks for a in c.answers if a.status == 200),
            on_queue=sum(counts.values()),
            unique=len(counts),
            duplicated={key: n for key, n in counts.items() if n > 1},
            lost=[c.key for c in callbacks if not c.succeeded or not counts[c.key]],
            notes=dict(notes),
        )

    def line(self) -> str:
        extra = "".join(f", {k} {v}" for k, v in self.notes.items())
        return (
            f"[{self.name}] callbacks {self.callbacks}, attempts {self.attempts}, "
            f"success answers {self.success_answers}, on RabbitMQ {self.on_queue} "
            f"({self.unique} unique), duplicated {len(self.duplicated)} "
            f"(+{sum(self.duplicated.values()) - len(self.duplicated)} copies), "
            f"lost {len(self.lost)}{extra}"
        )


def assert_consumer_can_dedup(callbacks: Sequence[Callback], ledger: Ledger) -> None:
    """Every copy of a callback's message carries the same AMQP message_id, equal to the body's
    `id`, and different callbacks never share one: deduplicating on message_id leaves exactly one
    message per callback."""
    ids: dict[str, set[str | None]] = {}
    for copy in ledger.copies:
        assert copy.message_id == copy.doc_id, copy
        ids.setdefault(copy.key, set()).add(copy.message_id)
    assert all(len(found) == 1 for found in ids.values()), ids
    distinct = {next(iter(found)) for found in ids.values()}
    assert len(distinct) == len(ids) == len({c.key for c in callbacks})


class GatewayProcess:
    """``python -m gateway serve`` on a fixed port; started, SIGKILLed, restarted, stopped."""

    def __init__(self, name: str, *, database_url: str, config: Path, logs: Path) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._logs = logs
        self._env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        self._env.update(
            {
                "GATEWAY_HOST": "127.0.0.1",
                "GATEWAY_PORT": str(self.port),
                "GATEWAY_AMQP_URL": AMQP_URL,
                "GATEWAY_DATABASE_URL": database_url,
                "GATEWAY_CONFIG": str(config),
                "GATEWAY_PUBLISH_TIMEOUT": "2",
                "GATEWAY_SHUTDOWN_TIMEOUT": "5",
            }
        )
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0

    async def start(self, timeout: float = 30.0) -> None:
        """Start and wait until /readyz answers 200."""
        self.starts += 1
        log = self._logs / f"{self.name}-{self.starts}.log"
        with log.open("wb") as out:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "gateway",
                "serve",
                cwd=ROOT,
                env=self._env,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as session:
            while time.monotonic() < deadline:
                if self.process.returncode is not None:
                    break
                try:
                    async with session.get(f"{self.url}/readyz") as response:
                        if response.status == 200:
                            return
                except (aiohttp.ClientError, TimeoutError):
                    pass
                await asyncio.sleep(0.1)
        await self.kill()
        raise AssertionError(f"{self.name} did not become ready:\n{log.read_text()[-3000:]}")

    async def kill(self) -> None:
        """SIGKILL: no graceful shutdown, in-flight requests die with the process."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()

    async def stop(self) -> int | None:
        """SIGTERM and wait for the graceful exit; its exit code."""
        if self.process is None:
            return None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(15):
                    await self.process.wait()
            except TimeoutError:
                await self.kill()
        return self.process.returncode
