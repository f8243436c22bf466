"""Taobao TMC binary frames, protocol v2 (reference §3.2): the byte-level codec, both directions.

Layout, little-endian::

    u8 version (2) | u8 message type | headers... | i16 0 (end of headers)
    header: i16 type; StatusCode/Flag → i32; StatusPhrase/Token → counted string;
            Custom → counted-string name, u8 value format, value
    counted string: i32 byte length + UTF-8

What the frames mean (connect, data, confirm, fail, pull) is `adapters.taobao.tmc_frames`.
`decode` raises `PayloadError` for anything malformed; it never reads past the buffer.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from gateway.errors import PayloadError

__all__ = [
    "Frame",
    "Header",
    "HeaderType",
    "HeaderValue",
    "MessageKind",
    "MessageType",
    "ValueFormat",
    "decode",
    "encode",
]

VERSION = 2
HeaderValue = str | int | bytes | None


class MessageType(enum.IntEnum):
    CONNECT = 0
    CONNECTACK = 1
    SEND = 2
    SENDACK = 3


class HeaderType(enum.IntEnum):
    END = 0
    CUSTOM = 1
    STATUS_CODE = 2
    STATUS_PHRASE = 3
    FLAG = 4
    TOKEN = 5


class ValueFormat(enum.IntEnum):
    VOID = 0
    STRING = 1
    BYTE = 2
    INT16 = 3
    INT32 = 4
    INT64 = 5
    DATE = 6  # i64 epoch milliseconds
    BYTES = 7


class MessageKind(enum.IntEnum):
    NONE = 0
    PULL_REQUEST = 1
    CONFIRM = 2
    DATA = 3
    FAILED = 20


_INTS = {
    ValueFormat.BYTE: struct.Struct("<b"),
    ValueFormat.INT16: struct.Struct("<h"),
    ValueFormat.INT32: struct.Struct("<i"),
    ValueFormat.INT64: struct.Struct("<q"),
    ValueFormat.DATE: struct.Struct("<q"),
}
_I16, _I32 = struct.Struct("<h"), struct.Struct("<i")


@dataclass(frozen=True, slots=True)
class Header:
    """One custom header; the value's Python type follows `format` (int, str, bytes or None)."""

    name: str
    format: ValueFormat
    value: HeaderValue


@dataclass(frozen=True, slots=True)
class Frame:
    type: MessageType
    headers: tuple[Header, ...] = ()
    status_code: int | None = None
    status_phrase: str | None = None
    flag: int | None = None
    token: str | None = None

    def get(self, name: str) -> HeaderValue:
        """The value of the first custom header called `name` (None when absent)."""
        return next((h.value for h in self.headers if h.name == name), None)

    @property
    def kind(self) -> int | None:
        value = self.get("__kind")
        return value if isinstance(value, int) else None

    def __repr__(self) -> str:  # header values (content, nick) and the token stay out of logs
        names = [h.name for h in self.headers]
        return f"Frame(type={self.type.name}, kind={self.kind}, headers={names})"


def encode(frame: Frame) -> bytes:
    out = bytearray((VERSION, frame.type))
    if frame.status_code is not None:
        out += _I16.pack(HeaderType.STATUS_CODE) + _I32.pack(frame.status_code)
    if frame.status_phrase is not None:
        out += _I16.pack(HeaderType.STATUS_PHRASE) + _counted(frame.status_phrase.encode())
    if frame.flag is not None:
        out += _I16.pack(HeaderType.FLAG) + _I32.pack(frame.flag)
    if frame.token is not None:
        out += _I16.pack(HeaderType.TOKEN) + _counted(frame.token.encode())
    for h in frame.headers:
        out += _I16.pack(HeaderType.CUSTOM) + _counted(h.name.encode()) + bytes((h.format,))
        out += _value(h)
    out += _I16.pack(HeaderType.END)
    return bytes(out)


def _counted(data: bytes) -> bytes:
    return _I32.pack(len(data)) + data


def _value(h: Header) -> bytes:
    if h.format is ValueFormat.VOID:
        return b""
    if h.format in _INTS and isinstance(h.value, int):
        try:
            return _INTS[h.format].pack(h.value)
        except struct.error as exc:
            raise ValueError(f"header {h.name} out of range for {h.format.name}") from exc
    if h.format is ValueFormat.STRING and isinstance(h.value, str):
        return _counted(h.value.encode())
    if h.format is ValueFormat.BYTES and isinstance(h.value, bytes):
        return _counted(h.value)
    raise ValueError(f"header {h.name}: value does not match {h.format.name}")


class _Reader:
    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data, self._pos = data, 0

    def take(self, size: int) -> bytes:
        if size < 0 or self._pos + size > len(self._data):
            raise PayloadError("TMC frame truncated")
        chunk = self._data[self._pos : self._pos + size]
        self._pos += size
        return chunk

    def unpack(self, fmt: struct.Struct) -> int:
        value: int = fmt.unpack(self.take(fmt.size))[0]
        return value

    def blob(self) -> bytes:
        return self.take(self.unpack(_I32))

    def string(self) -> str:
        try:
            return self.blob().decode()
        except UnicodeDecodeError as exc:
            raise PayloadError("TMC frame string is not UTF-8") from exc

    @property
    def done(self) -> bool:
        return self._pos == len(self._data)


def decode(data: bytes) -> Frame:
    """Parse one binary WebSocket message into a `Frame`."""
    reader = _Reader(data)
    version, raw_type = reader.take(2)
    if version != VERSION or raw_type > MessageType.SENDACK:
        raise PayloadError("unsupported TMC frame version or type")
    fields: dict[str, int | str] = {}
    headers: list[Header] = []
    while (header_type := reader.unpack(_I16)) != HeaderType.END:
        if header_type == HeaderType.CUSTOM:
            name = reader.string()
            raw_format = reader.take(1)[0]
            if raw_format > ValueFormat.BYTES:
                raise PayloadError("unknown TMC header value format")
            fmt = ValueFormat(raw_format)
            headers.append(Header(name, fmt, _read_value(reader, fmt)))
        elif header_type in (HeaderType.STATUS_CODE, HeaderType.FLAG):
            fields[HeaderType(header_type).name.lower()] = reader.unpack(_I32)
        elif header_type in (HeaderType.STATUS_PHRASE, HeaderType.TOKEN):
            fields[HeaderType(header_type).name.lower()] = reader.string()
        else:
            raise PayloadError("unknown TMC header type")
    if not reader.done:
        raise PayloadError("trailing bytes after TMC frame")
    code, flag = fields.get("status_code"), fields.get("flag")
    phrase, token = fields.get("status_phrase"), fields.get("token")
    return Frame(
        type=MessageType(raw_type),
        headers=tuple(headers),
        status_code=code if isinstance(code, int) else None,
        status_phrase=phrase if isinstance(phrase, str) else None,
        flag=flag if isinstance(flag, int) else None,
        token=token if isinstance(token, str) else None,
    )


def _read_value(reader: _Reader, fmt: ValueFormat) -> HeaderValue:
    if fmt is ValueFormat.VOID:
        return None
    if fmt in _INTS:
        return reader.unpack(_INTS[fmt])
    if fmt is ValueFormat.STRING:
        return reader.string()
    return reader.blob()
