"""A small typed client for services downstream of the gateway: bots, advisor apps, receipts.

::

    async with Consumer("kefu.bots", sender="bot:faq") as consumer:
        async for incoming in consumer:               # Incoming: .message is a gateway Message
            await incoming.reply(f"收到：{incoming.message.text}")
            await incoming.ack()

- `Consumer` reads `gateway.message/1` documents (``kefu.bots``, ``kefu.advisors``, your own
  queue) as `Incoming` deliveries; `Incoming.reply` publishes a validated `gateway.outbound/1`
  to ``kefu.outbound`` and waits for RabbitMQ's confirm. `ReceiptConsumer` reads
  `gateway.receipt/1` documents as `Delivery[Receipt]`.
- Queues: a name alone consumes an existing queue; a name with ``bind`` declares a durable
  quorum queue of your own (dead-lettering to ``kefu.dlx`` like the gateway's queues) bound with
  those routing keys; no name declares a private server-named queue that disappears with the
  connection. The gateway's topology is declared first (idempotent).
- Settle each delivery once: `ack`, or `nack(requeue=True)` to have it redelivered. The gateway's
  queues dead-letter a message redelivered more than 5 times; ``nack(requeue=False)`` dead-letters
  at once. Unsettled deliveries are redelivered when the consumer closes.
- Malformed deliveries (not JSON, another schema, invalid fields) never reach your code: they
  are rejected to the dead-letter exchange and logged (``consumer.malformed``, without the body),
  and iteration goes on. With ``on_malformed="raise"`` the rejection is followed by
  `MalformedMessage`. Either way the message does not loop.
- Errors are the gateway's own: `BrokerUnavailable` (cannot connect, no confirm),
  `Unroutable`, `ConsumerError` (missing queue, settled twice), `InvalidReply`.
- Cancelling a task waiting in ``async for`` stops the consumer (aio-pika closes the iterator).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Generic, Literal, Self, TypeVar

import aio_pika
import aiormq
import structlog
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractQueueIterator,
    AbstractRobustConnection,
    DeliveryMode,
)
from pydantic import ValidationError

from gateway.broker.publisher import CONNECTION_ERRORS, connect, publish_confirmed
from gateway.broker.topology import (
    DELIVERY_LIMIT,
    DLX,
    INBOUND,
    OUTBOUND,
    OUTBOUND_KEY,
    RECEIPTS,
    declare_topology,
)
from gateway.errors import BrokerUnavailable, ConsumerError, InvalidReply, MalformedMessage
from gateway.models import Message, Platform
from gateway.outbound.schema import (
    CardContent,
    ImageContent,
    LinkContent,
    OutboundContext,
    OutboundMessage,
    Receipt,
    TextContent,
    describe_errors,
)
from gateway.routing import advisor_key
from gateway.serialize import from_json
from gateway.settings import Settings

__all__ = ["Consumer", "Delivery", "Incoming", "OnMalformed", "ReceiptConsumer"]

log = structlog.get_logger("gateway.consumer")

OnMalformed = Literal["dead_letter", "raise"]
AnyContent = TextContent | ImageContent | LinkContent | CardContent
T = TypeVar("T")
D = TypeVar("D", bound="Delivery[Any]")

_KINDS: tuple[tuple[str, type[AnyContent]], ...] = (
    ("text", TextContent),
    ("image", ImageContent),
    ("link", LinkContent),
    ("card", CardContent),
)


class Delivery(Generic[T]):
    """One document taken off a queue (`body`); settle it exactly once with `ack` or `nack`."""

    __slots__ = ("_raw", "body")

    def __init__(self, body: T, raw: AbstractIncomingMessage) -> None:
        self.body = body
        self._raw = raw

    @property
    def message_id(self) -> str | None:
        return self._raw.message_id

    @property
    def routing_key(self) -> str:
        return self._raw.routing_key or ""

    @property
    def redelivered(self) -> bool:
        """True when RabbitMQ delivered this message before (nacked, or a consumer died)."""
        return bool(self._raw.redelivered)

    async def ack(self) -> None:
        """Done with it: RabbitMQ forgets the message."""
        await self._settle("ack", self._raw.ack)

    async def nack(self, *, requeue: bool = True) -> None:
        """Give it back for redelivery, or (``requeue=False``) send it to the dead letters."""
        await self._settle("nack", lambda: self._raw.nack(requeue=requeue))

    async def _settle(self, verb: str, settle: Callable[[], Awaitable[None]]) -> None:
        if self._raw.processed:
            raise ConsumerError(f"cannot {verb} message {self.message_id}: already settled")
        try:
            await settle()
        except CONNECTION_ERRORS as exc:
            raise BrokerUnavailable(f"cannot {verb}: {type(exc).__name__}") from exc


class Incoming(Delivery[Message]):
    """A customer's message or a platform event (`gateway.message/1`) that you can answer."""

    __slots__ = ("_replies",)

    def __init__(self, body: Message, raw: AbstractIncomingMessage, replies: _Replies) -> None:
        super().__init__(body, raw)
        self._replies = replies

    @property
    def message(self) -> Message:
        return self.body

    async def reply(
        self,
        content: str | AnyContent,
        *,
        sender: str | None = None,
        context: OutboundContext | None = None,
        request_id: str | None = None,
    ) -> OutboundMessage:
        """Answer the customer: publish a `gateway.outbound/1` and wait for the confirm.

        ``content`` is a text or a content model (`ImageContent`, `LinkContent`, `CardContent`).
        The platform, account, customer and ``in_reply_to`` come from the message; for Douyin
        also the ``context`` ids. A fresh ``request_id`` is made unless you pass yours (reuse it
        when you retry). Returns what was published; its receipt carries the same request id.
        """
        replies = self._replies
        outbound = _outbound(self.message, content, sender or replies.sender, context, request_id)
        await replies.publish(outbound)
        return outbound


class _Replies:
    """Publishes replies on a confirming channel to ``kefu.outbound``."""

    def __init__(self, exchange: AbstractExchange, sender: str | None, timeout: float) -> None:
        self._exchange = exchange
        self.sender = sender  #: the default sender of replies
        self._timeout = timeout

    async def publish(self, outbound: OutboundMessage) -> None:
        amqp = aio_pika.Message(
            outbound.to_json(),
            message_id=outbound.request_id,
            content_type="application/json",
            delivery_mode=DeliveryMode.PERSISTENT,
            timestamp=datetime.now(UTC),
            headers={"sender": outbound.sender},
        )
        await publish_confirmed(self._exchange, amqp, OUTBOUND_KEY, self._timeout)
        log.info(
            "consumer.replied",
            request_id=outbound.request_id,
            in_reply_to=outbound.in_reply_to,
            sender=outbound.sender,
            kind=outbound.kind,
        )


def _outbound(
    message: Message,
    content: str | AnyContent,
    sender: str | None,
    context: OutboundContext | None,
    request_id: str | None,
) -> OutboundMessage:
    if sender is None:
        raise InvalidReply("no sender: pass sender='bot:<name>' or 'advisor:<id>'")
    if isinstance(content, str):
        kind, body = "text", {"text": content}
    else:
        kind = next(name for name, model in _KINDS if isinstance(content, model))
        body = content.model_dump(exclude_none=True)
    try:
        return OutboundMessage.model_validate(
            {
                "request_id": request_id or uuid.uuid4().hex,
                "sender": sender,
                "platform": message.platform.value,
                "account": message.account,
                "customer": message.customer.id,
                "kind": kind,
                "content": body,
                "in_reply_to": message.id,
                "context": context or _context(message),
            }
        )
    except ValidationError as exc:
        raise InvalidReply(f"invalid reply: {describe_errors(exc)}") from exc


def _context(message: Message) -> OutboundContext:
    """Douyin needs the merchant's open_id and the conversation and message ids to answer."""
    if message.platform is not Platform.DOUYIN:
        return OutboundContext()
    extra = message.extra
    content = extra.get("content")
    content = content if isinstance(content, dict) else {}
    ids = {
        "open_id": extra.get("to_user_id"),
        "conversation_id": content.get("conversation_short_id"),
        "msg_id": content.get("server_message_id"),
    }
    return OutboundContext.model_validate({k: v for k, v in ids.items() if isinstance(v, str)})


class _Subscription(Generic[D]):
    """Connection, queue declaration, iteration and the malformed-message policy."""

    _exchange_default = INBOUND

    def __init__(
        self,
        queue: str | None,
        *,
        bind: Sequence[str] = (),
        exchange: str | None = None,
        url: str | None = None,
        prefetch: int = 10,
        on_malformed: OnMalformed = "dead_letter",
        publish_timeout: float | None = None,
    ) -> None:
        if prefetch < 1:
            raise ValueError("prefetch must be at least 1")
        self._queue_name = queue
        self._bind = tuple(bind)
        self._exchange = exchange or self._exchange_default
        self._url = url
        self._prefetch = prefetch
        self._on_malformed = on_malformed
        self._publish_timeout = publish_timeout
        self._connection: AbstractRobustConnection | None = None
        self._iterator: AbstractQueueIterator | None = None
        self._declared = queue or ""

    @property
    def queue(self) -> str:
        """The queue's name (the server-made one for a private queue, once open)."""
        return self._declared

    async def __aenter__(self) -> Self:
        settings = Settings()  # GATEWAY_AMQP_URL and GATEWAY_PUBLISH_TIMEOUT are the defaults
        url = self._url or settings.amqp_url.get_secret_value()
        timeout = self._publish_timeout or settings.publish_timeout
        connection = await connect(url, name=f"kefu-consumer:{self._queue_name or 'private'}")
        self._connection = connection
        try:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=self._prefetch)
            await declare_topology(channel)
            declared = await self._declare(channel)
            self._declared = declared.name
            self._iterator = declared.iterator()
            await self._iterator.consume()
            await self._opened(connection, timeout)
        except BaseException:
            await self.close()
            raise
        log.info("consumer.started", queue=self.queue, prefetch=self._prefetch)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop consuming; unsettled deliveries go back to the queue."""
        iterator, connection = self._iterator, self._connection
        self._iterator = self._connection = None
        try:
            if iterator is not None:
                await iterator.close()
        finally:
            if connection is not None:
                await connection.close()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> D:
        if self._iterator is None:
            raise ConsumerError("the consumer is not open: use `async with`")
        while True:
            raw = await self._iterator.__anext__()
            try:
                return self._wrap(raw)
            except MalformedMessage as exc:
                await raw.reject(requeue=False)
                log.warning(
                    "consumer.malformed",
                    queue=self.queue,
                    message_id=raw.message_id,
                    routing_key=raw.routing_key,
                    error=str(exc),
                )
                if self._on_malformed == "raise":
                    raise

    async def _declare(self, channel: AbstractChannel) -> AbstractQueue:
        dead_letters: dict[str, aio_pika.abc.FieldValue] = {"x-dead-letter-exchange": DLX}
        try:
            if self._queue_name is None:
                queue = await channel.declare_queue(
                    exclusive=True, auto_delete=True, arguments=dead_letters
                )
            elif self._bind:
                arguments: dict[str, aio_pika.abc.FieldValue] = {
                    **dead_letters,
                    "x-queue-type": "quorum",
                    "x-delivery-limit": DELIVERY_LIMIT,
                }
                queue = await channel.declare_queue(
                    self._queue_name, durable=True, arguments=arguments
                )
            else:
                return await channel.declare_queue(self._queue_name, passive=True)
            for key in self._bind:
                await queue.bind(self._exchange, routing_key=key)
        except aiormq.exceptions.ChannelNotFoundEntity as exc:
            raise ConsumerError(
                f"queue {self._queue_name!r} does not exist; pass bind=[...] to declare it"
            ) from exc
        except aiormq.exceptions.ChannelPreconditionFailed as exc:
            raise ConsumerError(
                f"queue {self._queue_name!r} exists with other arguments: {exc.args[0]!s:.120}"
            ) from exc
        return queue

    async def _opened(self, connection: AbstractRobustConnection, timeout: float) -> None:
        """Hook for subclasses that need more than the consuming channel."""

    def _wrap(self, raw: AbstractIncomingMessage) -> D:
        raise NotImplementedError


class Consumer(_Subscription[Incoming]):
    """Consume `gateway.message/1` documents from ``queue`` and answer them.

    ``sender`` (``bot:<name>`` or ``advisor:<id>``) signs replies; ``bind`` routing keys of
    ``kefu.inbound`` (e.g. ``advisor.a-1024``) declare ``queue`` as your own; ``url`` defaults to
    ``GATEWAY_AMQP_URL``; ``prefetch`` bounds unsettled deliveries.
    """

    def __init__(
        self,
        queue: str | None,
        *,
        sender: str | None = None,
        bind: Sequence[str] = (),
        url: str | None = None,
        prefetch: int = 10,
        on_malformed: OnMalformed = "dead_letter",
        publish_timeout: float | None = None,
    ) -> None:
        super().__init__(
            queue,
            bind=bind,
            url=url,
            prefetch=prefetch,
            on_malformed=on_malformed,
            publish_timeout=publish_timeout,
        )
        self._sender = sender
        self._replies: _Replies | None = None

    @classmethod
    def for_advisor(
        cls,
        advisor_id: str,
        *,
        queue: str | None = None,
        url: str | None = None,
        prefetch: int = 10,
        on_malformed: OnMalformed = "dead_letter",
    ) -> Consumer:
        """An advisor's own durable queue (default ``kefu.advisor.<id>``) bound to the advisor's
        routing key; replies are sent as ``advisor:<id>``."""
        return cls(
            queue or f"kefu.advisor.{advisor_id}",
            sender=f"advisor:{advisor_id}",
            bind=[advisor_key(advisor_id)],
            url=url,
            prefetch=prefetch,
            on_malformed=on_malformed,
        )

    async def _opened(self, connection: AbstractRobustConnection, timeout: float) -> None:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        exchange = await channel.get_exchange(OUTBOUND)
        self._replies = _Replies(exchange, self._sender, timeout)

    def _wrap(self, raw: AbstractIncomingMessage) -> Incoming:
        assert self._replies is not None  # set in __aenter__ before iteration can start
        return Incoming(from_json(raw.body), raw, self._replies)


class ReceiptConsumer(_Subscription[Delivery[Receipt]]):
    """Consume `gateway.receipt/1` documents: by default every receipt, on a private queue.

    Pass ``queue="kefu.receipts"`` to share the default queue instead, or
    ``bind=["receipt.rejected"]`` for one outcome only. Malformed receipts are dead-lettered.
    """

    _exchange_default = RECEIPTS

    def __init__(
        self,
        queue: str | None = None,
        *,
        bind: Sequence[str] | None = None,
        url: str | None = None,
        prefetch: int = 50,
    ) -> None:
        bind = (("receipt.#",) if queue is None else ()) if bind is None else bind
        super().__init__(queue, bind=bind, url=url, prefetch=prefetch)

    def _wrap(self, raw: AbstractIncomingMessage) -> Delivery[Receipt]:
        try:
            receipt = Receipt.model_validate_json(raw.body)
        except ValidationError as exc:
            raise MalformedMessage(f"invalid gateway.receipt/1: {describe_errors(exc)}") from exc
        return Delivery(receipt, raw)
