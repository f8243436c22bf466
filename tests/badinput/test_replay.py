"""Replays and retries: the replay window on WeChat's signed timestamp, and what the gateway does
with a reused nonce.

WeChat retries a callback with the very same query (``timestamp``, ``nonce``, signatures) and body,
so the gateway keeps no nonce cache — it would refuse legitimate retries. Protection against
replays is the timestamp window (GATEWAY_REPLAY_WINDOW, ±300 s) plus dedup: a replay inside the
window is answered success and published nothing new. Doudian and Douyin sign no timestamp; their
replays are deduplicated on the message id for GATEWAY_DEDUP_TTL.

These tests use the function-scoped `settings`/`database_url` fixtures (SQLite and PostgreSQL)
because they need a gateway with a controlled clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from structlog.testing import capture_logs

from gateway.accounts import parse_accounts
from gateway.app import create_app
from gateway.settings import Settings
from tests.badinput.callbacks import (
    ACCOUNTS,
    ENDPOINTS,
    GatewayClient,
    good,
    new_customer,
    text_xml,
    wechat_plain,
    wechat_safe,
)
from tests.conftest import InboundTap

pytestmark = [pytest.mark.rabbitmq]

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
async def client(aiohttp_client: Any, settings: Settings, clock: Clock) -> GatewayClient:
    app = create_app(settings, parse_accounts(ACCOUNTS, {}), clock=clock)
    test_client: GatewayClient = await aiohttp_client(app)
    return test_client


@pytest.fixture
async def real_time_client(aiohttp_client: Any, settings: Settings) -> GatewayClient:
    test_client: GatewayClient = await aiohttp_client(
        create_app(settings, parse_accounts(ACCOUNTS, {}))
    )
    return test_client


@pytest.mark.parametrize("account", ["plain", "safe"])
async def test_replay_window_edges(
    client: GatewayClient, inbound_tap: InboundTap, settings: Settings, account: str
) -> None:
    """Timestamps up to the window (300 s) either side of the gateway's clock are accepted; one
    second more is refused 401 and publishes nothing."""
    window = settings.replay_window
    base = int(T0.timestamp())
    build = wechat_plain if account == "plain" else wechat_safe
    answers: dict[int, int] = {}
    customers: dict[int, str] = {}
    for offset in (-window - 1, -window, window, window + 1):
        customers[offset] = new_customer()
        call = build(account, text_xml(customers[offset]), timestamp=base + offset)
        answers[offset] = (await call.send(client)).status
    assert answers == {-window - 1: 401, -window: 200, window: 200, window + 1: 401}
    await inbound_tap.wait_for(
        lambda: (
            inbound_tap.for_customer(customers[-window])
            and inbound_tap.for_customer(customers[window])
        )
    )
    await inbound_tap.settle()
    assert inbound_tap.for_customer(customers[-window - 1]) == []
    assert inbound_tap.for_customer(customers[window + 1]) == []


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_retry_with_same_nonce_is_answered_and_deduplicated(
    real_time_client: GatewayClient, inbound_tap: InboundTap, endpoint: str
) -> None:
    """A platform retry — the identical request, same nonce, timestamp and signature — is never
    refused: every attempt is answered 200 and the message is published exactly once."""
    customer = new_customer()
    call = good(endpoint, customer)
    with capture_logs() as logs:
        statuses = [(await call.send(real_time_client)).status for _ in range(3)]
    assert statuses == [200, 200, 200]
    events = [entry["event"] for entry in logs]
    assert events.count("inbound.duplicate") == 2
    assert "webhook.refused" not in events
    await inbound_tap.wait_for(lambda: inbound_tap.for_customer(customer))
    await inbound_tap.settle()
    assert len(inbound_tap.for_customer(customer)) == 1


async def test_reused_nonce_with_another_message_is_not_a_replay(
    client: GatewayClient, inbound_tap: InboundTap
) -> None:
    """The gateway keeps no nonce cache: a second, different safe-mode message with the same
    timestamp and nonce (each ciphertext correctly signed) is a new message, published too."""
    first, second = new_customer(), new_customer()
    stamp = int(T0.timestamp())
    calls = [
        wechat_safe("safe", text_xml(c), timestamp=stamp, nonce="424242") for c in (first, second)
    ]
    assert calls[0].param("msg_signature") != calls[1].param("msg_signature")
    assert [(await call.send(client)).status for call in calls] == [200, 200]
    await inbound_tap.wait_for(
        lambda: inbound_tap.for_customer(first) and inbound_tap.for_customer(second)
    )


async def test_replay_after_the_window_is_refused(
    client: GatewayClient, inbound_tap: InboundTap, clock: Clock, settings: Settings
) -> None:
    """A captured callback replayed inside the window is deduplicated (200, nothing new); the same
    bytes replayed once the window has passed are refused 401."""
    customer = new_customer()
    call = wechat_safe("safe", text_xml(customer), timestamp=int(T0.timestamp()))
    assert (await call.send(client)).status == 200
    clock.now = T0 + timedelta(seconds=settings.replay_window)
    assert (await call.send(client)).status == 200
    clock.now = T0 + timedelta(seconds=settings.replay_window + 1)
    with capture_logs() as logs:
        assert (await call.send(client)).status == 401
    assert [e["error"] for e in logs if e["event"] == "webhook.refused"] == ["ReplayError"]
    await inbound_tap.wait_for(lambda: inbound_tap.for_customer(customer))
    await inbound_tap.settle()
    assert len(inbound_tap.for_customer(customer)) == 1
