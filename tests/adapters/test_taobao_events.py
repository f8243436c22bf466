"""Taobao TMC data messages → PlatformEvents: trade, refund and other topics, unparsable content."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.taobao import TmcMessage, frame_event, to_event
from adapters.taobao.tmc_frames import (
    Frame,
    Header,
    MessageType,
    ValueFormat,
    data_frame,
    decode,
    encode,
)
from gateway.errors import AdapterError, PayloadError
from gateway.models import Kind, Platform

NOW = datetime(2026, 1, 1, tzinfo=UTC)
PAY_CONTENT = (
    '{"tid":3800000000000000001,"oid":3800000000000000001,"buyer_open_uid":"AAHdemo0penUid",'
    '"buyer_nick":"t**1","seller_nick":"demo旗舰店","payment":"99.00",'
    '"status":"WAIT_SELLER_SEND_GOODS","type":"fixed"}'
)
REFERENCE = TmcMessage(
    id=6100000000000000001,
    topic="taobao_trade_TradeBuyerPay",
    content=PAY_CONTENT,
    time=datetime(2024, 1, 1, 4, 0, 5, tzinfo=UTC),
    user_id="2200000000001",
    nick="demo旗舰店",
    data_id="3800000000000000001",
)


def test_reference_trade_message() -> None:
    """The reference's TradeBuyerPay message becomes a customer-initiated order event."""
    event = to_event(REFERENCE, account="tb1", clock=lambda: NOW)
    assert event.platform is Platform.TAOBAO
    assert event.platform_msg_id == "6100000000000000001"
    assert event.kind is Kind.ORDER
    assert event.order is not None
    assert (event.order.id, event.order.status) == ("3800000000000000001", "WAIT_SELLER_SEND_GOODS")
    assert event.event is not None and event.event.type == "taobao_trade_TradeBuyerPay"
    assert (event.customer.id, event.customer.nickname) == ("AAHdemo0penUid", "t**1")
    assert event.customer_initiated
    assert event.sent_at == datetime(2024, 1, 1, 4, 0, 5, tzinfo=UTC)
    assert event.extra["content"]["tid"] == "3800000000000000001"
    assert event.extra["seller_id"] == "2200000000001"
    assert event.extra["data_id"] == "3800000000000000001"


def test_refund_message_is_aftersale() -> None:
    """taobao_refund_* with refund_id → aftersale, status from the topic."""
    event = to_event(
        TmcMessage(
            id=8,
            topic="taobao_refund_RefundCreated",
            content='{"refund_id":9100000000000000001,"tid":3800000000000000001,'
            '"buyer_open_uid":"AAHx","bill_type":"refund_bill"}',
        ),
        account="tb1",
        clock=lambda: NOW,
    )
    assert event.kind is Kind.AFTERSALE
    assert event.order is not None
    assert (event.order.id, event.order.status) == ("9100000000000000001", "RefundCreated")
    assert event.sent_at == NOW
    assert not event.customer_initiated


def test_trade_without_status_uses_topic() -> None:
    """A trade message without `status` takes its status from the topic's last part."""
    event = to_event(
        TmcMessage(id=1, topic="taobao_trade_TradeLogisticsAddressChanged", content='{"tid":5}'),
        account="tb1",
        clock=lambda: NOW,
    )
    assert event.kind is Kind.ORDER
    assert event.order is not None and event.order.status == "TradeLogisticsAddressChanged"


@pytest.mark.parametrize(
    ("topic", "content", "customer"),
    [
        ("taobao_item_ItemUpshelf", '{"num_iid":1}', "2200000000001"),
        ("taobao_top_AuthCancel", '{"user_id":2200000000009,"open_id":"o"}', "2200000000009"),
        ("taobao_trade_TradeCreate", '{"buyer_nick":"t**1"}', "2200000000001"),
    ],
    ids=["item", "auth-cancel", "trade-without-tid"],
)
def test_other_topics_are_events(topic: str, content: str, customer: str) -> None:
    """Other topics, and a trade message without tid, are kind event typed by topic."""
    event = to_event(
        TmcMessage(id=1, topic=topic, content=content, user_id="2200000000001"),
        account="tb1",
        clock=lambda: NOW,
    )
    assert event.kind is Kind.EVENT
    assert event.event is not None and event.event.type == topic
    assert event.customer.id == customer
    assert event.customer.nickname is None


@pytest.mark.parametrize("content", ["not json", "[1,2]", '"text"', "{" * 50 + "}" * 50])
def test_content_that_is_not_an_object_is_malformed(content: str) -> None:
    """to_event refuses content that is not a JSON object within the depth limit."""
    with pytest.raises(PayloadError):
        to_event(TmcMessage(id=1, topic="t", content=content), account="tb1", clock=lambda: NOW)


def test_frame_event_maps_a_data_frame() -> None:
    """frame_event decodes and maps a data frame in one step."""
    mapped = frame_event(decode_frame(data_frame(REFERENCE)), account="tb1", clock=lambda: NOW)
    assert mapped is not None
    assert (mapped.message_id, mapped.error) == (6100000000000000001, None)
    assert mapped.event.kind is Kind.ORDER


def test_frame_event_turns_bad_content_into_an_unparsed_event() -> None:
    """Unparsable content still yields an event (tmc_unparsed) so the message can be confirmed."""
    message = TmcMessage(id=5, topic="taobao_trade_TradeCreate", content="oops", user_id="22")
    mapped = frame_event(decode_frame(data_frame(message)), account="tb1", clock=lambda: NOW)
    assert mapped is not None
    assert (mapped.message_id, mapped.error) == (5, "PayloadError")
    assert mapped.event.event is not None
    assert (mapped.event.event.type, mapped.event.event.key) == (
        "tmc_unparsed",
        "taobao_trade_TradeCreate",
    )
    assert mapped.event.extra["content"] == "oops"
    assert mapped.event.customer.id == "22"


def test_frame_event_with_undecodable_gzip_keeps_the_id() -> None:
    """A frame whose compressed content cannot be inflated is still confirmable."""
    frame = Frame(
        MessageType.SEND,
        (
            Header("__kind", ValueFormat.BYTE, 3),
            Header("id", ValueFormat.INT64, 77),
            Header("topic", ValueFormat.STRING, "taobao_refund_RefundSuccess"),
            Header("content", ValueFormat.BYTES, b"\x1f\x8bbroken"),
        ),
    )
    mapped = frame_event(frame, account="tb1", clock=lambda: NOW)
    assert mapped is not None and mapped.message_id == 77
    assert "content" not in mapped.event.extra


def test_frame_event_without_id_is_none() -> None:
    """A data frame without an id cannot be confirmed: frame_event says so with None."""
    frame = Frame(MessageType.SEND, (Header("__kind", ValueFormat.BYTE, 3),))
    assert frame_event(frame, account="tb1", clock=lambda: NOW) is None


def decode_frame(frame: Frame) -> Frame:
    return decode(encode(frame))


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["taobao_trade_TradeCreate", "taobao_refund_RefundCreated", "x_y"]),
    st.one_of(
        st.text(max_size=100),
        st.dictionaries(
            st.sampled_from(["tid", "refund_id", "buyer_open_uid", "buyer_nick", "status"]),
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
        ).map(json.dumps),
    ),
)
def test_fuzz_to_event_raises_only_adapter_errors(topic: str, content: str) -> None:
    """Any content maps to an event or raises an AdapterError subclass; frame_event never
    raises at all."""
    message = TmcMessage(id=1, topic=topic, content=content)
    try:
        to_event(message, account="tb1", clock=lambda: NOW)
    except AdapterError:
        pass
    assert frame_event(decode_frame(data_frame(message)), account="tb1", clock=lambda: NOW)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_frame_bytes_raise_only_payload_errors(data: bytes) -> None:
    """Arbitrary frame bytes either decode (and map without raising) or raise PayloadError."""
    try:
        frame = decode(data)
    except PayloadError:
        return
    frame_event(frame, account="tb1", clock=lambda: NOW)
