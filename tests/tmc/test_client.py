"""TmcClient against the fake TMC server on loopback: confirm after hand-off, FAIL and redelivery,
reconnects, refused credentials, clean shutdown."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import orjson
import pytest
from structlog.testing import capture_logs

from gateway.models import Kind, PlatformEvent
from gateway.tmc import TmcClient, TmcState
from gateway.tmc.fake_server import FakeTmcServer

APP_KEY = "12345678"
SECRET = "demo_top_secret"
TRADE = {
    "tid": 3800000000000000001,
    "oid": 3800000000000000001,
    "buyer_open_uid": "AAHdemo0penUid",
    "buyer_nick": "t**1",
    "payment": "99.00",
    "status": "WAIT_SELLER_SEND_GOODS",
}


def trade(n: int) -> str:
    return orjson.dumps(TRADE | {"tid": 3800000000000000000 + n}).decode()


@pytest.fixture
async def server() -> AsyncIterator[FakeTmcServer]:
    fake = FakeTmcServer(app_key=APP_KEY, app_secret=SECRET, redeliver_after=0.15)
    await fake.start()
    yield fake
    await fake.close()
    assert fake.protocol_errors == []


class Recorder:
    """An on_event that records events and can fail or block on demand."""

    def __init__(self) -> None:
        self.events: list[PlatformEvent] = []
        self.attempts: list[str] = []
        self.fail: Callable[[PlatformEvent], bool] = lambda _event: False
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()

    async def __call__(self, event: PlatformEvent) -> None:
        self.attempts.append(event.platform_msg_id)
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.fail(event):
            raise ConnectionError("broker down")
        self.events.append(event)

    def ids(self) -> set[str]:
        return {e.platform_msg_id for e in self.events}


def client(server: FakeTmcServer, on_event: Recorder, secret: str = SECRET) -> TmcClient:
    return TmcClient(
        url=server.url,
        app_key=APP_KEY,
        app_secret=secret,
        account="tb1",
        on_event=on_event,
        pull_interval=0.05,
        heartbeat=5.0,
        connect_timeout=2.0,
        backoff_initial=0.02,
        backoff_max=0.1,
    )


async def test_messages_delivered_and_confirmed_once(server: FakeTmcServer) -> None:
    """Every message reaches on_event once, in order, and is confirmed exactly once."""
    sent = [server.publish("taobao_trade_TradeBuyerPay", trade(n)) for n in range(5)]
    sent.append(server.publish("taobao_refund_RefundCreated", '{"refund_id":9}', gzip=True))
    recorder = Recorder()
    async with client(server, recorder) as tmc:
        await server.wait_for(lambda: len(server.confirmed) == len(sent))
        assert tmc.connected and tmc.state is TmcState.CONNECTED
        await asyncio.sleep(0.2)  # longer than redeliver_after: nothing comes back
    assert [e.platform_msg_id for e in recorder.events] == [str(i) for i in sent]
    assert server.confirmed == dict.fromkeys(sent, 1)
    assert server.deliveries == dict.fromkeys(sent, 1)
    assert [e.kind for e in recorder.events] == [Kind.ORDER] * 5 + [Kind.AFTERSALE]
    assert recorder.events[0].order is not None
    assert recorder.events[0].order.id == "3800000000000000000"
    assert server.pulls >= 1
    assert server.settled


async def test_failed_handler_sends_fail_and_message_is_redelivered(server: FakeTmcServer) -> None:
    """A handler error answers FAIL; TMC redelivers and the second attempt is confirmed."""
    first = server.publish("taobao_trade_TradeCreate", trade(1))
    recorder = Recorder()
    recorder.fail = lambda event: recorder.attempts.count(event.platform_msg_id) == 1
    async with client(server, recorder):
        await server.wait_for(lambda: server.confirmed[first] == 1)
    assert recorder.attempts == [str(first), str(first)]
    assert server.failed[first] == 1
    assert server.fail_reasons == ["ConnectionError"]
    assert server.deliveries[first] == 2
    assert recorder.ids() == {str(first)}


async def test_unconfirmed_message_is_not_confirmed_before_handler_returns(
    server: FakeTmcServer,
) -> None:
    """While on_event is still running (publish not confirmed), no CONFIRM is sent."""
    first = server.publish("taobao_trade_TradeCreate", trade(1))
    recorder = Recorder()
    recorder.gate = asyncio.Event()
    async with client(server, recorder):
        await asyncio.wait_for(recorder.entered.wait(), 2)
        await asyncio.sleep(0.05)
        assert server.confirmed[first] == 0
        recorder.gate.set()
        await server.wait_for(lambda: server.confirmed[first] >= 1)


async def test_connection_drop_mid_stream_loses_nothing(server: FakeTmcServer) -> None:
    """The server cuts the TCP connection mid-stream; the client reconnects and every message is
    handed on and confirmed."""
    sent = [server.publish("taobao_trade_TradeSuccess", trade(n)) for n in range(10)]
    server.drop_after = 4
    recorder = Recorder()
    async with client(server, recorder) as tmc:
        await server.wait_for(lambda: set(server.confirmed) == set(sent) and server.settled)
        assert tmc.connected
    assert server.connects >= 2
    assert recorder.ids() == {str(i) for i in sent}
    assert tmc.state is TmcState.CLOSED


async def test_bad_credentials_are_refused_and_retried_with_backoff(
    server: FakeTmcServer,
) -> None:
    """A wrong secret never connects: the server refuses each attempt, nothing is delivered."""
    server.publish("taobao_trade_TradeCreate", trade(1))
    recorder = Recorder()
    async with client(server, recorder, secret="wrong-secret") as tmc:
        await server.wait_for(lambda: server.refused >= 3)
        assert not tmc.connected
        assert tmc.last_error == "refused"
    assert server.connects == 0
    assert recorder.attempts == []
    assert not server.deliveries


async def test_close_finishes_the_message_in_flight(server: FakeTmcServer) -> None:
    """close() waits for the running on_event, confirms it, then stops reading and closes."""
    first = server.publish("taobao_trade_TradeCreate", trade(1))
    recorder = Recorder()
    recorder.gate = asyncio.Event()
    tmc = client(server, recorder)
    await tmc.start()
    await asyncio.wait_for(recorder.entered.wait(), 2)
    closing = asyncio.create_task(tmc.close())
    await asyncio.sleep(0.05)
    assert not closing.done()
    recorder.gate.set()
    await asyncio.wait_for(closing, 2)
    assert server.confirmed[first] == 1
    assert tmc.state is TmcState.CLOSED and not tmc.connected
    await server.wait_for(lambda: not server.sockets, timeout=2)
    later = server.publish("taobao_trade_TradeCreate", trade(2))
    await asyncio.sleep(0.1)
    assert str(later) not in recorder.attempts


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_close_during_backoff_returns_promptly() -> None:
    """With no server to talk to, close() interrupts the reconnect loop at once."""
    recorder = Recorder()
    tmc = TmcClient(
        url=f"ws://127.0.0.1:{closed_port()}/",
        app_key=APP_KEY,
        app_secret=SECRET,
        account="tb1",
        on_event=recorder,
        backoff_initial=30.0,
        backoff_max=30.0,
    )
    await tmc.start()
    await asyncio.sleep(0.1)
    assert tmc.state in (TmcState.BACKOFF, TmcState.CONNECTING)
    await asyncio.wait_for(tmc.close(), 1.0)
    assert tmc.state is TmcState.CLOSED


async def test_unparsable_content_is_handed_on_and_confirmed(server: FakeTmcServer) -> None:
    """Content that is not JSON becomes a tmc_unparsed event and is confirmed (no redelivery
    storm)."""
    bad = server.publish("taobao_trade_TradeCreate", "not json", user_id="2200000000001")
    recorder = Recorder()
    async with client(server, recorder):
        await server.wait_for(lambda: server.confirmed[bad] == 1)
    (event,) = recorder.events
    assert event.event is not None
    assert (event.kind, event.event.type, event.event.key) == (
        Kind.EVENT,
        "tmc_unparsed",
        "taobao_trade_TradeCreate",
    )
    assert event.extra["content"] == "not json"


async def test_logs_carry_ids_never_content_or_secrets(server: FakeTmcServer) -> None:
    """Connect, handler failure, unparsed content and confirm logs name ids and topics only."""
    failing = server.publish("taobao_trade_TradeBuyerPay", trade(1))
    server.publish("taobao_trade_TradeCreate", '{"buyer_nick":"张秘密"')
    recorder = Recorder()
    recorder.fail = lambda event: (
        recorder.attempts.count(event.platform_msg_id) == 1
        and (event.platform_msg_id == str(failing))
    )
    with capture_logs() as logs:
        async with client(server, recorder):
            await server.wait_for(lambda: len(server.confirmed) == 2)
    events = {entry["event"] for entry in logs}
    assert {"tmc.connected", "tmc.handler_failed", "tmc.unparsed"} <= events
    dumped = repr(logs)
    for leak in (SECRET, "张秘密", "AAHdemo0penUid", "t**1", "WAIT_SELLER_SEND_GOODS"):
        assert leak not in dumped


async def test_message_time_becomes_sent_at(server: FakeTmcServer) -> None:
    """The data message's `time` (a Date header) is the event's sent_at."""
    when = datetime(2024, 1, 1, 4, 0, 5, tzinfo=UTC)
    server.publish("taobao_trade_TradeBuyerPay", trade(1), time=when)
    recorder = Recorder()
    async with client(server, recorder):
        await server.wait_for(lambda: len(server.confirmed) == 1)
    assert recorder.events[0].sent_at == when


def test_backoff_is_exponential_capped_and_jittered() -> None:
    """Delays double from backoff_initial, never exceed backoff_max, and jitter keeps them in
    [delay/2, delay]."""

    async def ignore(_event: PlatformEvent) -> None:
        return None

    def make(jitter: float) -> TmcClient:
        return TmcClient(
            url="ws://127.0.0.1:9/",
            app_key=APP_KEY,
            app_secret=SECRET,
            account="tb1",
            on_event=ignore,
            backoff_initial=1.0,
            backoff_max=60.0,
            jitter=lambda: jitter,
        )

    high, low = make(0.999999), make(0.0)
    assert [round(high.backoff_delay(n), 3) for n in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert [low.backoff_delay(n) for n in (0, 3, 100)] == [0.5, 4.0, 30.0]
