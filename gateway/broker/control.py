"""Cache invalidation across gateway processes through the ``kefu.control`` fanout exchange.

Each process binds its own exclusive, auto-deleted queue. A change made through one process's
admin API is announced as ``{"topic": ..., "version": ..., "key": ..., "origin": ...}``;
every process (the origin included, harmlessly) runs the handlers registered for that topic.
Handlers must be idempotent: they reload from the store, which is the source of truth, so a
lost announcement is repaired by the periodic check of whoever owns the cache.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import aio_pika
import orjson
import structlog
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractIncomingMessage

from gateway.broker.topology import CONTROL

__all__ = ["ControlBus", "ControlHandler"]

log = structlog.get_logger("gateway.control")

ControlHandler = Callable[[int, str | None], Awaitable[None]]


class ControlBus:
    def __init__(self, channel: AbstractChannel, exchange: AbstractExchange) -> None:
        self._channel = channel
        self._exchange = exchange
        self._handlers: dict[str, list[ControlHandler]] = {}
        self.origin = uuid.uuid4().hex[:12]

    @classmethod
    async def open(cls, channel: AbstractChannel) -> ControlBus:
        exchange = await channel.declare_exchange(
            CONTROL, aio_pika.ExchangeType.FANOUT, durable=True
        )
        bus = cls(channel, exchange)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange)
        await queue.consume(bus._on_message)
        return bus

    def subscribe(self, topic: str, handler: ControlHandler) -> None:
        self._handlers.setdefault(topic, []).append(handler)

    async def announce(self, topic: str, version: int, key: str | None = None) -> None:
        """Tell every process that `topic` changed (to `version`; `key` names what, if one)."""
        body = orjson.dumps({"topic": topic, "version": version, "key": key, "origin": self.origin})
        await self._exchange.publish(
            aio_pika.Message(body, content_type="application/json"), routing_key=""
        )

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        async with message.process(ignore_processed=True):
            try:
                doc = orjson.loads(message.body)
                topic, version = str(doc["topic"]), int(doc["version"])
                key = doc.get("key")
                key = None if key is None else str(key)
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                log.warning("control.malformed")
                return
            for handler in self._handlers.get(topic, ()):
                try:
                    await handler(version, key)
                except Exception as exc:  # one broken handler must not stop the others
                    log.error("control.handler_failed", topic=topic, error=type(exc).__name__)
