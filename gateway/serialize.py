"""Message ↔ JSON (contract `gateway.message/1`) and Message → AMQP `Envelope`.

`from_json` is the inverse of `to_json` for consumers: it validates the document against the
`Message` dataclasses (types, enums, timestamps) and raises `MalformedMessage` otherwise.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError

from gateway.errors import MalformedMessage
from gateway.models import SCHEMA, Envelope, Message, Route
from gateway.outbound.schema import describe_errors
from gateway.routing import routing_key

__all__ = ["envelope", "from_json", "to_dict", "to_json"]

_MESSAGE: TypeAdapter[Message] = TypeAdapter(Message)


def to_dict(message: Message) -> dict[str, Any]:
    """The wire form of a Message: field order and names as in DESIGN.md."""
    return {
        "schema": message.schema,
        "id": message.id,
        "platform": message.platform.value,
        "account": message.account,
        "platform_msg_id": message.platform_msg_id,
        "customer": {
            "id": message.customer.id,
            "union_id": message.customer.union_id,
            "nickname": message.customer.nickname,
        },
        "kind": message.kind.value,
        "text": message.text,
        "media": dict(message.media) if message.media is not None else None,
        "event": (
            {"type": message.event.type, "key": message.event.key} if message.event else None
        ),
        "order": (
            {"id": message.order.id, "status": message.order.status} if message.order else None
        ),
        "sent_at": _iso(message.sent_at),
        "received_at": _iso(message.received_at),
        "pii": list(message.pii),
        "rules": {
            "keywords": list(message.rules.keywords),
            "sensitive": list(message.rules.sensitive),
            "action": message.rules.action,
            "rule_id": message.rules.rule_id,
        },
        "route": (
            {
                "target": message.route.target.value,
                "advisor_id": message.route.advisor_id,
                "group_id": message.route.group_id,
                "reason": message.route.reason,
            }
            if message.route
            else None
        ),
        "extra": dict(message.extra),
    }


def to_json(message: Message) -> bytes:
    return orjson.dumps(to_dict(message))


def from_json(body: bytes) -> Message:
    """Parse a `gateway.message/1` document; `MalformedMessage` (never echoing values) if not."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedMessage(f"not JSON ({len(body)} bytes)") from exc
    if not isinstance(doc, dict):
        raise MalformedMessage(f"not a {SCHEMA} document (a JSON {type(doc).__name__})")
    schema = doc.get("schema")
    if schema != SCHEMA:
        found = repr(schema[:64]) if isinstance(schema, str) else "missing"
        raise MalformedMessage(f"not a {SCHEMA} document (schema {found})")
    try:
        return _MESSAGE.validate_python(doc)
    except ValidationError as exc:
        raise MalformedMessage(f"invalid {SCHEMA}: {describe_errors(exc)}") from exc


def envelope(message: Message, route: Route) -> Envelope:
    """The AMQP envelope for a routed message (properties and headers per DESIGN.md)."""
    routed = message if message.route is route else replace(message, route=route)
    headers = {
        "platform": message.platform.value,
        "account": message.account,
        "kind": message.kind.value,
        "route": route.target.value,
    }
    if route.advisor_id:
        headers["advisor_id"] = route.advisor_id
    return Envelope(
        routing_key=routing_key(message, route),
        message_id=message.id,
        body=to_json(routed),
        headers=headers,
        timestamp=message.received_at,
    )


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
