"""Taobao TMC protocol messages (reference §3.2) on top of the binary codec in `tmc_codec`.

A TMC *message* travels in the custom headers of a SEND frame: ``__kind`` (a Byte: 1 pull
request, 2 confirm, 3 data, 20 failed), ``id``, ``topic``, ``content`` (a JSON string, or gzip
bytes), ``time``, ``userid``, ``nick``, ``publisher``, ``dataid``. The client opens with a signed
CONNECT; every client frame after CONNECTACK carries the token the server issued. Pure: builds
and reads `Frame`s; `encode`/`decode` turn them into bytes.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from adapters.taobao.tmc_codec import (
    Frame,
    Header,
    HeaderValue,
    MessageKind,
    MessageType,
    ValueFormat,
    decode,
    encode,
)
from gateway.errors import PayloadError

__all__ = [
    "DEFAULT_MAX_CONTENT",
    "Frame",
    "Header",
    "MessageKind",
    "MessageType",
    "TmcMessage",
    "ValueFormat",
    "confirm_frame",
    "connect_ack_frame",
    "connect_frame",
    "connect_sign",
    "data_frame",
    "data_message",
    "decode",
    "encode",
    "fail_frame",
    "pull_frame",
]

DEFAULT_MAX_CONTENT = 1 << 20
_MAX_FAIL_REASON = 128


def connect_sign(app_secret: str, app_key: str, group: str, timestamp_ms: str) -> str:
    """Upper-case hex MD5(secret + "app_key"+key + "group_name"+group + "timestamp"+ts + secret)."""
    text = f"{app_secret}app_key{app_key}group_name{group}timestamp{timestamp_ms}{app_secret}"
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest().upper()


def _strings(**values: str) -> tuple[Header, ...]:
    return tuple(Header(k, ValueFormat.STRING, v) for k, v in values.items())


def connect_frame(
    *, app_key: str, app_secret: str, group: str, timestamp_ms: int, sdk: str = "kefu-gateway"
) -> Frame:
    ts = str(timestamp_ms)
    sign = connect_sign(app_secret, app_key, group, ts)
    headers = _strings(app_key=app_key, group_name=group, timestamp=ts, sign=sign, sdk=sdk)
    return Frame(MessageType.CONNECT, headers)


def connect_ack_frame(token: str | None, status_code: int = 0, phrase: str | None = None) -> Frame:
    """The server's answer to CONNECT: a token when status_code is 0, else a refusal phrase."""
    return Frame(MessageType.CONNECTACK, status_code=status_code, status_phrase=phrase, token=token)


def _kind(kind: MessageKind) -> Header:
    return Header("__kind", ValueFormat.BYTE, int(kind))


def pull_frame(token: str) -> Frame:
    return Frame(MessageType.SEND, (_kind(MessageKind.PULL_REQUEST),), token=token)


def confirm_frame(token: str, message_id: int) -> Frame:
    headers = (_kind(MessageKind.CONFIRM), Header("id", ValueFormat.INT64, message_id))
    return Frame(MessageType.SEND, headers, token=token)


def fail_frame(token: str, message_id: int, reason: str) -> Frame:
    """Ask for redelivery; the reason is cut to 128 characters like the Java SDK does."""
    headers = (
        _kind(MessageKind.FAILED),
        Header("id", ValueFormat.INT64, message_id),
        Header("msg", ValueFormat.STRING, reason[:_MAX_FAIL_REASON]),
    )
    return Frame(MessageType.SEND, headers, token=token)


@dataclass(frozen=True, slots=True)
class TmcMessage:
    """A data message: what `events.to_event` maps. ``content`` is JSON text, gunzipped."""

    id: int
    topic: str
    content: str
    time: datetime | None = None
    user_id: str | None = None
    nick: str | None = None
    publisher: str | None = None
    data_id: str | None = None

    def __repr__(self) -> str:  # content and nick may name buyers: never in a log line
        return f"TmcMessage(id={self.id}, topic={self.topic!r})"


def data_frame(message: TmcMessage, *, gzip_content: bool = False) -> Frame:
    """The server side of a data message (used by fakes and tests)."""
    content: Header
    if gzip_content:
        packer = zlib.compressobj(wbits=31)
        packed = packer.compress(message.content.encode()) + packer.flush()
        content = Header("content", ValueFormat.BYTES, packed)
    else:
        content = Header("content", ValueFormat.STRING, message.content)
    headers: list[Header] = [
        _kind(MessageKind.DATA),
        Header("id", ValueFormat.INT64, message.id),
        Header("topic", ValueFormat.STRING, message.topic),
        content,
    ]
    if message.time is not None:
        millis = int(message.time.timestamp() * 1000)
        headers.append(Header("time", ValueFormat.DATE, millis))
    optional = {"nick": message.nick, "publisher": message.publisher}
    headers.extend(_strings(**{k: v for k, v in optional.items() if v is not None}))
    headers.extend(_ids(userid=message.user_id, dataid=message.data_id))
    return Frame(MessageType.SEND, tuple(headers))


def _ids(**values: str | None) -> Iterable[Header]:
    for name, value in values.items():
        if value is not None:
            yield (
                Header(name, ValueFormat.INT64, int(value))
                if value.isascii() and value.isdigit()
                else Header(name, ValueFormat.STRING, value)
            )


def data_message(frame: Frame, max_content_bytes: int = DEFAULT_MAX_CONTENT) -> TmcMessage:
    """The data message a SEND frame of kind Data carries; PayloadError when malformed."""
    if frame.type is not MessageType.SEND or frame.kind != MessageKind.DATA:
        raise PayloadError("not a TMC data message")
    message_id = frame.get("id")
    if (
        isinstance(message_id, str)
        and message_id.isascii()
        and message_id.isdigit()
        and len(message_id) <= 19
    ):
        message_id = int(message_id)
    if not isinstance(message_id, int) or message_id < 0:
        raise PayloadError("TMC data message without a valid id")
    topic = frame.get("topic")
    if not isinstance(topic, str) or not topic or len(topic) > 128:
        raise PayloadError("TMC data message without a topic")
    return TmcMessage(
        id=message_id,
        topic=topic,
        content=_content(frame.get("content"), max_content_bytes),
        time=_time(frame.get("time")),
        user_id=_text(frame.get("userid")),
        nick=_text(frame.get("nick")),
        publisher=_text(frame.get("publisher")),
        data_id=_text(frame.get("dataid")),
    )


def _content(value: HeaderValue, limit: int) -> str:
    if isinstance(value, str):
        if len(value) > limit:
            raise PayloadError("TMC content too large")
        return value
    if not isinstance(value, bytes):
        raise PayloadError("TMC data message without content")
    inflater = zlib.decompressobj(wbits=31)  # gzip only, as the Java SDK expects
    try:
        raw = inflater.decompress(value, limit + 1)
        if len(raw) > limit or not inflater.eof:
            raise PayloadError("TMC content too large or truncated")
        return raw.decode()
    except (zlib.error, UnicodeDecodeError) as exc:
        raise PayloadError("TMC content is not gzip-compressed UTF-8") from exc


def _time(value: HeaderValue) -> datetime | None:
    if not isinstance(value, int) or not 0 < value < 4_102_444_800_000:
        return None
    return datetime.fromtimestamp(value / 1000, UTC)


def _text(value: HeaderValue) -> str | None:
    if isinstance(value, int):
        return str(value)
    return value if isinstance(value, str) and value else None
