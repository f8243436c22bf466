"""The shape every platform adapter has: a handshake, a receive, an acknowledgement.

Adapters are constructed once per configured account in the composition root (`gateway.app`) and
are immutable; the gateway owns HTTP and calls them with a `WebhookRequest`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Protocol

from gateway.models import Platform, PlatformEvent, Reply, WebhookRequest

__all__ = ["Adapter", "Clock", "utc_now"]

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Adapter(Protocol):
    """One account of one platform. Raises `gateway.errors.AdapterError` subclasses only."""

    @property
    def platform(self) -> Platform: ...

    @property
    def account(self) -> str: ...

    def handshake(self, request: WebhookRequest) -> Reply:
        """Answer the platform's URL verification (GET echostr, challenge...)."""
        ...

    def receive(self, request: WebhookRequest) -> Sequence[PlatformEvent]:
        """Verify authenticity on the raw bytes, decrypt, parse; never returns unverified data."""
        ...

    def ack(self, request: WebhookRequest) -> Reply:
        """The success answer, sent only once every event is safely handed on."""
        ...
