"""The AMQP content header frame of a published message, encoded without pamqp's generic path.

pamqp marshals `Basic.Properties` by walking every property through its type table (≈ 12 µs
per message, the largest share of a publish on the webhook path). The gateway's publishes set
the same few properties — content type, delivery mode, message id, timestamp and a small table
of string headers — so those are packed here directly (≈ 2 µs); a message with any other
property, or a header value that is not a string, goes through pamqp unchanged. The bytes are
the same either way (tests/gateway/test_content_header.py compares them).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pamqp import frame, header
from pamqp.commands import Basic

__all__ = ["content_header_frame"]

_BASIC_CLASS = 60
_FRAME_HEADER = 2
_FRAME_END = b"\xce"
_SHORTSTR_MAX = 255
_KEY_MAX = 128  # pamqp truncates longer table keys: leave those to it
# Property flags (AMQP 0-9-1, class basic), highest bit first.
_CONTENT_TYPE = 1 << 15
_HEADERS = 1 << 13
_DELIVERY_MODE = 1 << 12
_MESSAGE_ID = 1 << 7
_TIMESTAMP = 1 << 6
_OTHERS = (
    "content_encoding",
    "priority",
    "correlation_id",
    "reply_to",
    "expiration",
    "message_type",
    "user_id",
    "app_id",
    "cluster_id",
)
_HEAD = struct.Struct(">HHQH")  # class, weight, body size, property flags
_FRAME = struct.Struct(">BHI")  # type, channel, payload size
_LONG = struct.Struct(">I")
_U64 = struct.Struct(">Q")


def content_header_frame(channel: int, body_size: int, properties: Basic.Properties) -> bytes:
    """The marshalled content header frame, byte for byte what `pamqp.frame.marshal` gives."""
    packed = _pack(properties)
    if packed is None:
        return frame.marshal(header.ContentHeader(0, body_size, properties), channel)
    flags, fields = packed
    payload = _HEAD.pack(_BASIC_CLASS, 0, body_size, flags) + fields
    return _FRAME.pack(_FRAME_HEADER, channel, len(payload)) + payload + _FRAME_END


def _pack(properties: Basic.Properties) -> tuple[int, bytes] | None:
    """Flags and encoded values, or None when pamqp must do it."""
    for name in _OTHERS:
        if _set(getattr(properties, name, None)):
            return None
    encoders: tuple[tuple[int, Any, Callable[[Any], bytes | None]], ...] = (
        (_CONTENT_TYPE, properties.content_type, _shortstr),
        (_HEADERS, properties.headers, _table),
        (_DELIVERY_MODE, properties.delivery_mode, _octet),
        (_MESSAGE_ID, properties.message_id, _shortstr),
        (_TIMESTAMP, properties.timestamp, _timestamp),
    )
    flags = 0
    parts: list[bytes] = []
    for flag, value, encode in encoders:  # in the order of the flags, as on the wire
        if not _set(value):
            continue
        encoded = encode(value)
        if encoded is None:
            return None
        flags |= flag
        parts.append(encoded)
    return flags, b"".join(parts)


def _set(value: object) -> bool:
    """pamqp's test for a property to send: neither None nor the empty string."""
    return value is not None and value != ""


def _shortstr(value: Any) -> bytes | None:
    if not isinstance(value, str):
        return None
    encoded = value.encode()
    return bytes((len(encoded),)) + encoded if len(encoded) <= _SHORTSTR_MAX else None


def _octet(value: Any) -> bytes | None:
    return bytes((value,)) if isinstance(value, int) and 0 <= value < 256 else None


def _timestamp(value: Any) -> bytes | None:
    """Whole seconds since the epoch (a naive datetime is taken as UTC, as pamqp does)."""
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=UTC)
    seconds = int(value.timestamp())
    return _U64.pack(seconds) if seconds >= 0 else None


def _table(headers: Any) -> bytes | None:
    """A field table of string values ('S', long strings), keys sorted as pamqp sorts them."""
    if not isinstance(headers, dict) or not headers:
        return None
    parts: list[bytes] = []
    for key, value in sorted(headers.items()):
        if not isinstance(key, str) or not isinstance(value, str):
            return None
        name = key.encode()
        if len(name) > _KEY_MAX:
            return None
        data = value.encode()
        parts += (bytes((len(name),)), name, b"S", _LONG.pack(len(data)), data)
    body = b"".join(parts)
    return _LONG.pack(len(body)) + body
