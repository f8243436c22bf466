"""TMC frame codec: the reference's connect-sign and confirm-frame vectors, round trips, limits."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.taobao.tmc_frames import (
    Frame,
    Header,
    MessageKind,
    MessageType,
    TmcMessage,
    ValueFormat,
    confirm_frame,
    connect_ack_frame,
    connect_frame,
    connect_sign,
    data_frame,
    data_message,
    decode,
    encode,
    fail_frame,
    pull_frame,
)
from gateway.errors import PayloadError

CONFIRM_HEX = (
    "02 02 05 00 03 00 00 00 74 6b 6e 01 00 06 00 00 00 5f 5f 6b 69 6e 64 02 02 01 00 02 00 00 "
    "00 69 64 05 15 cd 5b 07 00 00 00 00 00 00"
)


def test_connect_sign_vector() -> None:
    """sign = UPPER(MD5(secret+"app_key"+key+"group_name"+group+"timestamp"+ts+secret)), §3.2."""
    assert connect_sign("demo_top_secret", "12345678", "default", "1700000000000") == (
        "1D05981A059153D88FB5F9AC6F362265"
    )


def test_confirm_frame_vector() -> None:
    """A confirm for id 123456789 with token "tkn" encodes to the reference's exact bytes."""
    assert encode(confirm_frame("tkn", 123456789)) == bytes.fromhex(CONFIRM_HEX)


def test_confirm_frame_vector_decodes() -> None:
    """The reference's confirm bytes decode to SEND, kind Confirm, id, token."""
    frame = decode(bytes.fromhex(CONFIRM_HEX))
    assert (frame.type, frame.kind, frame.get("id"), frame.token) == (
        MessageType.SEND,
        MessageKind.CONFIRM,
        123456789,
        "tkn",
    )


def test_connect_frame_carries_the_signed_fields() -> None:
    """CONNECT carries app_key, group_name, timestamp (ms, as a string), sign and sdk."""
    frame = decode(
        encode(
            connect_frame(
                app_key="12345678",
                app_secret="demo_top_secret",
                group="default",
                timestamp_ms=1700000000000,
            )
        )
    )
    assert frame.type is MessageType.CONNECT
    assert {h.name: h.value for h in frame.headers} == {
        "app_key": "12345678",
        "group_name": "default",
        "timestamp": "1700000000000",
        "sign": "1D05981A059153D88FB5F9AC6F362265",
        "sdk": "kefu-gateway",
    }
    assert "demo_top_secret" not in encode(frame).decode("latin-1")


def test_connect_ack_refusal_and_acceptance_round_trip() -> None:
    """CONNECTACK carries a token when accepted, a status code and phrase when refused."""
    accepted = decode(encode(connect_ack_frame("tok")))
    refused = decode(encode(connect_ack_frame(None, 401, "invalid signature")))
    assert (accepted.status_code, accepted.token) == (0, "tok")
    assert (refused.status_code, refused.status_phrase, refused.token) == (
        401,
        "invalid signature",
        None,
    )


def test_pull_and_fail_frames() -> None:
    """Pull requests and FAILs carry the token; the FAIL reason is cut to 128 characters."""
    pull = decode(encode(pull_frame("t")))
    fail = decode(encode(fail_frame("t", 42, "x" * 500)))
    assert (pull.kind, pull.token) == (MessageKind.PULL_REQUEST, "t")
    assert (fail.kind, fail.get("id"), fail.get("msg")) == (MessageKind.FAILED, 42, "x" * 128)


@pytest.mark.parametrize("gzip", [False, True])
def test_data_message_round_trip(gzip: bool) -> None:
    """A data message survives encode/decode, with plain or gzip-compressed content."""
    message = TmcMessage(
        id=6100000000000000001,
        topic="taobao_trade_TradeBuyerPay",
        content='{"tid":3800000000000000001,"buyer_nick":"t**1"}',
        time=datetime(2024, 1, 1, 4, 0, 5, tzinfo=UTC),
        user_id="2200000000001",
        nick="demo旗舰店",
        data_id="3800000000000000001",
    )
    frame = decode(encode(data_frame(message, gzip_content=gzip)))
    assert data_message(frame) == message


def test_gzip_bomb_refused() -> None:
    """Compressed content that inflates beyond the limit is refused without inflating it all."""
    packer = zlib.compressobj(wbits=31)
    bomb = packer.compress(b"{" + b" " * 5_000_000 + b"}") + packer.flush()
    frame = Frame(
        MessageType.SEND,
        (
            Header("__kind", ValueFormat.BYTE, 3),
            Header("id", ValueFormat.INT64, 1),
            Header("topic", ValueFormat.STRING, "t"),
            Header("content", ValueFormat.BYTES, bomb),
        ),
    )
    with pytest.raises(PayloadError):
        data_message(decode(encode(frame)), max_content_bytes=1 << 20)


@pytest.mark.parametrize(
    "headers",
    [
        (Header("__kind", ValueFormat.BYTE, 3), Header("topic", ValueFormat.STRING, "t")),
        (Header("__kind", ValueFormat.BYTE, 3), Header("id", ValueFormat.INT64, 1)),
        (
            Header("__kind", ValueFormat.BYTE, 3),
            Header("id", ValueFormat.INT64, 1),
            Header("topic", ValueFormat.STRING, "t"),
            Header("content", ValueFormat.BYTES, b"not gzip"),
        ),
        (Header("__kind", ValueFormat.BYTE, 2), Header("id", ValueFormat.INT64, 1)),
    ],
    ids=["no-id", "no-topic", "bad-gzip", "not-data"],
)
def test_incomplete_data_messages_refused(headers: tuple[Header, ...]) -> None:
    """A data message without id, topic or decodable content is a PayloadError."""
    with pytest.raises(PayloadError):
        data_message(Frame(MessageType.SEND, headers))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x02",
        b"\x01\x02\x00\x00",
        b"\x02\x09\x00\x00",
        b"\x02\x02\x07\x00\x00\x00",
        b"\x02\x02\x01\x00\x01\x00\x00\x00a\x09",
        b"\x02\x02\x05\x00\xff\xff\xff\xff",
        b"\x02\x02\x05\x00\x02\x00\x00\x00\xff\xfe\x00\x00",
        b"\x02\x02\x00\x00\x00",
    ],
    ids=[
        "empty",
        "short",
        "version-1",
        "bad-type",
        "bad-header",
        "bad-format",
        "negative-length",
        "bad-utf8",
        "trailing",
    ],
)
def test_malformed_frames_refused(data: bytes) -> None:
    """Truncated, unknown or inconsistent frames are PayloadErrors."""
    with pytest.raises(PayloadError):
        decode(data)


def test_reprs_hide_content_and_token() -> None:
    """Frames and messages never show content, nick or token in their repr."""
    message = TmcMessage(id=1, topic="t", content='{"buyer_nick":"秘密"}', nick="店")
    assert "秘密" not in repr(message) and "店" not in repr(message)
    frame = data_frame(message)
    assert "秘密" not in repr(frame)
    assert "tkn" not in repr(confirm_frame("tkn", 1))


header_values = st.one_of(
    st.tuples(st.just(ValueFormat.VOID), st.none()),
    st.tuples(st.just(ValueFormat.STRING), st.text(max_size=30)),
    st.tuples(st.just(ValueFormat.BYTE), st.integers(-128, 127)),
    st.tuples(st.just(ValueFormat.INT16), st.integers(-(2**15), 2**15 - 1)),
    st.tuples(st.just(ValueFormat.INT32), st.integers(-(2**31), 2**31 - 1)),
    st.tuples(st.just(ValueFormat.INT64), st.integers(-(2**63), 2**63 - 1)),
    st.tuples(st.just(ValueFormat.DATE), st.integers(0, 2**62)),
    st.tuples(st.just(ValueFormat.BYTES), st.binary(max_size=30)),
)
frames = st.builds(
    Frame,
    type=st.sampled_from(MessageType),
    headers=st.lists(
        st.builds(lambda n, fv: Header(n, fv[0], fv[1]), st.text(max_size=10), header_values),
        max_size=6,
    ).map(tuple),
    status_code=st.none() | st.integers(-(2**31), 2**31 - 1),
    status_phrase=st.none() | st.text(max_size=20),
    flag=st.none() | st.integers(-(2**31), 2**31 - 1),
    token=st.none() | st.text(max_size=20),
)


@settings(max_examples=200, deadline=None)
@given(frames)
def test_encode_decode_round_trip(frame: Frame) -> None:
    """decode(encode(f)) == f for every representable frame."""
    assert decode(encode(frame)) == frame


@settings(max_examples=100, deadline=None)
@given(frames, st.data())
def test_every_truncation_is_refused(frame: Frame, data: st.DataObject) -> None:
    """Any strict prefix of an encoded frame is refused, never misread."""
    raw = encode(frame)
    cut = data.draw(st.integers(0, len(raw) - 1))
    with pytest.raises(PayloadError):
        decode(raw[:cut])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_decode_raises_only_payload_errors(data: bytes) -> None:
    """Arbitrary bytes decode to a frame or raise PayloadError — nothing else."""
    try:
        frame = decode(data)
    except PayloadError:
        return
    try:
        data_message(frame)
    except PayloadError:
        pass
