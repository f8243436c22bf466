"""`DeadLetters`: look into ``kefu.dead`` without losing anything; replay or discard messages.

Peeking: the messages are fetched with ``basic.get`` *without* acknowledging them on a channel of
their own, and that channel is then closed, which hands every unacknowledged message back to the
queue at its head, in order (quorum queues; measured on RabbitMQ 3.10). Closing is preferred to
``basic.nack(requeue)``, which moves the message to the back and, on RabbitMQ 4.x, counts as a
failed delivery against the queue's ``delivery-limit`` (4.x gives every quorum queue a default
limit of 20 — ``kefu.dead`` has no dead-letter exchange of its own, so a message over the limit
would be dropped). A peek still shows up in the ``x-delivery-count`` header on 3.x; operators on
4.x should set a ``delivery-limit`` of -1 (unlimited) on ``kefu.dead`` by policy.

Replay: a selected message is published (``mandatory``, publisher-confirmed) to where it came
from, and only then acknowledged, i.e. removed from ``kefu.dead``; if the publish fails the
message stays. A crash between the confirm and the ack leaves a copy in ``kefu.dead`` as well:
at-least-once; consumers deduplicate by ``message_id`` (the outbound sender by request id).
Where it came from: the first ``x-death`` entry (dead-lettered by RabbitMQ: its exchange and
routing key), else the sender's ``x-kefu-source-queue`` (``kefu.outbound`` → exchange
``kefu.outbound``, key ``outbound``; any other queue directly, through the default exchange).

One operation at a time per process (a lock): two concurrent peeks would hide messages from each
other. Operations of several gateway processes at the same moment can do the same; the API says
how many messages were looked at (``scanned``) and the queue's depth.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import aio_pika
import structlog
from aio_pika.abc import (
    AbstractChannel,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
    DeliveryMode,
)

from gateway.broker.publisher import CONNECTION_ERRORS, publish_confirmed
from gateway.broker.topology import DEAD, OUTBOUND, OUTBOUND_KEY
from gateway.errors import BrokerUnavailable, Unroutable

__all__ = ["DeadLetters", "Outcome", "letter_id", "origin_of"]

log = structlog.get_logger("gateway.dead_letters")

# Seconds a session waits, after closing its channel, for the messages it fetched and did not
# remove to be counted in the queue again, and how often it looks meanwhile.
_SETTLE_WAIT, _SETTLE_POLL = 2.0, 0.02
_MASKED_BYTES = 4096  #: masked, then cut to the preview length (a number is never cut in two)
_DROPPED_HEADERS = ("x-death", "x-first-death-", "x-last-death-", "x-delivery-count", "x-kefu-")
_SHOWN_HEADERS = (
    "x-kefu-error",
    "x-kefu-reason",
    "x-kefu-attempts",
    "x-kefu-platform-code",
    "x-kefu-source-queue",
    "x-kefu-replayed",
    "x-first-death-queue",
    "x-first-death-reason",
    "x-delivery-count",
)


@dataclass
class Outcome:
    """What a replay or discard did, by dead-letter id."""

    done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    scanned: int = 0


def letter_id(message: AbstractIncomingMessage) -> str:
    """The message id (an outbound request id, an inbound message id), else a body digest."""
    if message.message_id:
        return message.message_id
    return "sha256:" + hashlib.sha256(message.body).hexdigest()[:24]


def origin_of(headers: Mapping[str, Any]) -> tuple[str, str] | None:
    """(exchange, routing key) to replay a dead letter to, or None when unknown."""
    deaths = headers.get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], Mapping):
        exchange, keys = deaths[0].get("exchange"), deaths[0].get("routing-keys")
        if isinstance(exchange, str) and isinstance(keys, list) and keys:
            return exchange, str(keys[0])
    source = headers.get("x-kefu-source-queue")
    if source == OUTBOUND or (source is None and "x-kefu-reason" in headers):
        return OUTBOUND, OUTBOUND_KEY
    if isinstance(source, str) and source:
        return "", source
    return None


class DeadLetters:
    def __init__(
        self,
        connection: AbstractRobustConnection,
        *,
        mask: Callable[[str], str],
        queue: str = DEAD,
        scan_limit: int = 5000,
        preview_chars: int = 400,
        publish_timeout: float = 5.0,
    ) -> None:
        self._connection = connection
        self._mask = mask
        self._queue = queue
        self._scan_limit = scan_limit
        self._preview = preview_chars
        self._timeout = publish_timeout
        self._lock = asyncio.Lock()

    async def peek(self, limit: int, after: str | None = None) -> tuple[list[dict[str, Any]], int]:
        """Up to `limit` + 1 dead letters (after the one with id `after`), and the queue depth;
        nothing is removed."""
        items: list[dict[str, Any]] = []
        outcome = Outcome()  # nothing is removed: the session waits for all of them back
        async with self._session(outcome) as (_, queue, depth):
            seen = after is None
            async for message in self._scan(queue, depth, outcome):
                if seen:
                    items.append(self.describe(message))
                    if len(items) > limit:
                        break
                seen = seen or letter_id(message) == after
        return items, depth

    async def replay(self, ids: Collection[str] | None, limit: int) -> Outcome:
        """Republish the selected dead letters (or the first `limit` when `ids` is None)."""
        outcome = Outcome()
        async with self._session(outcome) as (channel, queue, depth):
            async for message in self._selected(queue, depth, ids, limit, outcome):
                lid = letter_id(message)
                origin = origin_of(message.headers)
                if origin is None:
                    outcome.failed[lid] = "its origin is unknown"
                    continue
                try:
                    await self._republish(channel, message, *origin)
                except Unroutable:
                    outcome.failed[lid] = f"nothing is bound to {origin[0] or 'the queue'}"
                    continue
                except BrokerUnavailable as exc:  # stop: the rest stays in the queue
                    outcome.failed[lid] = str(exc)
                    break
                await message.ack()
                outcome.done.append(lid)
        log.info("dead_letters.replayed", replayed=len(outcome.done), failed=len(outcome.failed))
        return outcome

    async def discard(self, ids: Collection[str] | None, limit: int) -> Outcome:
        """Remove the selected dead letters (or the first `limit` when `ids` is None)."""
        outcome = Outcome()
        async with self._session(outcome) as (_, queue, depth):
            async for message in self._selected(queue, depth, ids, limit, outcome):
                await message.ack()
                outcome.done.append(letter_id(message))
        log.info("dead_letters.discarded", discarded=len(outcome.done))
        return outcome

    def describe(self, message: AbstractIncomingMessage) -> dict[str, Any]:
        """What an operator sees of a dead letter: ids, error headers, a masked body preview."""
        headers = dict(message.headers)
        origin = origin_of(headers)
        text = message.body[:_MASKED_BYTES].decode("utf-8", errors="replace")
        deaths = headers.get("x-death")
        last = deaths[0] if isinstance(deaths, list) and deaths else {}
        return {
            "id": letter_id(message),
            "message_id": message.message_id,
            "timestamp": message.timestamp.timestamp() if message.timestamp else None,
            "error": headers.get("x-kefu-error"),
            "reason": headers.get("x-kefu-reason") or _get(last, "reason"),
            "attempts": headers.get("x-kefu-attempts") or _get(last, "count"),
            "source_queue": headers.get("x-kefu-source-queue") or _get(last, "queue"),
            "replay_to": origin and {"exchange": origin[0], "routing_key": origin[1]},
            "headers": {k: _plain(headers[k]) for k in _SHOWN_HEADERS if k in headers},
            "body_bytes": len(message.body),
            "body_preview": self._mask(text)[: self._preview],
        }  # fmt: skip

    @contextlib.asynccontextmanager
    async def _session(
        self, outcome: Outcome
    ) -> AsyncIterator[tuple[AbstractChannel, AbstractQueue, int]]:
        """A channel of its own; closing it returns what was fetched and not acknowledged (the
        session's `outcome.done`). A quorum queue takes those back asynchronously, and the next
        session would find the queue short of them (an empty listing, a replay that finds
        nothing): so the session ends once the queue counts them again (or after
        `_SETTLE_WAIT` seconds)."""
        async with self._lock:
            try:
                channel = await self._connection.channel(
                    publisher_confirms=True, on_return_raises=True
                )
                queue = await channel.get_queue(self._queue, ensure=True)
            except CONNECTION_ERRORS as exc:
                raise BrokerUnavailable(f"cannot open {self._queue}: {type(exc).__name__}") from exc
            depth = queue.declaration_result.message_count or 0
            try:
                yield channel, queue, depth
            finally:
                with contextlib.suppress(*CONNECTION_ERRORS):
                    await channel.close()
                if outcome.scanned:
                    with contextlib.suppress(*CONNECTION_ERRORS):
                        await self._settle(depth - len(outcome.done))

    async def _settle(self, expected: int) -> None:
        """Wait until the queue counts at least `expected` messages, for `_SETTLE_WAIT` s."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + _SETTLE_WAIT
        channel = await self._connection.channel()
        try:
            while loop.time() < give_up:
                queue = await channel.declare_queue(self._queue, passive=True)
                if (queue.declaration_result.message_count or 0) >= expected:
                    return
                await asyncio.sleep(_SETTLE_POLL)
        finally:
            await channel.close()

    async def _scan(
        self, queue: AbstractQueue, depth: int, outcome: Outcome
    ) -> AsyncIterator[AbstractIncomingMessage]:
        """The messages present when the session began (at most `scan_limit`), unacknowledged."""
        for _ in range(min(depth, self._scan_limit)):
            try:
                message = await queue.get(no_ack=False, fail=False, timeout=self._timeout)
            except CONNECTION_ERRORS as exc:
                raise BrokerUnavailable(f"cannot read {self._queue}: {type(exc).__name__}") from exc
            if message is None:
                return
            outcome.scanned += 1
            yield message

    async def _selected(
        self,
        queue: AbstractQueue,
        depth: int,
        ids: Collection[str] | None,
        limit: int,
        outcome: Outcome,
    ) -> AsyncIterator[AbstractIncomingMessage]:
        wanted = None if ids is None else set(ids)
        found: set[str] = set()
        async for message in self._scan(queue, depth, outcome):
            if wanted is None:
                if len(outcome.done) + len(outcome.failed) >= limit:
                    break
                yield message
            elif letter_id(message) in wanted:
                found.add(letter_id(message))
                yield message
        outcome.missing = sorted((wanted or set()) - found)

    async def _republish(
        self, channel: AbstractChannel, message: AbstractIncomingMessage, exchange: str, key: str
    ) -> None:
        target = (
            channel.default_exchange
            if exchange == ""
            else await channel.get_exchange(exchange, ensure=False)
        )
        headers = {k: v for k, v in message.headers.items() if not k.startswith(_DROPPED_HEADERS)}
        replayed = message.headers.get("x-kefu-replayed")
        headers["x-kefu-replayed"] = (replayed if isinstance(replayed, int) else 0) + 1
        copy = aio_pika.Message(
            body=message.body,
            message_id=message.message_id,
            correlation_id=message.correlation_id,
            content_type=message.content_type,
            content_encoding=message.content_encoding,
            type=message.type,
            timestamp=message.timestamp,
            delivery_mode=DeliveryMode.PERSISTENT,
            headers=headers,
        )
        await publish_confirmed(target, copy, key, self._timeout)


def _get(entry: object, key: str) -> Any:
    return entry.get(key) if isinstance(entry, Mapping) else None


def _plain(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)
