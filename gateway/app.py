"""Composition root: builds the aiohttp application from settings and accounts.

Resources are acquired and released in `cleanup_ctx` generators — store, then broker (publisher,
control bus, rules), then the Taobao TMC clients — and torn down in reverse order after in-flight
requests have finished (aiohttp's graceful shutdown).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog
from aiohttp import web

from adapters.base import Clock, utc_now
from gateway.accounts import Accounts, TaobaoAccount
from gateway.admin.advisors_api import add_advisor_routes
from gateway.admin.auth import API_PREFIX, admin_auth_middleware
from gateway.admin.dead_api import add_dead_letter_routes
from gateway.admin.mass_api import add_mass_routes
from gateway.admin.records_api import add_records_routes
from gateway.admin.rules_api import add_rules_routes
from gateway.admin.stats_api import add_stats_routes
from gateway.assignment import CONTROL_TOPIC as ADVISORS_TOPIC
from gateway.assignment import AdvisorRouter, Effects
from gateway.broker.control import ControlBus, ControlHandler
from gateway.broker.publisher import AmqpPublisher, LinkPublisher, Publisher, connect
from gateway.broker.topology import OUTBOUND, OUTBOUND_KEY
from gateway.errors import PublishError, StoreError
from gateway.health import healthz, metrics, readyz
from gateway.ingest import Ingest
from gateway.keys import (
    ACCOUNTS,
    ADAPTERS,
    ADVISOR_STORE,
    BINDING_STORE,
    CONNECTION,
    CONTROL,
    DEDUP,
    ENGINE,
    INGEST,
    METRICS,
    NOTIFY,
    OUTBOUND_SENDER,
    OUTBOX,
    PUBLISHER,
    RECORDS,
    RULES,
    RULES_STORE,
    SETTINGS,
    STATS,
    TMC_CLIENTS,
    Notify,
)
from gateway.mass.wiring import mass_ctx
from gateway.metrics import Metrics
from gateway.middleware import error_middleware, metrics_middleware, request_id_middleware
from gateway.models import Envelope, Message, Platform, PlatformEvent
from gateway.outbound.config import SenderConfig
from gateway.outbound.policy import PolicyBook
from gateway.outbound.schema import OutboundMessage
from gateway.outbound.sender import start_sender
from gateway.recorder import InboundRecords, Recorder
from gateway.registry import build_adapters
from gateway.rules_state import CONTROL_TOPIC, RulesState
from gateway.settings import Settings
from gateway.store.advisors import AdvisorStore
from gateway.store.bindings import BindingStore
from gateway.store.dedup import DedupStore, Rider
from gateway.store.engine import create_engine, migrate
from gateway.store.outbound import OutboundStore
from gateway.store.outbox import OutboxStore
from gateway.store.records import RecordsStore
from gateway.store.rules import RulesStore
from gateway.store.stats import StatsStore
from gateway.store.writer import writer_for
from gateway.tmc import TmcClient
from gateway.webhooks import webhook
from normalizer.normalize import Masker, Normalizer
from normalizer.pii import MaskPolicy, PiiMasker

__all__ = ["build_masker", "create_app"]

log = structlog.get_logger("gateway.app")

PURGE_INTERVAL = 300.0
RULES_CHECK_INTERVAL = 30.0
ADVISOR_CACHE_TTL = 60.0
OUTBOX_DRAIN_INTERVAL = 0.5
STATS_CATCH_UP_INTERVAL = 30.0  # the rollup folds in queued record changes (queries catch up first)
ADMIN_MAX_BODY = 16 * 1024 * 1024  # bulk imports; webhooks enforce GATEWAY_MAX_BODY_BYTES


def build_masker(settings: Settings) -> PiiMasker:
    if settings.pii_key is not None:
        key = settings.pii_key.get_secret_value().encode()
        return PiiMasker(MaskPolicy(mode="pseudonym", key=key))
    return PiiMasker()


def create_app(
    settings: Settings,
    accounts: Accounts,
    *,
    clock: Clock = utc_now,
    masker: Masker | None = None,
) -> web.Application:
    """The gateway application; nothing connects until the app starts."""
    admin_token = settings.admin_token.get_secret_value() if settings.admin_token else None
    app_metrics = Metrics()
    app = web.Application(
        middlewares=[
            request_id_middleware,
            metrics_middleware(app_metrics),
            error_middleware,
            admin_auth_middleware(admin_token),
        ],
        client_max_size=max(settings.max_body_bytes, ADMIN_MAX_BODY),
    )
    app[SETTINGS] = settings
    app[METRICS] = app_metrics
    app[ACCOUNTS] = accounts
    app[ADAPTERS] = build_adapters(accounts, settings, clock)
    normalize = Normalizer(masker or build_masker(settings), clock)

    async def store_ctx(app: web.Application) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url.get_secret_value())
        # One writer (on SQLite: its own process) for the dedup flushes and the stats catch-up.
        writer = writer_for(engine)
        try:
            await writer.start()  # on SQLite its process: it starts while the migrations run
            await migrate(engine)
            app[ENGINE] = engine
            app[DEDUP] = DedupStore(
                engine,
                ttl=settings.dedup_ttl,
                stale_after=max(2 * settings.publish_timeout, 10.0),
                writer=writer,
            )
            app[RULES_STORE] = RulesStore(engine)
            app[ADVISOR_STORE] = AdvisorStore(engine)
            app[BINDING_STORE] = BindingStore(engine)
            app[OUTBOX] = OutboxStore(engine, max_rows=settings.outbox_max)
            app[RECORDS] = RecordsStore(engine)
            app[STATS] = StatsStore(engine, writer=writer)
            await app[OUTBOX].depth()
            app[RULES] = RulesState(app[RULES_STORE])
            await app[RULES].reload()
            async with _background(
                _every(PURGE_INTERVAL, _purge(app[DEDUP])),
                _every(STATS_CATCH_UP_INTERVAL, _catch_up(app[STATS])),
                app[RULES].watch(RULES_CHECK_INTERVAL),
            ):
                yield
        finally:
            if DEDUP in app:
                await app[DEDUP].flush()  # done marks still queued (a failure is logged)
            await writer.close()
            await engine.dispose()

    async def broker_ctx(app: web.Application) -> AsyncIterator[None]:
        connection = await connect(settings.amqp_url.get_secret_value())
        recorder: Recorder | None = None
        inbound_records = InboundRecords(app[DEDUP])
        try:
            timeout = settings.publish_timeout
            # The topology is declared on this aio-pika connection first; the webhook path then
            # publishes on its own lean link (gateway.broker.link).
            replies = await AmqpPublisher.open(connection, timeout=timeout, exchange=OUTBOUND)
            app[PUBLISHER] = publisher = await LinkPublisher.open(
                settings.amqp_url.get_secret_value(), timeout=timeout
            )
            app[CONTROL] = control = await ControlBus.open(await connection.channel())
            control.subscribe(CONTROL_TOPIC, _reload_rules(app[RULES]))
            app[NOTIFY] = notify = _notifier(publisher)

            async def announce(key: str) -> None:
                await control.announce(ADVISORS_TOPIC, 0, key)

            router = AdvisorRouter(
                app[ADVISOR_STORE],
                app[BINDING_STORE],
                Effects(reply=_replier(replies), notify=notify, announce=announce),
            )
            control.subscribe(ADVISORS_TOPIC, router.invalidate)
            app[CONNECTION] = connection
            recorder = await Recorder.open(app[RECORDS], await connection.channel())
            on_action = None
            if settings.outbound_enabled:
                app[OUTBOUND_SENDER] = await start_sender(
                    connection,
                    app[ENGINE],
                    accounts,
                    app[RULES],
                    app[BINDING_STORE],
                    _sender_config(settings),
                )
                store = app[OUTBOUND_SENDER].store
                assert store is not None  # start_sender always gives its sender a store
                on_action = _window_opener(store)
            app[INGEST] = Ingest(
                normalize=normalize,
                dedup=app[DEDUP],
                publisher=publisher,
                rules=app[RULES],
                router=router.route,
                metrics=app_metrics,
                outbox=app[OUTBOX],
                customer_action=on_action,
                record=inbound_records.add,
            )
            log.info(
                "gateway.started",
                accounts=len(accounts),
                webhooks=len(app[ADAPTERS]),
                rules_revision=app[RULES].current.version,
            )
            # a lost invalidation cannot keep a stale binding longer than this
            async with _background(
                _every(ADVISOR_CACHE_TTL, router.expire),
                _every(OUTBOX_DRAIN_INTERVAL, _drain(app[INGEST], publisher)),
                _every(PURGE_INTERVAL, _purge_records(app[RECORDS], settings)),
            ):
                yield
        finally:
            if INGEST in app:
                await app[INGEST].close(timeout=min(settings.publish_timeout, 5.0))
            inbound_records.post()  # written by the dedup store's last flush (store_ctx)
            if recorder is not None:
                await recorder.close()
            if OUTBOUND_SENDER in app:
                await app[OUTBOUND_SENDER].close(timeout=settings.shutdown_timeout)
            if PUBLISHER in app:
                await app[PUBLISHER].close()
            await connection.close()

    async def tmc_ctx(app: web.Application) -> AsyncIterator[None]:
        ingest = app[INGEST]

        async def on_event(event: PlatformEvent) -> None:
            await ingest.process(event)

        clients = [
            TmcClient(
                url=a.tmc_url,
                app_key=a.app_key,
                app_secret=a.app_secret.get_secret_value(),
                group=a.tmc_group,
                account=a.name,
                on_event=on_event,
                max_json_depth=settings.max_json_depth,
            )
            for a in accounts.of(Platform.TAOBAO)
            if isinstance(a, TaobaoAccount)
        ]
        app[TMC_CLIENTS] = clients
        for client in clients:
            await client.start()
        try:
            yield
        finally:
            for client in clients:
                await client.close(timeout=settings.shutdown_timeout)

    app.cleanup_ctx.extend([store_ctx, broker_ctx, tmc_ctx])
    app.cleanup_ctx.append(mass_ctx)  # mass-send worker and receipts, dead-letter admin
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_route("GET", "/webhooks/{platform}/{account}", webhook)
    app.router.add_route("POST", "/webhooks/{platform}/{account}", webhook)
    add_rules_routes(app, API_PREFIX)
    add_advisor_routes(app, API_PREFIX)
    add_records_routes(app, API_PREFIX)
    add_stats_routes(app, API_PREFIX)
    add_mass_routes(app, API_PREFIX)
    add_dead_letter_routes(app, API_PREFIX)
    return app


def _reload_rules(state: RulesState) -> ControlHandler:
    async def handler(revision: int, _key: str | None) -> None:
        await state.reload(revision)

    return handler


def _notifier(publisher: Publisher) -> Notify:
    """Advisor-app notifications: `gateway.notification/1` on ``event.gateway.<type>``."""

    async def notify(kind: str, data: dict[str, Any]) -> None:
        now = datetime.now(UTC)
        doc = {"schema": "gateway.notification/1", "type": kind, "at": now.isoformat(), **data}
        body = orjson.dumps(doc)
        digest = hashlib.sha256(body).hexdigest()[:32]
        await publisher.publish(
            Envelope(
                f"event.gateway.{kind}", digest, body, {"kind": "notification", "type": kind}, now
            )
        )

    return notify


def _replier(publisher: AmqpPublisher) -> Callable[[OutboundMessage], Awaitable[None]]:
    """Queue a `gateway.outbound/1` message on ``kefu.outbound`` (message id = request id)."""

    async def reply(message: OutboundMessage) -> None:
        await publisher.publish(
            Envelope(
                OUTBOUND_KEY,
                message.request_id,
                message.to_json(),
                {"sender": message.sender},
                datetime.now(UTC),
            )
        )

    return reply


def _sender_config(settings: Settings) -> SenderConfig:
    policies = (
        PolicyBook.from_json(settings.outbound_policy)
        if settings.outbound_policy
        else PolicyBook.defaults()
    )
    return SenderConfig(
        prefetch=settings.outbound_prefetch,
        rate_per_second=settings.outbound_rate,
        burst=settings.outbound_burst,
        attempts=settings.outbound_attempts,
        backoff_base=settings.outbound_backoff_base,
        backoff_cap=settings.outbound_backoff_cap,
        http_timeout=settings.outbound_http_timeout,
        publish_timeout=settings.publish_timeout,
        policies=policies,
    )


def _window_opener(store: OutboundStore) -> Callable[[Message], tuple[Rider, Any]]:
    """A customer-initiated action opens (or renews) the reply window: written with the claim."""

    def opened(message: Message) -> tuple[Rider, Any]:
        return store.customer_action(
            message.platform.value, message.account, message.customer.id, message.sent_at
        )

    return opened


def _purge_records(store: RecordsStore, settings: Settings) -> Callable[[], Awaitable[None]]:
    async def purge() -> None:
        retention = settings.records_retention_days * 86400
        while (purged := await store.purge(retention)) > 0:
            log.info("records.purged", rows=purged)

    return purge


def _drain(ingest: Ingest, publisher: LinkPublisher) -> Callable[[], Awaitable[None]]:
    async def drain() -> None:
        if publisher.ready:
            drained = await ingest.drain_outbox()
            if drained:
                log.info("outbox.drained", messages=drained)

    return drain


def _catch_up(stats: StatsStore) -> Callable[[], Awaitable[None]]:
    async def catch_up() -> None:
        await stats.catch_up()

    return catch_up


def _purge(dedup: DedupStore) -> Callable[[], Awaitable[None]]:
    async def purge() -> None:
        purged = await dedup.purge_expired()
        if purged:
            log.info("dedup.purged", rows=purged)

    return purge


async def _every(interval: float, job: Callable[[], Awaitable[None]]) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await job()
        except (StoreError, PublishError) as exc:
            log.warning(
                "background.failed", job=getattr(job, "__qualname__", "job"), error=str(exc)
            )


@contextlib.asynccontextmanager
async def _background(*jobs: Awaitable[None]) -> AsyncIterator[None]:
    """Run coroutines as tasks for the duration of the block; cancel and await them after."""
    tasks = [asyncio.ensure_future(job) for job in jobs]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
