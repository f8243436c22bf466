"""DouyinOpenAdapter: X-Douyin-Signature, the verify_webhook challenge, malformed bodies, fuzz."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.douyin import DouyinOpenAdapter, douyin_sign
from adapters.douyin.simulate import douyin_webhook
from gateway.errors import AdapterError, PayloadError, SignatureError
from gateway.models import WebhookRequest
from tests.adapters.test_douyin_vectors import DOUYIN_BODY, DOUYIN_SECRET

CLIENT_KEY = "awdemo123"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
CUSTOMER = "_000demoCUSTOMERopenid"
MERCHANT = "_000demoMERCHANTopenid"
IM_TEXT: dict[str, Any] = {
    "event": "im_receive_msg",
    "client_key": CLIENT_KEY,
    "from_user_id": CUSTOMER,
    "to_user_id": MERCHANT,
    "content": {
        "conversation_short_id": "@demoConv==",
        "server_message_id": "@demoMsg==",
        "conversation_type": 1,
        "scene_type": 100,
        "message_type": "text",
        "text": "还有货吗?",
        "create_time": 1700000000123,
        "user_infos": [
            {"open_id": CUSTOMER, "nick_name": "顾客A", "avatar": "https://example.invalid/a.jpg"},
            {"open_id": MERCHANT, "nick_name": "店铺", "avatar": "https://example.invalid/b.jpg"},
        ],
    },
}


def adapter() -> DouyinOpenAdapter:
    return DouyinOpenAdapter(
        account="dy1", client_key=CLIENT_KEY, client_secret=DOUYIN_SECRET, clock=lambda: NOW
    )


def signed(body: bytes, **headers: str) -> WebhookRequest:
    all_headers = {"x-douyin-signature": douyin_sign(DOUYIN_SECRET, body)} | headers
    return WebhookRequest("POST", all_headers, {}, body, "application/json")


def webhook(envelope: dict[str, Any], msg_id: str | None = "msg-1") -> WebhookRequest:
    callback = douyin_webhook(envelope, client_secret=DOUYIN_SECRET, msg_id=msg_id)
    return WebhookRequest("POST", callback.headers, {}, callback.body, callback.content_type)


def test_verify_webhook_vector_echoes_the_challenge() -> None:
    """The reference verification body with its signature: no event, ack echoes the challenge."""
    req = WebhookRequest(
        "POST",
        {"X-Douyin-Signature": "2cd80bbb4957c95f775efad8e3f5503b2c753c94"},
        {},
        DOUYIN_BODY,
    )
    assert adapter().receive(req) == ()
    reply = adapter().ack(req)
    assert reply.body == b'{"challenge":12345}'
    assert (reply.status, reply.content_type) == (200, "application/json")


def test_verify_webhook_with_content_as_string() -> None:
    """The local-life variant with `content` as a JSON string is answered the same way."""
    req = signed(
        b'{"event":"verify_webhook","client_key":"awdemo123","content":"{ \\"challenge\\": 777 }"}'
    )
    assert adapter().receive(req) == ()
    assert adapter().ack(req).body == b'{"challenge":777}'


def test_verify_webhook_with_bad_signature_refused_by_receive_and_ack() -> None:
    """A forged verification is refused; ack never echoes an unverified challenge."""
    req = WebhookRequest("POST", {"x-douyin-signature": "0" * 40}, {}, DOUYIN_BODY)
    with pytest.raises(SignatureError):
        adapter().receive(req)
    with pytest.raises(SignatureError):
        adapter().ack(req)


def test_verify_webhook_without_challenge_is_malformed() -> None:
    """A signed verify_webhook without a challenge is a PayloadError, not a silent success."""
    with pytest.raises(PayloadError):
        adapter().receive(signed(b'{"event":"verify_webhook","content":{}}'))


def test_other_apps_client_key_refused() -> None:
    """A correctly signed body naming another client_key is refused."""
    with pytest.raises(SignatureError):
        adapter().receive(webhook(IM_TEXT | {"client_key": "awOTHER"}))


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=1, max_value=255))
def test_tampered_body_refused(position: int, flip: int) -> None:
    """Changing any byte of a signed webhook breaks X-Douyin-Signature."""
    req = webhook(IM_TEXT)
    body = bytearray(req.body)
    body[position % len(body)] ^= flip
    with pytest.raises(SignatureError):
        adapter().receive(WebhookRequest("POST", req.headers, {}, bytes(body)))


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"client_key":"awdemo123"}',
        b'{"event":42}',
        b'{"event":"im_receive_msg","from_user_id":"u","content":"not json"}',
        b'{"event":"im_receive_msg","from_user_id":"u","content":[1]}',
        b'{"event":"im_receive_msg","content":{"message_type":"text","text":"x"}}',
        b'{"event":"im_receive_msg","from_user_id":"u","content":{"message_type":"text","text":[1]}}',
        b'{"event":"' + b"x" * 100 + b'"}',
    ],
)
def test_malformed_bodies_refused(body: bytes) -> None:
    """Correctly signed but malformed webhooks are PayloadErrors."""
    with pytest.raises(PayloadError):
        adapter().receive(signed(body))


def test_msg_id_header_too_long_refused() -> None:
    """An absurd Msg-Id is refused rather than used as a dedup key."""
    with pytest.raises(PayloadError):
        adapter().receive(signed(orjson.dumps(IM_TEXT), **{"msg-id": "m" * 300}))


def test_get_handshake_refused_and_secret_not_in_repr() -> None:
    """Douyin has no GET verification; the adapter's repr never shows the secret."""
    with pytest.raises(PayloadError):
        adapter().handshake(WebhookRequest("GET", {}, {}, b""))
    assert DOUYIN_SECRET not in repr(adapter())


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                ["event", "content", "from_user_id", "message_type", "text", "challenge"]
            ),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)
events = st.sampled_from(["im_receive_msg", "verify_webhook", "im_send_msg", "authorize"])


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=300),
        json_values.map(lambda v: json.dumps(v).encode()),
        st.tuples(events, json_values).map(
            lambda p: json.dumps({"event": p[0], "from_user_id": "u", "content": p[1]}).encode()
        ),
    )
)
def test_fuzz_signed_bodies_raise_only_adapter_errors(body: bytes) -> None:
    """Any correctly signed body parses, or raises an AdapterError subclass — in receive and ack."""
    req = signed(body)
    try:
        adapter().receive(req)
    except AdapterError:
        return
    assert adapter().ack(req).status == 200
