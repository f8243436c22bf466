"""Prometheus metrics (`/metrics`), kept in the app's own registry (no module-level state).

Names (all prefixed ``kefu_``): callbacks by platform and HTTP status, dedup hits, PII masked by
kind, rule hits by category, messages routed by target, publish latency, TMC connection state, and
the depth of the default queues (read from RabbitMQ at scrape time).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

from aio_pika.abc import AbstractChannel
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from gateway.broker.topology import DEAD, QUEUES
from gateway.models import Message
from gateway.workers import MULTIPROC_ENV

__all__ = ["Metrics"]

_QUEUES = (*(b.queue for b in QUEUES), DEAD)


class Metrics:
    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self.callbacks = Counter(
            "kefu_callbacks",
            "Platform callbacks answered, by HTTP status",
            ["platform", "status"],
            registry=registry,
        )
        self.dedup_hits = Counter(
            "kefu_dedup_hits",
            "Platform retries recognised and not published again",
            ["platform"],
            registry=registry,
        )
        self.pii_masked = Counter(
            "kefu_pii_masked",
            "Messages in which a kind of personal data was masked",
            ["kind"],
            registry=registry,
        )
        self.rule_hits = Counter(
            "kefu_rule_hits",
            "Sensitive-word hits by list category, and keyword-rule decisions",
            ["category"],
            registry=registry,
        )
        self.routed = Counter(
            "kefu_routed",
            "Messages published, by route target",
            ["platform", "target"],
            registry=registry,
        )
        self.publish_seconds = Histogram(
            "kefu_publish_seconds",
            "Time from hand-off to RabbitMQ's publisher confirm",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=registry,
        )
        self.tmc_connected = Gauge(
            "kefu_tmc_connected",
            "1 while the Taobao TMC connection of an account is up",
            ["account"],
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.outbox_depth = Gauge(
            "kefu_outbox_depth",
            "Messages waiting in the local outbox for RabbitMQ",
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.asyncio_tasks = Gauge(
            "kefu_asyncio_tasks",
            "asyncio tasks alive in a gateway process (a leak shows as steady growth)",
            registry=registry,
            multiprocess_mode="liveall",
        )
        self.queue_depth = Gauge(
            "kefu_queue_depth",
            "Messages ready in the default queues",
            ["queue"],
            registry=registry,
            multiprocess_mode="livemax",
        )

    def observe_message(self, message: Message) -> None:
        """Count what one published message carried."""
        for kind in message.pii:
            self.pii_masked.labels(kind).inc()
        for hit in message.rules.sensitive:
            self.rule_hits.labels(hit.split(":", 1)[0]).inc()
        if message.rules.action:
            self.rule_hits.labels(f"keyword_{message.rules.action}").inc()
        if message.route is not None:
            self.routed.labels(message.platform.value, message.route.target.value).inc()

    @contextmanager
    def publishing(self) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.publish_seconds.observe(time.perf_counter() - start)

    async def refresh_queue_depths(self, channel: AbstractChannel) -> None:
        for name in _QUEUES:
            queue = await channel.declare_queue(name, passive=True)
            count = queue.declaration_result.message_count
            self.queue_depth.labels(name).set(count or 0)

    def response(self) -> web.Response:
        """The exposition; with several workers (multiprocess mode) merged across them."""
        registry = self.registry
        if os.environ.get(MULTIPROC_ENV):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return web.Response(
            body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )
