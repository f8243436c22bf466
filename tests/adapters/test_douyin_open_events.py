"""Douyin open-platform webhooks → events: IM message kinds, customers, dedup keys, content."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import orjson
import pytest

from adapters.douyin.simulate import douyin_im_text
from gateway.models import Kind, Platform
from tests.adapters.test_douyin_open import (
    CLIENT_KEY,
    CUSTOMER,
    IM_TEXT,
    MERCHANT,
    adapter,
    signed,
    webhook,
)


def test_im_text_message() -> None:
    """im_receive_msg text → a customer-initiated text from from_user_id, keyed by Msg-Id."""
    (event,) = adapter().receive(webhook(IM_TEXT, msg_id="dy-msg-42"))
    assert event.platform is Platform.DOUYIN
    assert (event.kind, event.text) == (Kind.TEXT, "还有货吗?")
    assert event.customer.id == CUSTOMER
    assert event.customer.nickname == "顾客A"
    assert event.customer_initiated
    assert event.platform_msg_id == "dy-msg-42"
    assert event.sent_at == datetime.fromtimestamp(1700000000.123, UTC)
    assert event.extra["content"]["server_message_id"] == "@demoMsg=="
    assert event.extra["to_user_id"] == MERCHANT
    assert "user_infos" not in event.extra["content"]
    assert adapter().ack(webhook(IM_TEXT)).body == b"success"


def test_msg_id_header_is_case_insensitive() -> None:
    """The Msg-Id header is found whatever its case."""
    body = orjson.dumps(IM_TEXT)
    (event,) = adapter().receive(signed(body, **{"Msg-Id": "MixedCase"}))
    assert event.platform_msg_id == "MixedCase"


def test_dedup_key_without_msg_id_header() -> None:
    """Without Msg-Id the key is event + server_message_id, else a stable hash of the body."""
    (event,) = adapter().receive(webhook(IM_TEXT, msg_id=None))
    assert event.platform_msg_id == "im_receive_msg:@demoMsg=="
    follow = {"event": "new_follow_action", "from_user_id": CUSTOMER, "content": {}}
    (a,) = adapter().receive(webhook(follow, msg_id=None))
    (b,) = adapter().receive(webhook(follow, msg_id=None))
    (c,) = adapter().receive(webhook(follow | {"to_user_id": "x"}, msg_id=None))
    assert a.platform_msg_id == b.platform_msg_id != c.platform_msg_id
    assert a.platform_msg_id.startswith("sha256:")


def test_content_as_string_and_as_object_give_the_same_event() -> None:
    """`content` as a JSON string maps exactly like the object."""
    as_string = IM_TEXT | {"content": json.dumps(IM_TEXT["content"], ensure_ascii=False)}
    (a,) = adapter().receive(webhook(IM_TEXT))
    (b,) = adapter().receive(webhook(as_string))
    assert a == b


@pytest.mark.parametrize(
    ("message_type", "kind"),
    [
        ("image", Kind.IMAGE),
        ("emoji", Kind.IMAGE),
        ("video", Kind.VIDEO),
        ("retain_consult_card", Kind.CARD),
        ("file", Kind.FILE),
    ],
)
def test_im_media_messages(message_type: str, kind: Kind) -> None:
    """Non-text IM messages get their kind and keep resource fields as media."""
    content = IM_TEXT["content"] | {
        "message_type": message_type,
        "resource_url": "https://example.invalid/r",
        "resource_width": 640,
    }
    (event,) = adapter().receive(webhook(IM_TEXT | {"content": content}))
    assert event.kind is kind
    assert event.text is None
    assert event.media == {"resource_url": "https://example.invalid/r", "resource_width": "640"}
    assert event.customer_initiated


def test_unknown_im_message_type_is_a_customer_event() -> None:
    """A message type not in the table is delivered as an event and keeps its text in extra."""
    content = IM_TEXT["content"] | {"message_type": "sticker_v9"}
    (event,) = adapter().receive(webhook(IM_TEXT | {"content": content}))
    assert event.kind is Kind.EVENT
    assert event.event is not None and event.event.type == "im_msg_sticker_v9"
    assert event.customer_initiated
    assert event.extra["content"]["text"] == "还有货吗?"


def test_enter_direct_msg_with_string_content_opens_the_window() -> None:
    """im_enter_direct_msg (content sent as a string) is a customer-initiated event."""
    envelope = {
        "event": "im_enter_direct_msg",
        "from_user_id": CUSTOMER,
        "to_user_id": MERCHANT,
        "content": '{"conversation_short_id":"@c","server_message_id":"@s",'
        '"create_time":1700000000000}',
    }
    (event,) = adapter().receive(webhook(envelope))
    assert event.kind is Kind.EVENT
    assert event.event is not None and event.event.type == "im_enter_direct_msg"
    assert event.customer.id == CUSTOMER and event.customer_initiated


def test_merchant_sent_message_is_not_customer_initiated() -> None:
    """im_send_msg (the merchant's own message) is an event about the receiving customer."""
    envelope = IM_TEXT | {"event": "im_send_msg", "from_user_id": MERCHANT, "to_user_id": CUSTOMER}
    (event,) = adapter().receive(webhook(envelope))
    assert (event.kind, event.customer.id, event.customer_initiated) == (
        Kind.EVENT,
        CUSTOMER,
        False,
    )


def test_other_events_keep_their_name_and_content() -> None:
    """authorize and other events become kind event typed by the event name."""
    envelope = {"event": "authorize", "from_user_id": CUSTOMER, "content": {"scopes": ["im"]}}
    (event,) = adapter().receive(webhook(envelope))
    assert event.event is not None and event.event.type == "authorize"
    assert event.extra["content"] == {"scopes": ["im"]}
    assert not event.customer_initiated


def test_lead_card_values_stay_out_of_repr() -> None:
    """Lead-card form values (name, phone) never show in the event's repr."""
    content = IM_TEXT["content"] | {
        "message_type": "retain_consult_card",
        "card_data": [{"label": "手机号", "value": "13912345678"}],
    }
    (event,) = adapter().receive(webhook(IM_TEXT | {"content": content}))
    assert "13912345678" not in repr(event)
    assert event.extra["content"]["card_data"][0]["value"] == "13912345678"


def test_simulated_im_text_round_trips() -> None:
    """simulate.douyin_im_text builds a callback the adapter accepts."""
    envelope = douyin_im_text(
        client_key=CLIENT_KEY, sender=CUSTOMER, receiver=MERCHANT, text="hi", created_ms=1
    )
    (event,) = adapter().receive(webhook(envelope))
    assert (event.kind, event.text) == (Kind.TEXT, "hi")
