"""A lean AMQP 0-9-1 publishing link: one connection, one confirming channel, publishing only.

The webhook path publishes every message with a confirm. Through aio-pika and aiormq each publish
builds its message objects, takes the channel lock, queues its frames for a writer task, waits for
that write to drain and then for the confirm: four task switches and a socket write per message.
`PublishLink.publish` is synchronous instead — it appends the message's frames to a buffer that is
written once per loop iteration (all the publishes of that iteration in one `writelines`) and
returns the future its confirm resolves; acks (single or `multiple`), nacks and returns are matched
straight from the reader. Frames are (un)marshalled by pamqp; the handshake, heartbeats,
`connection.blocked`, a channel closed by the broker and reconnection are handled here, and
everything else of the gateway (topology, consumers, control) stays on aio-pika.

Outcomes of a publish's future: `None` once confirmed; `Unroutable` for a mandatory message that
was returned; `BrokerUnavailable` for a nack, a channel or connection closed before the confirm.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import struct
import time
from dataclasses import dataclass
from typing import Any, cast

import structlog
from pamqp import commands, frame, header
from pamqp.body import ContentBody
from pamqp.heartbeat import Heartbeat
from yarl import URL

from gateway.broker.content_header import content_header_frame
from gateway.errors import BrokerUnavailable, Unroutable

__all__ = ["LinkConfig", "LinkWire", "PublishLink"]

log = structlog.get_logger("gateway.broker.link")

_CHANNEL = 1
_FRAME_END = 0xCE
_FRAME_HEADER = struct.Struct(">BHI")
_FRAME_MAX = 131_072  # bytes per frame we ask for (RabbitMQ's default)
_PUBLISH_FRAMES_CACHED = 4096  # (exchange, routing key) → marshalled Basic.Publish
_HEARTBEAT_FRAME = frame.marshal(Heartbeat(), 0)


@dataclass(frozen=True, slots=True)
class LinkConfig:
    """Where and how to connect, from an `amqp://` or `amqps://` URL (the same URL as the rest of
    the gateway; `?heartbeat=<seconds>` is honoured, other query options are ignored)."""

    host: str
    port: int
    username: str
    password: str
    vhost: str
    tls: bool
    heartbeat: int = 60
    connect_timeout: float = 10.0

    @classmethod
    def from_url(cls, url: str) -> LinkConfig:
        parsed = URL(url)
        tls = parsed.scheme == "amqps"
        vhost = parsed.path[1:] if parsed.path not in ("", "/") else "/"
        return cls(
            host=parsed.host or "localhost",
            port=parsed.explicit_port or (5671 if tls else 5672),
            username=parsed.user or "guest",
            password=parsed.password or "guest",
            vhost=vhost,
            tls=tls,
            heartbeat=int(parsed.query.get("heartbeat", "60")),
        )


class LinkWire(asyncio.Protocol):
    """One connection's state: handshake, channel 1 in confirm mode, pending confirms."""

    def __init__(self, config: LinkConfig, name: str) -> None:
        self._config = config
        self._name = name
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._in = bytearray()
        self._out: list[bytes] = []
        self._flush_handle: asyncio.Handle | None = None
        self._give_up: asyncio.TimerHandle | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._last_received = time.monotonic()
        self.opened: asyncio.Future[None] = self._loop.create_future()
        self.closed: asyncio.Future[None] = self._loop.create_future()
        self.channel_open = False
        self.blocked = False
        self._heartbeat = 0
        self._frame_max = _FRAME_MAX
        self._tag = 0  # last delivery tag used on the channel
        self._acked = 0  # every tag up to this one is settled
        self._pending: dict[int, tuple[asyncio.Future[None], str | None]] = {}
        self._tags: dict[str, int] = {}  # message_id → tag, for returns
        self._returned: set[int] = set()
        self._return: list[Any] | None = None  # [Basic.Return, message_id, body bytes left]
        self._publish_frames: dict[tuple[str, str, bool], bytes] = {}

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._transport.write(frame.marshal(header.ProtocolHeader(), 0))

    def data_received(self, data: bytes) -> None:
        self._last_received = time.monotonic()
        buffer = self._in
        buffer += data
        start, size = 0, len(buffer)
        try:
            while size - start >= 8:
                _, channel, length = _FRAME_HEADER.unpack_from(buffer, start)
                end = start + 8 + length
                if end > size:
                    break
                if buffer[end - 1] != _FRAME_END:
                    raise BrokerUnavailable("malformed frame from RabbitMQ")
                _, _, value = frame.unmarshal(bytes(buffer[start:end]))
                start = end
                self._received(channel, value)
        except Exception as exc:  # a protocol error: drop the connection, never the process
            log.error("link.protocol_error", error=type(exc).__name__)
            del buffer[:start]
            self._abort(BrokerUnavailable(f"AMQP protocol error: {type(exc).__name__}"))
            return
        del buffer[:start]

    def connection_lost(self, exc: Exception | None) -> None:
        self._settle_all(BrokerUnavailable("RabbitMQ connection lost"))
        self.channel_open = False
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
        if self._give_up is not None:
            self._give_up.cancel()
        if not self.opened.done():
            self.opened.set_exception(BrokerUnavailable("RabbitMQ closed the connection"))
        if not self.closed.done():
            self.closed.set_result(None)

    # -- publishing ------------------------------------------------------------------------

    def publish(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        properties: commands.Basic.Properties,
        *,
        mandatory: bool = True,
    ) -> asyncio.Future[None]:
        message_id = properties.message_id if mandatory else None
        if mandatory and not message_id:
            # A returned message is matched to its publish by message_id (the only thing a
            # return carries back): without one it would be reported confirmed.
            raise ValueError("a mandatory publish needs a message_id")
        self._tag += 1
        tag = self._tag
        confirm: asyncio.Future[None] = self._loop.create_future()
        self._pending[tag] = (confirm, message_id)
        if message_id is not None:
            self._tags[message_id] = tag
        out = self._out
        out.append(self._publish_frame(exchange, routing_key, mandatory))
        out.append(content_header_frame(_CHANNEL, len(body), properties))
        step = self._frame_max - 8
        for offset in range(0, len(body), step):
            out.append(frame.marshal(ContentBody(body[offset : offset + step]), _CHANNEL))
        if self._flush_handle is None:
            self._flush_handle = self._loop.call_soon(self._flush)
        return confirm

    def _publish_frame(self, exchange: str, routing_key: str, mandatory: bool) -> bytes:
        key = (exchange, routing_key, mandatory)
        marshalled = self._publish_frames.get(key)
        if marshalled is None:
            if len(self._publish_frames) >= _PUBLISH_FRAMES_CACHED:
                self._publish_frames.clear()
            method = commands.Basic.Publish(
                exchange=exchange, routing_key=routing_key, mandatory=mandatory
            )
            marshalled = self._publish_frames[key] = frame.marshal(method, _CHANNEL)
        return marshalled

    def _flush(self) -> None:
        self._flush_handle = None
        if self._out and self._transport is not None and not self._transport.is_closing():
            self._transport.writelines(self._out)
        self._out = []

    def _send(self, value: Any, channel: int = 0) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(frame.marshal(value, channel))

    # -- frames from the broker --------------------------------------------------------------

    def _received(self, channel: int, value: Any) -> None:
        if isinstance(value, commands.Basic.Ack):
            self._settle(value.delivery_tag, value.multiple, None)
        elif isinstance(value, commands.Basic.Nack):
            self._settle(
                value.delivery_tag,
                value.multiple,
                BrokerUnavailable("RabbitMQ refused the message (nack)"),
            )
        elif isinstance(value, Heartbeat):
            pass
        elif self._return is not None and isinstance(value, header.ContentHeader | ContentBody):
            self._returned_content(value)
        elif isinstance(value, commands.Basic.Return):
            self._return = [value, None, 0]
        elif channel == 0:
            self._connection_method(value)
        else:
            self._channel_method(value)

    def _connection_method(self, value: Any) -> None:
        config = self._config
        if isinstance(value, commands.Connection.Start):
            if "PLAIN" not in str(value.mechanisms).split():
                self._abort(BrokerUnavailable("RabbitMQ does not offer PLAIN authentication"))
                return
            self._send(
                commands.Connection.StartOk(
                    client_properties={
                        "product": "kefu-gateway",
                        "connection_name": self._name,
                        "capabilities": {
                            "publisher_confirms": True,
                            "basic.nack": True,
                            "connection.blocked": True,
                            "authentication_failure_close": True,
                        },
                    },
                    mechanism="PLAIN",
                    response=f"\0{config.username}\0{config.password}",
                )
            )
        elif isinstance(value, commands.Connection.Tune):
            ours, theirs = config.heartbeat, value.heartbeat
            self._heartbeat = min(ours, theirs) if ours and theirs else max(ours, theirs)
            self._frame_max = min(value.frame_max or _FRAME_MAX, _FRAME_MAX)
            self._send(
                commands.Connection.TuneOk(
                    channel_max=value.channel_max,
                    frame_max=self._frame_max,
                    heartbeat=self._heartbeat,
                )
            )
            self._send(commands.Connection.Open(virtual_host=config.vhost))
        elif isinstance(value, commands.Connection.OpenOk):
            if self._heartbeat:
                self._heartbeat_task = self._loop.create_task(
                    self._beat(self._heartbeat), name="amqp-link-heartbeat"
                )
            self._send(commands.Channel.Open(), _CHANNEL)
        elif isinstance(value, commands.Connection.Close):
            self._send(commands.Connection.CloseOk())
            self._abort(
                BrokerUnavailable(f"RabbitMQ closed the connection: {value.reply_code}"),
                reason=value.reply_text,
            )
        elif isinstance(value, commands.Connection.CloseOk):  # the answer to our `close`
            if self._transport is not None:
                self._transport.close()
        elif isinstance(value, commands.Connection.Blocked):
            self.blocked = True
            log.warning("link.blocked", reason=value.reason)
        elif isinstance(value, commands.Connection.Unblocked):
            self.blocked = False
            log.info("link.unblocked")

    def _channel_method(self, value: Any) -> None:
        if isinstance(value, commands.Channel.OpenOk):
            self._send(commands.Confirm.Select(), _CHANNEL)
        elif isinstance(value, commands.Confirm.SelectOk):
            self.channel_open = True
            if not self.opened.done():
                self.opened.set_result(None)
        elif isinstance(value, commands.Channel.Close):
            # For example a publish to an exchange that does not exist (404): every publish on
            # the channel is lost with it; the channel is opened again, its tags start over.
            log.warning("link.channel_closed", code=value.reply_code, reason=value.reply_text)
            self.channel_open = False
            self._send(commands.Channel.CloseOk(), _CHANNEL)
            self._settle_all(BrokerUnavailable(f"RabbitMQ closed the channel: {value.reply_code}"))
            self._tag = self._acked = 0
            self._send(commands.Channel.Open(), _CHANNEL)
        elif isinstance(value, commands.Channel.Flow):
            self._send(commands.Channel.FlowOk(active=value.active), _CHANNEL)

    def _returned_content(self, value: header.ContentHeader | ContentBody) -> None:
        state = self._return
        assert state is not None
        if isinstance(value, header.ContentHeader):
            state[1] = value.properties.message_id
            state[2] = value.body_size
        else:
            state[2] -= len(value.value)
        if state[2] > 0:
            return
        self._return = None
        tag = self._tags.get(state[1]) if state[1] is not None else None
        if tag is not None and tag in self._pending:
            self._returned.add(tag)  # its ack follows: settled as Unroutable then

    def _settle(self, tag: int, multiple: bool, error: BrokerUnavailable | None) -> None:
        if multiple:
            tags: range | tuple[int] = range(self._acked + 1, tag + 1)
            self._acked = max(self._acked, tag)
        else:
            tags = (tag,)
            if tag == self._acked + 1:
                self._acked = tag
        pending, tags_by_id, returned = self._pending, self._tags, self._returned
        for settled in tags:
            entry = pending.pop(settled, None)
            if entry is None:
                continue
            confirm, message_id = entry
            if message_id is not None and tags_by_id.get(message_id) == settled:
                del tags_by_id[message_id]
            if confirm.done():  # cancelled by a caller that stopped waiting
                returned.discard(settled)
                continue
            if settled in returned:
                returned.discard(settled)
                confirm.set_exception(Unroutable("no queue is bound for the routing key"))
            elif error is not None:
                confirm.set_exception(error)
            else:
                confirm.set_result(None)

    def _settle_all(self, error: BrokerUnavailable) -> None:
        # Frames not yet written belong to publishes failed here: they must not go out later
        # (on a reopened channel they would be routed unconfirmed, after their caller was told
        # they failed).
        self._out = []
        pending, self._pending = self._pending, {}
        self._tags.clear()
        self._returned.clear()
        self._return = None
        for confirm, _ in pending.values():
            if not confirm.done():
                confirm.set_exception(error)

    # -- liveness ----------------------------------------------------------------------------

    async def _beat(self, interval: int) -> None:
        """Send a heartbeat every half interval; drop a connection silent for two intervals."""
        while True:
            await asyncio.sleep(interval / 2)
            if time.monotonic() - self._last_received > 2 * interval:
                self._abort(BrokerUnavailable("RabbitMQ missed its heartbeats"))
                return
            if self._transport is not None and not self._transport.is_closing():
                self._transport.write(_HEARTBEAT_FRAME)

    def _abort(self, error: BrokerUnavailable, reason: str = "") -> None:
        if not self.opened.done():
            self.opened.set_exception(error)
        self._settle_all(error)
        if self._transport is not None:
            if reason:
                log.warning("link.closed_by_broker", error=str(error), reason=reason)
            self._transport.abort()

    def close(self) -> None:
        """Close politely: Connection.Close, then the socket once the broker answers (or not)."""
        if self._transport is None or self._transport.is_closing():
            return
        self._flush()
        self._send(commands.Connection.Close(200, "shutdown", 0, 0))
        self._give_up = self._loop.call_later(1.0, self._transport.abort)  # no CloseOk


class PublishLink:
    """A `LinkWire` kept connected: the first connect fails fast; later losses are retried with a
    backoff (0.5 s doubling to 10 s) until `close`."""

    def __init__(self, config: LinkConfig, *, name: str = "kefu-gateway publisher") -> None:
        self._config = config
        self._name = name
        self._wire: LinkWire | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._closing = False

    @classmethod
    async def open(cls, url: str, *, name: str = "kefu-gateway publisher") -> PublishLink:
        link = cls(LinkConfig.from_url(url), name=name)
        link._wire = await link._connect()
        link._keeper = asyncio.create_task(link._keep_connected(), name="amqp-link")
        return link

    @property
    def ready(self) -> bool:
        """Connected, channel open, not blocked by the broker (memory or disk alarm)."""
        wire = self._wire
        return wire is not None and wire.channel_open and not wire.blocked

    def publish(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        properties: commands.Basic.Properties,
        *,
        mandatory: bool = True,
    ) -> asyncio.Future[None]:
        """Queue one message; the future settles with its confirm (see the module doc)."""
        wire = self._wire
        if wire is None or not wire.channel_open:
            raise BrokerUnavailable("RabbitMQ connection is down")
        return wire.publish(exchange, routing_key, body, properties, mandatory=mandatory)

    async def close(self) -> None:
        self._closing = True
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
        wire = self._wire
        if wire is not None:
            wire.close()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2.0):
                    await asyncio.shield(wire.closed)

    async def _connect(self) -> LinkWire:
        config = self._config
        loop = asyncio.get_running_loop()
        wire = LinkWire(config, self._name)
        context = ssl.create_default_context() if config.tls else None
        try:
            async with asyncio.timeout(config.connect_timeout):
                await loop.create_connection(lambda: wire, config.host, config.port, ssl=context)
                await wire.opened
        except (OSError, TimeoutError) as exc:
            wire.close()
            raise BrokerUnavailable(f"cannot connect to RabbitMQ: {type(exc).__name__}") from exc
        except BrokerUnavailable:
            wire.close()
            raise
        return wire

    async def _keep_connected(self) -> None:
        while not self._closing:
            wire = self._wire
            assert wire is not None
            await asyncio.shield(wire.closed)
            log.warning("link.lost")
            delay = 0.5
            while not self._closing:
                try:
                    self._wire = await self._connect()
                except Exception as exc:  # whatever it was, keep trying: the keeper must not die
                    log.info("link.reconnect_failed", error=type(exc).__name__, retry_in=delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 10.0)
                else:
                    log.info("link.restored")
                    break
