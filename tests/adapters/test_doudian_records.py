"""Doudian push records → events: tags, kinds, ids as strings, customers, receiver fields."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from gateway.errors import PayloadError
from gateway.models import Kind
from normalizer.normalize import Normalizer
from normalizer.pii import PiiMasker
from tests.adapters.test_doudian import AFTERSALE, NOW, PAID, RECEIVER, adapter, push, request


def test_array_with_order_and_aftersale_records() -> None:
    """Two records in one push become two events, an order and an after-sale."""
    paid, refund = adapter().receive(
        push(
            {"tag": "101", "msg_id": "m1", "data": PAID},
            {"tag": "200", "msg_id": "m2", "data": AFTERSALE},
        )
    )
    assert (paid.kind, paid.platform_msg_id) == (Kind.ORDER, "m1")
    assert paid.order is not None and paid.order.status == "trade_paid"
    assert paid.sent_at == datetime.fromtimestamp(1700000090, UTC)
    assert (refund.kind, refund.platform_msg_id) == (Kind.AFTERSALE, "m2")
    assert refund.order is not None
    assert (refund.order.id, refund.order.status) == ("7300000000000000001", "refund_created")
    assert refund.event is not None and refund.event.type == "doudian_refund_created"
    assert refund.extra["data"]["p_id"] == "6920000000000000001"


def test_single_object_msgid_data_object_and_numeric_tag() -> None:
    """The .NET shape (one object, msgId, data as an object, tag as a number) is accepted."""
    body = orjson.dumps({"tag": 101, "msgId": "m-net", "data": PAID})
    (event,) = adapter().receive(request(body))
    assert (event.kind, event.platform_msg_id) == (Kind.ORDER, "m-net")
    assert event.event is not None and event.event.key == "101"


def test_data_as_string_and_as_object_give_the_same_event() -> None:
    """`data` as a JSON string or as an object maps identically."""
    as_string = orjson.dumps([{"tag": "101", "msg_id": "m", "data": orjson.dumps(PAID).decode()}])
    as_object = orjson.dumps([{"tag": "101", "msg_id": "m", "data": PAID}])
    (a,) = adapter().receive(request(as_string))
    (b,) = adapter().receive(request(as_object))
    assert a == b


def test_verification_record_among_others_is_skipped() -> None:
    """Only the tag-0 record is skipped when a push mixes it with business records."""
    events = adapter().receive(
        push({"tag": "0", "msg_id": "0"}, {"tag": "101", "msg_id": "m1", "data": PAID})
    )
    assert [e.platform_msg_id for e in events] == ["m1"]


def test_huge_ids_kept_exactly_as_strings() -> None:
    """int64 ids (and larger integers) survive as exact strings, in order and extra."""
    data = {"p_id": 9223372036854775807, "shop_id": 18446744073709551615, "count": 2**60}
    body = b'[{"tag":"101","msg_id":18446744073709551615,"data":' + orjson.dumps(data) + b"}]"
    (event,) = adapter().receive(request(body))
    assert event.order is not None and event.order.id == "9223372036854775807"
    assert event.platform_msg_id == "18446744073709551615"
    assert event.customer.id == "18446744073709551615"
    assert event.extra["data"]["count"] == str(2**60)
    assert event.extra["data"]["shop_id"] == "18446744073709551615"


def test_id_beyond_64_bits_refused_rather_than_rounded() -> None:
    """An order id that no longer fits 64 bits (parsed as a float) is refused, not rounded."""
    body = b'[{"tag":"101","msg_id":"m","data":{"p_id":18446744073709551616}}]'
    with pytest.raises(PayloadError):
        adapter().receive(request(body))


def test_buyer_id_is_the_customer_and_payment_opens_the_window() -> None:
    """With a buyer id in data the buyer is the customer; a payment by a buyer is
    customer-initiated, one without a buyer (shop only) is not."""
    (with_buyer,) = adapter().receive(
        push({"tag": "101", "msg_id": "a", "data": PAID | {"user_id": 55}})
    )
    (shop_only,) = adapter().receive(push({"tag": "101", "msg_id": "b", "data": PAID}))
    assert (with_buyer.customer.id, with_buyer.customer_initiated) == ("55", True)
    assert (shop_only.customer.id, shop_only.customer_initiated) == ("100001", False)


@pytest.mark.parametrize(
    ("tag", "event_type"),
    [
        ("400", "doudian_product_change"),
        ("113", "doudian_trade_memo_modify"),
        ("999", "doudian_999"),
    ],
)
def test_other_tags_are_events(tag: str, event_type: str) -> None:
    """Product and other tags become kind event, typed by name (or by number when unknown)."""
    (event,) = adapter().receive(push({"tag": tag, "msg_id": "x", "data": {"shop_id": 1}}))
    assert event.kind is Kind.EVENT
    assert event.event is not None and event.event.type == event_type


def test_order_tag_without_order_id_is_still_delivered_as_event() -> None:
    """An order record that lacks p_id is not dropped: it arrives as an event."""
    (event,) = adapter().receive(push({"tag": "103", "msg_id": "x", "data": {"shop_id": 1}}))
    assert (event.kind, event.order) == (Kind.EVENT, None)


def test_record_without_msg_id_gets_a_stable_key() -> None:
    """A record without msg_id is keyed by its content: the same record, the same key."""
    (a,) = adapter().receive(push({"tag": "101", "data": PAID}))
    (b,) = adapter().receive(push({"tag": "101", "data": PAID}))
    (c,) = adapter().receive(push({"tag": "101", "data": PAID | {"pay_amount": 1}}))
    assert a.platform_msg_id == b.platform_msg_id != c.platform_msg_id
    assert a.platform_msg_id.startswith("sha256:")


def test_receiver_fields_stay_out_of_repr_and_are_masked_by_the_normalizer() -> None:
    """Receiver name/phone/address never show in repr; the normalizer masks them in extra."""
    (event,) = adapter().receive(push({"tag": "102", "msg_id": "r", "data": RECEIVER}))
    for secret in ("张三丰", "13800138000", "幸福路"):
        assert secret not in repr(event)
    assert event.extra["data"]["receiver_msg"]["tel"] == "13800138000"
    message = Normalizer(PiiMasker(), lambda: NOW)(event)
    masked = orjson.dumps(message.extra).decode()
    for secret in ("张三丰", "13800138000", "幸福路"):
        assert secret not in masked
