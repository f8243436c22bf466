"""Value objects shared by every stage: the inbound request, the platform event, the Message.

A leaf module: it imports nothing from the project, so the pure stages (`adapters`, `normalizer`,
`rules`) can depend on it freely. Everything here is immutable.

Flow of types through the pipeline::

    WebhookRequest --adapter--> PlatformEvent --normalizer--> Message --rules/routing--> Envelope
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "SCHEMA",
    "Customer",
    "Envelope",
    "EventInfo",
    "Kind",
    "Message",
    "OrderInfo",
    "Platform",
    "PlatformEvent",
    "Reply",
    "Route",
    "RouteTarget",
    "RulesResult",
    "WebhookRequest",
]

SCHEMA = "gateway.message/1"


class Platform(str, enum.Enum):
    """The platform families kefu-gateway speaks to; also the first webhook path segment."""

    WECHAT = "wechat"
    DOUYIN = "douyin"
    TAOBAO = "taobao"


class Kind(str, enum.Enum):
    """What a message is, across platforms (contract: `gateway.message/1` field `kind`)."""

    TEXT = "text"
    IMAGE = "image"
    VOICE = "voice"
    VIDEO = "video"
    FILE = "file"
    LINK = "link"
    LOCATION = "location"
    CARD = "card"
    ORDER = "order"
    AFTERSALE = "aftersale"
    EVENT = "event"


class RouteTarget(str, enum.Enum):
    """Where routing sent a message; the first segment of its routing key."""

    ADVISOR = "advisor"
    BOT = "bot"
    EVENT = "event"
    QUARANTINE = "quarantine"


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """What an adapter sees of an HTTP request: no aiohttp types, raw body bytes.

    `query` keeps every value of a repeated parameter so adapters can refuse ambiguous requests.
    """

    method: str
    headers: Mapping[str, str]
    query: Mapping[str, tuple[str, ...]]
    body: bytes
    content_type: str = ""

    def param(self, name: str) -> str | None:
        """The single value of a query parameter; None when absent."""
        values = self.query.get(name)
        if not values:
            return None
        return values[0]


@dataclass(frozen=True, slots=True)
class Reply:
    """The HTTP answer an adapter wants sent once its events are safely handed on."""

    body: bytes = b"success"
    content_type: str = "text/plain"
    status: int = 200


@dataclass(frozen=True, slots=True)
class Customer:
    id: str
    union_id: str | None = None
    nickname: str | None = None


@dataclass(frozen=True, slots=True)
class EventInfo:
    type: str
    key: str | None = None


@dataclass(frozen=True, slots=True)
class OrderInfo:
    id: str
    status: str | None = None


@dataclass(frozen=True, slots=True)
class PlatformEvent:
    """One callback record as an adapter understood it; text and fields are not yet masked.

    `platform_msg_id` is the platform's own identity of the record (or the documented dedup key for
    records without one); it is the dedup key and the input of the stable Message id.
    `customer_initiated` marks actions that open the reply window (message, menu click, follow,
    scan, payment).
    """

    platform: Platform
    account: str
    platform_msg_id: str
    customer: Customer
    kind: Kind
    sent_at: datetime
    text: str | None = None
    media: Mapping[str, str] | None = None
    event: EventInfo | None = None
    order: OrderInfo | None = None
    customer_initiated: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RulesResult:
    """What the rules stage found: matched keyword rules, sensitive-word hits, the decision."""

    keywords: tuple[str, ...] = ()
    sensitive: tuple[str, ...] = ()
    action: str | None = None
    rule_id: str | None = None


@dataclass(frozen=True, slots=True)
class Route:
    target: RouteTarget
    reason: str
    advisor_id: str | None = None
    group_id: str | None = None


@dataclass(frozen=True, slots=True)
class Message:
    """The normalized, masked message (contract: `gateway.message/1`)."""

    id: str
    platform: Platform
    account: str
    platform_msg_id: str
    customer: Customer
    kind: Kind
    sent_at: datetime
    received_at: datetime
    text: str | None = None
    media: Mapping[str, str] | None = None
    event: EventInfo | None = None
    order: OrderInfo | None = None
    pii: tuple[str, ...] = ()
    rules: RulesResult = RulesResult()
    route: Route | None = None
    customer_initiated: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)
    schema: str = SCHEMA


@dataclass(frozen=True, slots=True)
class Envelope:
    """A message ready for RabbitMQ: routing key, stable id, JSON body, headers."""

    routing_key: str
    message_id: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    timestamp: datetime | None = None
