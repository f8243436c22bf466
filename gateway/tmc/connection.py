"""One open TMC socket: the signed CONNECT handshake, then data messages in, CONFIRM/FAIL out.

Each data message is mapped (`adapters.taobao.events.frame_event`) and handed to `on_event`;
CONFIRM is sent only after `on_event` returned, FAIL (so TMC redelivers) if it raised. A pull
request goes out at once and then every `pull_interval` seconds. Messages are handled one at a
time, in arrival order. Logs carry ids, topics and error classes — never content or secrets.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import structlog

from adapters.base import Clock
from adapters.taobao.events import frame_event
from adapters.taobao.tmc_frames import (
    Frame,
    MessageKind,
    MessageType,
    confirm_frame,
    connect_frame,
    decode,
    encode,
    fail_frame,
    pull_frame,
)
from gateway.errors import PayloadError, SignatureError
from gateway.models import PlatformEvent

__all__ = ["RETRYABLE", "Connection", "OnEvent", "handshake"]

log = structlog.get_logger("gateway.tmc")

OnEvent = Callable[[PlatformEvent], Awaitable[None]]
RETRYABLE = (aiohttp.ClientError, ConnectionError, OSError, TimeoutError, PayloadError)
_CLOSED = (
    aiohttp.WSMsgType.CLOSE,
    aiohttp.WSMsgType.CLOSING,
    aiohttp.WSMsgType.CLOSED,
    aiohttp.WSMsgType.ERROR,
)


async def handshake(
    ws: aiohttp.ClientWebSocketResponse,
    *,
    app_key: str,
    app_secret: str,
    group: str,
    sdk: str,
    clock: Clock,
) -> str:
    """Send the signed CONNECT; the token of an accepting CONNECTACK, else SignatureError."""
    millis = int(clock().timestamp() * 1000)
    frame = connect_frame(
        app_key=app_key, app_secret=app_secret, group=group, timestamp_ms=millis, sdk=sdk
    )
    await ws.send_bytes(encode(frame))
    msg = await ws.receive()
    if msg.type is not aiohttp.WSMsgType.BINARY:
        raise ConnectionError("TMC closed the connection before CONNECTACK")
    ack = decode(msg.data)
    if ack.type is not MessageType.CONNECTACK:
        raise PayloadError("TMC answered CONNECT with something else")
    if ack.status_code or not ack.token:
        phrase = (ack.status_phrase or "")[:120]
        raise SignatureError(f"TMC refused the connection: status {ack.status_code} {phrase}")
    return ack.token


class Connection:
    """A CONNECTACK'ed socket, served until it closes or `stop` is set."""

    def __init__(
        self,
        ws: aiohttp.ClientWebSocketResponse,
        token: str,
        *,
        account: str,
        on_event: OnEvent,
        clock: Clock,
        pull_interval: float,
        max_content_bytes: int,
        max_json_depth: int,
    ) -> None:
        self._ws = ws
        self._token = token
        self._account = account
        self._on_event = on_event
        self._clock = clock
        self._pull_interval = pull_interval
        self._max_content_bytes = max_content_bytes
        self._max_json_depth = max_json_depth
        self._send_lock = asyncio.Lock()

    async def serve(self, stop: asyncio.Event) -> None:
        """Read and handle frames; return when `stop` is set (after the message in flight),
        raise ConnectionError when the server closes the socket."""
        stopping = asyncio.ensure_future(stop.wait())
        pulling = asyncio.create_task(self._pull_forever())
        try:
            while not stop.is_set():
                receiving = asyncio.ensure_future(self._ws.receive())
                waiting: list[asyncio.Future[Any]] = [receiving, stopping]
                await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if not receiving.done():
                    receiving.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await receiving
                    return
                msg = receiving.result()
                if msg.type is aiohttp.WSMsgType.BINARY:
                    await self._on_frame(msg.data)
                elif msg.type in _CLOSED:
                    raise ConnectionError("TMC connection closed")
        finally:
            for task in (stopping, pulling):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _on_frame(self, data: bytes) -> None:
        try:
            frame = decode(data)
        except PayloadError:
            log.warning("tmc.bad_frame", account=self._account, size=len(data))
            return
        if frame.type is not MessageType.SEND or frame.kind != MessageKind.DATA:
            return  # SENDACKs and other server frames need no answer
        mapped = frame_event(
            frame,
            account=self._account,
            clock=self._clock,
            max_json_depth=self._max_json_depth,
            max_content_bytes=self._max_content_bytes,
        )
        if mapped is None:
            log.error("tmc.data_without_id", account=self._account)
            return
        message_id, topic = mapped.message_id, _topic(frame)
        if mapped.error:
            log.warning("tmc.unparsed", account=self._account, id=message_id, error=mapped.error)
        try:
            await self._on_event(mapped.event)
        except Exception as exc:
            error = type(exc).__name__
            log.warning(
                "tmc.handler_failed", account=self._account, id=message_id, topic=topic, error=error
            )
            await self._send(fail_frame(self._token, message_id, error))
            return
        await self._send(confirm_frame(self._token, message_id))
        log.debug("tmc.confirmed", account=self._account, id=message_id, topic=topic)

    async def _pull_forever(self) -> None:
        with contextlib.suppress(*RETRYABLE):
            while True:
                await self._send(pull_frame(self._token))
                await asyncio.sleep(self._pull_interval)

    async def _send(self, frame: Frame) -> None:
        async with self._send_lock:
            await self._ws.send_bytes(encode(frame))


def _topic(frame: Frame) -> str | None:
    topic = frame.get("topic")
    return topic if isinstance(topic, str) else None
