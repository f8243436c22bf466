"""Inbound orchestration: adapter → normalize/mask → rules → dedup → route → confirmed publish.

The platform's success answer is returned only after every event of the callback is confirmed
by RabbitMQ (or was published before: a retry). Any failure propagates as a `GatewayError`, the
claim is released, and the caller answers an error status so the platform retries.

The synchronous stages of a webhook callback (adapter, normalize, rules) run stage by stage over
every callback started in the same event-loop iteration (`gateway.loop_batch`); from the dedup
claim on, each callback goes its own way. Rules run before the claim: they are pure, and a
retry of an answered callback (the only one the claim turns away) is rare.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

import structlog

from adapters.base import Adapter
from gateway.broker.publisher import ConfirmPending, Publisher, Unsettled
from gateway.errors import BrokerUnavailable, StoreError, Unroutable
from gateway.loop_batch import LoopBatch
from gateway.metrics import Metrics
from gateway.models import Envelope, Message, PlatformEvent, Reply, Route, WebhookRequest
from gateway.routing import route as default_route
from gateway.serialize import envelope
from gateway.store.dedup import Claim, DedupStore, Rider
from gateway.store.outbox import OutboxStore
from rules.engine import InboundDecision, RuleSet

__all__ = ["InFlight", "Ingest"]

log = structlog.get_logger("gateway.ingest")

Normalize = Callable[[PlatformEvent], Message]
Router = Callable[[Message, InboundDecision], Awaitable[Route]]
# An event of a callback, its Message and the rules' decision on it.
Prepared = tuple[PlatformEvent, Message, InboundDecision]


async def _rules_only(message: Message, decision: InboundDecision) -> Route:
    return default_route(message, decision)


def _receive(job: tuple[Adapter, WebhookRequest]) -> Sequence[PlatformEvent]:
    adapter, request = job
    return adapter.receive(request)


class InFlight(BrokerUnavailable):
    """The same message is being published by another request right now; retry later."""


class Ingest:
    def __init__(
        self,
        *,
        normalize: Normalize,
        dedup: DedupStore,
        publisher: Publisher,
        rules: Callable[[], RuleSet] | None = None,
        router: Router = _rules_only,
        metrics: Metrics | None = None,
        outbox: OutboxStore | None = None,
        customer_action: Callable[[Message], tuple[Rider, Any]] | None = None,
        record: Callable[[Envelope], None] | None = None,
    ) -> None:
        self._record = record
        self._outbox = outbox
        self._customer_action = customer_action
        self._metrics = metrics or Metrics()
        self._normalize = normalize
        empty = RuleSet.empty()
        self._rules = rules if rules is not None else lambda: empty
        self._dedup = dedup
        self._publisher = publisher
        self._router = router
        # Outboxed messages whose timed-out publish may still be confirmed.
        self._unsettled = Unsettled()
        self._prepare: LoopBatch[tuple[Adapter, WebhookRequest], list[Prepared]] = LoopBatch(
            _receive, self._normalize_all, self._decide_all
        )

    async def handle(self, adapter: Adapter, request: WebhookRequest) -> Reply:
        """Verify and parse, hand every event on, then return the platform's success reply."""
        for event, message, decision in await self._prepare((adapter, request)):
            await self._publish_once(event, message, decision)
        return adapter.ack(request)

    async def process(self, event: PlatformEvent) -> Message | None:
        """Publish one event once; None when it was a duplicate."""
        message = self._normalize(event)
        return await self._publish_once(event, message, self._decide(message))

    def _normalize_all(
        self, events: Sequence[PlatformEvent]
    ) -> list[tuple[PlatformEvent, Message]]:
        return [(event, self._normalize(event)) for event in events]

    def _decide_all(self, pairs: Sequence[tuple[PlatformEvent, Message]]) -> list[Prepared]:
        return [(event, message, self._decide(message)) for event, message in pairs]

    def _decide(self, message: Message) -> InboundDecision:
        return self._rules().inbound(message.text, message.platform.value, message.account)

    async def _publish_once(
        self, event: PlatformEvent, message: Message, decision: InboundDecision
    ) -> Message | None:
        mid = message.id
        rider = None
        if message.customer_initiated and self._customer_action is not None:
            # The reply window opens in the claim's transaction, before the message is handed
            # on (an advisor's reply must find it open).
            rider = self._customer_action(message)
        claim = await self._dedup.claim(mid, rider=rider)
        if claim is Claim.DUPLICATE:
            self._metrics.dedup_hits.labels(event.platform.value).inc()
            log.info(
                "inbound.duplicate",
                message_id=mid,
                platform=event.platform.value,
                account=event.account,
            )
            return None
        if claim is Claim.BUSY:
            raise InFlight("message is being published by another request")
        try:
            decided = await self._router(message, decision)
            routed = replace(message, rules=decision.as_rules_result(), route=decided)
            handed = envelope(routed, decided)
            await self._hand_off(handed)
        except BaseException:
            await self._dedup.release(mid)
            raise
        if self._record is not None:
            self._record(handed)
        # The message is safely on RabbitMQ: answer success now; the done mark is written with
        # the next dedup flush (this process answers a retry as a duplicate meanwhile).
        self._dedup.mark(mid)
        self._metrics.observe_message(routed)
        log.info(
            "inbound.published",
            message_id=mid,
            platform=event.platform.value,
            account=event.account,
            kind=message.kind.value,
            route=decided.target.value,
            pii=list(message.pii),
        )
        return routed

    async def _hand_off(self, env: Envelope) -> None:
        """Publish with a confirm; if RabbitMQ cannot take it, keep it in the durable outbox.
        While the outbox holds anything, new messages queue behind it to keep their order."""
        outbox = self._outbox
        if outbox is not None and outbox.enabled and outbox.waiting:
            await outbox.put(env)
            return
        try:
            with self._metrics.publishing():
                await self._publisher.publish(env)
        except Unroutable:
            raise
        except BrokerUnavailable as exc:
            if outbox is None or not outbox.enabled:
                raise
            await outbox.put(env)
            if isinstance(exc, ConfirmPending):
                # Kept durably first; if RabbitMQ confirms it after all, the copy is dropped.
                self._unsettled.add(env.message_id, exc.confirm)
            log.warning("inbound.outboxed", message_id=env.message_id)

    async def drain_outbox(self) -> int:
        """Publish what waits in the outbox (a background task calls this). While a timed-out
        publish may still be confirmed, nothing is drained: its copy would be a duplicate, and
        what queues behind it must keep its order."""
        outbox = self._outbox
        if outbox is None:
            return 0
        settled = self._unsettled.settle()
        if settled.confirmed:
            dropped = await outbox.discard(settled.confirmed)
            log.info("outbox.confirmed_late", messages=dropped)
        if settled.pending or not outbox.waiting:
            return 0
        return await outbox.drain(self._publish_tracked)

    async def _publish_tracked(self, env: Envelope) -> None:
        try:
            await self._publisher.publish(env)
        except ConfirmPending as exc:
            self._unsettled.add(env.message_id, exc.confirm)
            raise

    async def close(self, timeout: float) -> None:
        """Shutdown: give late confirms up to `timeout` seconds, drop the outbox copies of those
        that arrived, stop waiting for the rest (their copies stay and are sent after restart)."""
        if self._outbox is not None and len(self._unsettled):
            await self._unsettled.wait(timeout)
            confirmed = self._unsettled.settle().confirmed
            if confirmed:
                with contextlib.suppress(StoreError):
                    await self._outbox.discard(confirmed)
        self._unsettled.cancel()
