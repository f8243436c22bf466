"""A fake Taobao TMC server on loopback: the server side of the protocol, strict where TMC is.

Used by the tests and by `kefu-gateway demo`.

It checks the CONNECT signature (a bad one is answered with a refusing CONNECTACK and the socket
closed), issues a token and requires it on every later client frame, pushes queued data messages,
answers pull requests by pushing, records CONFIRMs and FAILs, and redelivers a message that was
FAILed, left unconfirmed for `redeliver_after` seconds, or in flight on a connection that went
away. `drop_after` cuts the TCP connection (no close handshake) after that many deliveries.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from aiohttp import WSMsgType, web

from adapters.taobao.tmc_frames import (
    Frame,
    MessageKind,
    MessageType,
    TmcMessage,
    connect_ack_frame,
    connect_sign,
    data_frame,
    decode,
    encode,
)


@dataclass
class _Queued:
    message: TmcMessage
    gzip: bool
    not_before: float = 0.0


@dataclass
class _InFlight:
    queued: _Queued
    ws: web.WebSocketResponse
    deadline: float


def _due(flight: _InFlight, *, now: float) -> bool:
    return flight.deadline <= now


@dataclass
class FakeTmcServer:
    app_key: str
    app_secret: str
    group: str = "default"
    redeliver_after: float = 0.3
    drop_after: int | None = None
    pending: list[_Queued] = field(default_factory=list)
    in_flight: dict[int, _InFlight] = field(default_factory=dict)
    deliveries: Counter[int] = field(default_factory=Counter)
    confirmed: Counter[int] = field(default_factory=Counter)
    failed: Counter[int] = field(default_factory=Counter)
    fail_reasons: list[str] = field(default_factory=list)
    connects: int = 0
    refused: int = 0
    pulls: int = 0
    protocol_errors: list[str] = field(default_factory=list)
    sockets: set[web.WebSocketResponse] = field(default_factory=set)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(6100000000000000001))
    _runner: web.AppRunner | None = None
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        port = self._runner.addresses[0][1]
        self.url = f"ws://127.0.0.1:{port}/"
        return self.url

    async def close(self) -> None:
        for ws in list(self.sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def publish(
        self,
        topic: str,
        content: str,
        *,
        gzip: bool = False,
        user_id: str | None = None,
        nick: str | None = None,
        time: datetime | None = None,
    ) -> int:
        """Queue one data message; returns its TMC id."""
        message = TmcMessage(
            id=next(self._ids), topic=topic, content=content, time=time, user_id=user_id, nick=nick
        )
        self.pending.append(_Queued(message, gzip))
        self._wake.set()
        return message.id

    @property
    def settled(self) -> bool:
        """Nothing left to deliver or to confirm."""
        return not self.pending and not self.in_flight

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.01)

    async def _handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        token = await self._accept(ws)
        if token is None:
            await ws.close()
            return ws
        self.sockets.add(ws)
        pusher = asyncio.create_task(self._push(ws, request))
        try:
            async for msg in ws:
                if msg.type is WSMsgType.BINARY:
                    self._on_client_frame(decode(msg.data), token)
        finally:
            self.sockets.discard(ws)
            pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pusher
            self._requeue(lambda flight: flight.ws is ws)
        return ws

    async def _accept(self, ws: web.WebSocketResponse) -> str | None:
        msg = await ws.receive()
        frame = decode(msg.data) if msg.type is WSMsgType.BINARY else None
        if frame is None or frame.type is not MessageType.CONNECT:
            self.protocol_errors.append("first frame is not CONNECT")
            return None
        values = {name: frame.get(name) for name in ("app_key", "group_name", "timestamp", "sign")}
        if not all(isinstance(v, str) for v in values.values()):
            self.protocol_errors.append("CONNECT lacks a field")
            return None
        expected = connect_sign(
            self.app_secret, self.app_key, str(values["group_name"]), str(values["timestamp"])
        )
        if (values["app_key"], values["group_name"], values["sign"]) != (
            self.app_key,
            self.group,
            expected,
        ):
            self.refused += 1
            await ws.send_bytes(encode(connect_ack_frame(None, 401, "invalid signature")))
            return None
        self.connects += 1
        token = secrets.token_hex(8)
        await ws.send_bytes(encode(connect_ack_frame(token)))
        return token

    def _on_client_frame(self, frame: Frame, token: str) -> None:
        if frame.type is not MessageType.SEND or frame.token != token:
            self.protocol_errors.append(f"frame {frame!r} without the session token")
            return
        message_id = frame.get("id")
        if frame.kind == MessageKind.PULL_REQUEST:
            self.pulls += 1
            self._wake.set()
        elif frame.kind == MessageKind.CONFIRM and isinstance(message_id, int):
            self.confirmed[message_id] += 1
            self.in_flight.pop(message_id, None)
            self.pending = [q for q in self.pending if q.message.id != message_id]
        elif frame.kind == MessageKind.FAILED and isinstance(message_id, int):
            self.failed[message_id] += 1
            reason = frame.get("msg")
            self.fail_reasons.append(reason if isinstance(reason, str) else "")
            self._requeue(lambda flight: flight.queued.message.id == message_id)
        else:
            self.protocol_errors.append(f"unexpected client frame {frame!r}")

    def _requeue(self, which: Callable[[_InFlight], bool]) -> None:
        now = asyncio.get_running_loop().time()
        for message_id, flight in list(self.in_flight.items()):
            if which(flight):
                del self.in_flight[message_id]
                flight.queued.not_before = now + self.redeliver_after
                self.pending.append(flight.queued)
        self._wake.set()

    async def _push(self, ws: web.WebSocketResponse, request: web.Request) -> None:
        loop = asyncio.get_running_loop()
        while not ws.closed:
            now = loop.time()
            self._requeue(partial(_due, now=now))
            self._wake.clear()
            due = [q for q in self.pending if q.not_before <= now]
            for queued in due:
                self.pending.remove(queued)
                deadline = now + self.redeliver_after
                self.in_flight[queued.message.id] = _InFlight(queued, ws, deadline)
                self.deliveries[queued.message.id] += 1
                await ws.send_bytes(encode(data_frame(queued.message, gzip_content=queued.gzip)))
                if self.drop_after is not None and sum(self.deliveries.values()) >= self.drop_after:
                    self.drop_after = None
                    assert request.transport is not None
                    request.transport.close()  # an abrupt loss: no WebSocket close handshake
                    return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 0.02)
