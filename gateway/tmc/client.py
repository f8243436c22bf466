"""Taobao TMC consumer: a long-running WebSocket client per Taobao account (reference §3.2).

The supervisor: connects (`connection.handshake`), serves the socket (`connection.Connection`:
on_event, then CONFIRM; FAIL when it raised), and reconnects after a loss or a refused CONNECT
with capped exponential backoff and jitter (a refusal is logged as an error each time). `close()`
stops reading, lets the message in flight finish (its CONFIRM included), then closes the socket.
`connected` / `state` are for ``/readyz``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import random
from collections.abc import Callable
from types import TracebackType

import aiohttp
import structlog
from yarl import URL

from adapters.base import Clock, utc_now
from adapters.taobao.tmc_frames import DEFAULT_MAX_CONTENT
from gateway.errors import SignatureError
from gateway.tmc.connection import RETRYABLE, Connection, OnEvent, handshake

__all__ = ["OnEvent", "TmcClient", "TmcState"]

log = structlog.get_logger("gateway.tmc")


class TmcState(str, enum.Enum):
    IDLE = "idle"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    BACKOFF = "backoff"
    CLOSED = "closed"


class TmcClient:
    """One TMC connection (app key + group), delivering data messages to `on_event`."""

    def __init__(
        self,
        *,
        url: str,
        app_key: str,
        app_secret: str,
        account: str,
        on_event: OnEvent,
        group: str = "default",
        clock: Clock = utc_now,
        pull_interval: float = 15.0,
        heartbeat: float = 45.0,
        connect_timeout: float = 10.0,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
        max_frame_bytes: int = 4 << 20,
        max_content_bytes: int = DEFAULT_MAX_CONTENT,
        max_json_depth: int = 32,
        session: aiohttp.ClientSession | None = None,
        jitter: Callable[[], float] = random.random,
        sdk: str = "kefu-gateway",
    ) -> None:
        self._url = url
        self._app_key = app_key
        self._app_secret = app_secret
        self._account = account
        self._on_event = on_event
        self._group = group
        self._clock = clock
        self._pull_interval = pull_interval
        self._heartbeat = heartbeat
        self._connect_timeout = connect_timeout
        self._backoff = (backoff_initial, backoff_max)
        self._max_frame_bytes = max_frame_bytes
        self._max_content_bytes = max_content_bytes
        self._max_json_depth = max_json_depth
        self._session = session
        self._owns_session = session is None
        self._jitter = jitter
        self._sdk = sdk
        self._state = TmcState.IDLE
        self._failures = 0
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.last_error: str | None = None

    def __repr__(self) -> str:
        return f"TmcClient(account={self._account!r}, group={self._group!r}, state={self.state})"

    @property
    def account(self) -> str:
        return self._account

    @property
    def state(self) -> TmcState:
        return self._state

    @property
    def connected(self) -> bool:
        """True while a CONNECTACK'ed socket is open (for ``/readyz``)."""
        return self._state is TmcState.CONNECTED

    async def start(self) -> None:
        """Start the consumer in the background; returns at once (see `connected`)."""
        if self._task is not None:
            return
        if self._session is None:
            self._session = aiohttp.ClientSession()
        self._stop.clear()
        self._task = asyncio.create_task(self._run(), name=f"tmc-{self._account}")

    async def close(self, timeout: float = 10.0) -> None:
        """Stop reading, finish the message in flight, close the socket (cancel after timeout)."""
        self._stop.set()
        task, self._task = self._task, None
        if task is not None:
            if self._state is TmcState.CONNECTING:
                task.cancel()  # nothing in flight yet
            done, _ = await asyncio.wait({task}, timeout=timeout)
            if not done:
                log.warning("tmc.close_timeout", account=self._account)
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None
        self._state = TmcState.CLOSED

    async def __aenter__(self) -> TmcClient:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def backoff_delay(self, failures: int) -> float:
        """Seconds to wait after `failures` consecutive failures: capped exponential, jittered
        into [delay/2, delay]."""
        initial, cap = self._backoff
        delay = min(cap, initial * (1 << min(failures, 32)))
        return delay * (0.5 + self._jitter() / 2)

    async def _run(self) -> None:
        while not self._stop.is_set():
            self._state = TmcState.CONNECTING
            try:
                await self._session_once()
            except SignatureError as exc:
                self.last_error = "refused"
                log.error(
                    "tmc.refused", account=self._account, app_key=self._app_key, reason=str(exc)
                )
            except RETRYABLE as exc:
                self.last_error = type(exc).__name__
                log.warning("tmc.disconnected", account=self._account, error=self.last_error)
            except Exception as exc:  # a bug must not end the consumer silently
                self.last_error = type(exc).__name__
                log.error("tmc.failed", account=self._account, error=self.last_error)
            if self._stop.is_set():
                break
            self._state = TmcState.BACKOFF
            delay = self.backoff_delay(self._failures)
            self._failures += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)
        self._state = TmcState.CLOSED

    async def _session_once(self) -> None:
        assert self._session is not None
        async with asyncio.timeout(self._connect_timeout):
            ws = await self._session.ws_connect(
                self._url,
                heartbeat=self._heartbeat,
                max_msg_size=self._max_frame_bytes,
                timeout=aiohttp.ClientWSTimeout(ws_close=self._connect_timeout),
            )
        try:
            async with asyncio.timeout(self._connect_timeout):
                token = await handshake(
                    ws,
                    app_key=self._app_key,
                    app_secret=self._app_secret,
                    group=self._group,
                    sdk=self._sdk,
                    clock=self._clock,
                )
            connection = Connection(
                ws,
                token,
                account=self._account,
                on_event=self._on_event,
                clock=self._clock,
                pull_interval=self._pull_interval,
                max_content_bytes=self._max_content_bytes,
                max_json_depth=self._max_json_depth,
            )
            self._state = TmcState.CONNECTED
            self._failures = 0
            self.last_error = None
            log.info("tmc.connected", account=self._account, host=URL(self._url).host)
            await connection.serve(self._stop)
        finally:
            if self._state is TmcState.CONNECTED:
                self._state = TmcState.CONNECTING
            await ws.close()
