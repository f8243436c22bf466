"""`OutboundSender`: consumes ``kefu.outbound`` and hands each message to the processor.

- Prefetch bounds the messages in flight per process. A message is acked only after its outcome
  is durable (stored, receipt confirmed); infrastructure failures (database, broker) requeue it
  after a pause (the queue's ``x-delivery-limit`` dead-letters a message that keeps failing).
- Per-customer ordering: messages of one lane (platform:account:customer) are processed one at a
  time in delivery order, retries included; different customers proceed concurrently.
- `close(timeout)`: stop consuming, let in-flight messages finish (up to `timeout`; the rest are
  cancelled and, unacked, redelivered later), then close the channels and the HTTP session.

`start_sender` builds everything from the gateway's resources; call it from a cleanup context.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable

import aio_pika
import aiohttp
import structlog
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue
from aio_pika.abc import AbstractRobustConnection as Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.accounts import Accounts
from gateway.broker.publisher import CONNECTION_ERRORS
from gateway.broker.topology import declare_topology
from gateway.errors import GatewayError, StoreError
from gateway.outbound.amqp import AmqpSink
from gateway.outbound.clients import Transport, build_clients
from gateway.outbound.config import SenderConfig
from gateway.outbound.flow import Backoff, Lanes, RateLimits
from gateway.outbound.policy import BindingLookup, PolicyGuard
from gateway.outbound.process import Invalid, OutboundProcessor, Verdict, parse
from gateway.outbound.schema import OutboundMessage
from gateway.store.outbound import OutboundStore
from rules.engine import RuleSet

__all__ = ["OutboundSender", "start_sender"]

log = structlog.get_logger("gateway.outbound")

REQUEUE_PAUSE = 1.0
_INFRASTRUCTURE: tuple[type[BaseException], ...] = (GatewayError, *CONNECTION_ERRORS)


class OutboundSender:
    def __init__(
        self,
        *,
        channel: AbstractChannel,
        queue: str,
        processor: OutboundProcessor,
        prefetch: int,
        store: OutboundStore | None = None,
        purge_interval: float = 300.0,
        closers: tuple[Callable[[], Awaitable[object]], ...] = (),
    ) -> None:
        self.processor = processor
        self.store = store  #: also for the inbound pipeline's `customer_action` (reply windows)
        self._channel = channel
        self._queue_name = queue
        self._prefetch = prefetch
        self._purge_interval = purge_interval
        self._closers = closers
        self._lanes = Lanes()
        self._inflight: set[asyncio.Task[object]] = set()
        self._queue: AbstractQueue | None = None
        self._tag: str | None = None
        self._purger: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def in_flight(self) -> int:
        return len(self._inflight)

    async def start(self) -> None:
        await self._channel.set_qos(prefetch_count=self._prefetch)
        self._queue = await self._channel.get_queue(self._queue_name, ensure=True)
        self._tag = await self._queue.consume(self._on_message)
        if self.store is not None:
            self._purger = asyncio.create_task(self._purge_forever(self.store))
        log.info("outbound.started", queue=self._queue_name, prefetch=self._prefetch)

    async def close(self, timeout: float) -> None:
        """Stop consuming, finish in-flight messages (up to `timeout`), then release everything."""
        if self._closing:
            return
        self._closing = True
        if self._queue is not None and self._tag is not None:
            # bounded: with RabbitMQ unreachable the robust channel would wait for it forever
            with contextlib.suppress(*CONNECTION_ERRORS, TimeoutError):
                async with asyncio.timeout(min(timeout, 1.0)):
                    await self._queue.cancel(self._tag)
        pending = {task for task in self._inflight if not task.done()}
        if pending:
            _, pending = await asyncio.wait(pending, timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if self._purger is not None:
            self._purger.cancel()
            await asyncio.gather(self._purger, return_exceptions=True)
        for close in (self._channel.close, *self._closers):
            with contextlib.suppress(*CONNECTION_ERRORS):
                await close()
        log.info("outbound.closed", abandoned=len(pending))

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        if self._closing:  # delivered after the cancel: left unacked, redelivered later
            return
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
        try:
            parsed = parse(message.body)
            lane = parsed.lane if isinstance(parsed, OutboundMessage) else "invalid"
            async with self._lanes.hold(lane):
                await self._settle(message, parsed)
        finally:
            if task is not None:
                self._inflight.discard(task)

    async def _settle(
        self, message: AbstractIncomingMessage, parsed: OutboundMessage | Invalid
    ) -> None:
        try:
            verdict: Verdict = await self.processor.handle(message.body, parsed)
        except _INFRASTRUCTURE as exc:
            log.warning("outbound.requeue", error=str(exc), error_type=type(exc).__name__)
            await asyncio.sleep(REQUEUE_PAUSE)
            verdict = "requeue"
        except Exception as exc:  # a bug: keep consuming; the delivery limit bounds the loop
            log.exception("outbound.crashed", error_type=type(exc).__name__)
            verdict = "requeue"
        with contextlib.suppress(*CONNECTION_ERRORS, aio_pika.exceptions.MessageProcessError):
            if verdict == "ack":
                await message.ack()
            else:
                await message.nack(requeue=True)

    async def _purge_forever(self, store: OutboundStore) -> None:
        while True:
            await asyncio.sleep(self._purge_interval)
            try:
                purged = await store.purge()
            except StoreError as exc:
                log.warning("outbound.purge_failed", error=str(exc))
            else:
                if purged:
                    log.info("outbound.purged", rows=purged)


async def start_sender(
    connection: Connection,
    engine: AsyncEngine,
    accounts: Accounts,
    rules: Callable[[], RuleSet],
    bindings: BindingLookup,
    config: SenderConfig | None = None,
    *,
    session: aiohttp.ClientSession | None = None,
    rng: random.Random | None = None,
) -> OutboundSender:
    """Build and start the sender; the caller must `await sender.close(timeout)` at shutdown.

    Args:
        connection: the gateway's RabbitMQ connection (two channels are opened on it).
        engine: the store's engine (migrated: tables of revision 0004).
        accounts: the configured platform accounts (their send credentials and ``api_base``).
        rules: returns the current `RuleSet` (merchant sensitive words), e.g. ``app[RULES]``.
        bindings: who a customer is bound to.
        config: knobs (prefetch, rate, retries, timeouts, policies); defaults if None.
        session: an aiohttp session to use (not closed by the sender); a new one otherwise.
    """
    config = config or SenderConfig()
    names = config.names
    publish_channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
    consume_channel = await connection.channel()
    http = session or aiohttp.ClientSession()
    closers: tuple[Callable[[], Awaitable[object]], ...] = (publish_channel.close,)
    if session is None:
        closers = (*closers, http.close)
    try:
        await declare_topology(publish_channel)
        receipts = await publish_channel.get_exchange(names.receipts, ensure=True)
        dlx = await publish_channel.get_exchange(names.dlx, ensure=True)
        store = OutboundStore(
            engine,
            rules=config.policies.of,
            request_ttl=config.request_ttl,
            stale_after=config.stale_after,
        )
        guard = PolicyGuard(store=store, policies=config.policies, rules=rules, bindings=bindings)
        transport = Transport(http, config.http_timeout)
        processor = OutboundProcessor(
            store=store,
            guard=guard,
            clients=build_clients(accounts, transport, token_margin=config.token_margin),
            limits=RateLimits(config.rate_per_second, config.burst, config.account_rates),
            backoff=Backoff(config.attempts, config.backoff_base, config.backoff_cap),
            sink=AmqpSink(receipts, dlx, timeout=config.publish_timeout),
            busy_wait=config.stale_after + config.busy_poll,
            busy_poll=config.busy_poll,
            source_queue=names.queue,
            rng=rng,
        )
        sender = OutboundSender(
            channel=consume_channel,
            queue=names.queue,
            processor=processor,
            prefetch=config.prefetch,
            store=store,
            purge_interval=config.purge_interval,
            closers=closers,
        )
        await sender.start()
    except BaseException:
        for close in (consume_channel.close, *closers):
            with contextlib.suppress(*CONNECTION_ERRORS):
                await close()
        raise
    return sender
