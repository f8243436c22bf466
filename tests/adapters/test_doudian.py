"""DoudianAdapter: app-id and event-sign checks, the verification push, malformed bodies, fuzz."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.douyin import DoudianAdapter, doudian_hmac_sign, doudian_sign
from adapters.douyin.simulate import doudian_push
from gateway.errors import AdapterError, PayloadError, SignatureError
from gateway.models import Kind, Platform, WebhookRequest
from tests.adapters.test_douyin_vectors import DOUDIAN_APP_KEY, DOUDIAN_BODY, DOUDIAN_SECRET

NOW = datetime(2026, 1, 1, tzinfo=UTC)
PAID = {
    "p_id": 6920000000000000001,
    "s_ids": [6920000000000000002],
    "shop_id": 100001,
    "order_status": 2,
    "pay_time": 1700000090,
    "pay_amount": 9900,
}
AFTERSALE = {
    "p_id": 6920000000000000001,
    "s_id": 6920000000000000002,
    "shop_id": 100001,
    "aftersale_id": 7300000000000000001,
    "aftersale_status": 6,
    "apply_time": 1700000190,
}
RECEIVER = {
    "p_id": 6920000000000000001,
    "shop_id": 100001,
    "receiver_msg": {"name": "张三丰", "tel": "13800138000", "addr": '{"detail":"幸福路8号"}'},
    "update_time": 1700000300,
}


def adapter(**options: Any) -> DoudianAdapter:
    return DoudianAdapter(
        account="dd1",
        app_key=DOUDIAN_APP_KEY,
        app_secret=DOUDIAN_SECRET,
        clock=lambda: NOW,
        **options,
    )


def request(body: bytes, headers: dict[str, str] | None = None) -> WebhookRequest:
    if headers is None:
        headers = {
            "app-id": DOUDIAN_APP_KEY,
            "event-sign": doudian_sign(DOUDIAN_APP_KEY, body, DOUDIAN_SECRET),
        }
    return WebhookRequest("POST", headers, {}, body, "application/json")


def push(*records: dict[str, Any]) -> WebhookRequest:
    callback = doudian_push(list(records), app_key=DOUDIAN_APP_KEY, app_secret=DOUDIAN_SECRET)
    return WebhookRequest("POST", callback.headers, {}, callback.body, callback.content_type)


def test_reference_vector_push_is_accepted() -> None:
    """The reference body with its event-sign becomes one order event with exact string ids."""
    body_sign = "960981292f3dafb89849fd8a1f774e46"
    headers = {"App-Id": DOUDIAN_APP_KEY, "Event-Sign": body_sign}
    (event,) = adapter().receive(request(DOUDIAN_BODY, headers))
    assert event.platform is Platform.DOUYIN
    assert event.platform_msg_id == "7000000000000000001::100:1700000000:abc"
    assert event.kind is Kind.ORDER
    assert event.order is not None
    assert (event.order.id, event.order.status) == ("6920000000000000001", "trade_create")
    assert event.event is not None
    assert (event.event.type, event.event.key) == ("doudian_trade_create", "100")
    assert event.customer.id == "100001"
    assert event.sent_at == datetime.fromtimestamp(1700000000, UTC)
    assert event.extra["data"]["s_ids"] == ["6920000000000000002"]


def test_signature_in_upper_case_is_accepted() -> None:
    """Hex case of event-sign does not matter."""
    headers = {"app-id": DOUDIAN_APP_KEY, "event-sign": "960981292F3DAFB89849FD8A1F774E46"}
    assert adapter().receive(request(DOUDIAN_BODY, headers))


@pytest.mark.parametrize(
    "headers",
    [
        {"app-id": DOUDIAN_APP_KEY, "event-sign": "0" * 32},
        {"app-id": DOUDIAN_APP_KEY},
        {"event-sign": "960981292f3dafb89849fd8a1f774e46"},
        {"app-id": "7000000000000000002", "event-sign": "960981292f3dafb89849fd8a1f774e46"},
        {"app-id": DOUDIAN_APP_KEY, "event-sign": "960981292f3dafb89849fd8a1f774e46" + "0"},
    ],
    ids=["wrong-sign", "no-sign", "no-app-id", "other-app-id", "longer-sign"],
)
def test_bad_signature_or_app_id_refused(headers: dict[str, str]) -> None:
    """A wrong or missing event-sign, or another app's app-id, is refused."""
    with pytest.raises(SignatureError):
        adapter().receive(request(DOUDIAN_BODY, headers))


def test_signature_by_another_secret_refused() -> None:
    """A body signed with another app_secret is refused."""
    headers = {
        "app-id": DOUDIAN_APP_KEY,
        "event-sign": doudian_sign(DOUDIAN_APP_KEY, DOUDIAN_BODY, "other-secret"),
    }
    with pytest.raises(SignatureError):
        adapter().receive(request(DOUDIAN_BODY, headers))


@settings(max_examples=80, deadline=None)
@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=1, max_value=255))
def test_tampered_body_refused(position: int, flip: int) -> None:
    """Changing any byte of the signed body breaks event-sign."""
    sign = "960981292f3dafb89849fd8a1f774e46"
    body = bytearray(DOUDIAN_BODY)
    body[position % len(body)] ^= flip
    with pytest.raises(SignatureError):
        adapter().receive(request(bytes(body), {"app-id": DOUDIAN_APP_KEY, "event-sign": sign}))


def test_verification_push_answered_without_events() -> None:
    """The tag-0 verification push yields no event; ack is the JSON success body."""
    req = request(b'[{"tag":"0","msg_id":"0","data":"{}"}]')
    assert adapter().receive(req) == ()
    reply = adapter().ack(req)
    assert orjson.loads(reply.body) == {"code": 0, "msg": "success"}
    assert (reply.status, reply.content_type) == (200, "application/json")


def test_unsigned_probe_refused_by_default_and_accepted_when_enabled() -> None:
    """An unsigned tag-0 probe is refused unless the account opts in; with data it never passes."""
    probe = request(b'[{"tag":"0","msg_id":"0"}]', {"app-id": DOUDIAN_APP_KEY})
    with pytest.raises(SignatureError):
        adapter().receive(probe)
    assert adapter(accept_unsigned_probe=True).receive(probe) == ()
    smuggled = request(orjson.dumps([{"tag": "0", "data": PAID}]), {"app-id": DOUDIAN_APP_KEY})
    with pytest.raises(SignatureError):
        adapter(accept_unsigned_probe=True).receive(smuggled)
    business = request(orjson.dumps([{"tag": "101", "data": PAID}]), {})
    with pytest.raises(SignatureError):
        adapter(accept_unsigned_probe=True).receive(business)


def test_hmac_sha256_variant_only_when_enabled() -> None:
    """sign-method: hmac-sha256 is refused by default and verified when the account allows it."""
    headers = {
        "app-id": DOUDIAN_APP_KEY,
        "sign-method": "hmac-sha256",
        "event-sign": doudian_hmac_sign(DOUDIAN_APP_KEY, DOUDIAN_BODY, DOUDIAN_SECRET),
    }
    with pytest.raises(SignatureError):
        adapter().receive(request(DOUDIAN_BODY, headers))
    assert adapter(allow_hmac_sha256=True).receive(request(DOUDIAN_BODY, headers))
    md5_as_hmac = headers | {"event-sign": "960981292f3dafb89849fd8a1f774e46"}
    with pytest.raises(SignatureError):
        adapter(allow_hmac_sha256=True).receive(request(DOUDIAN_BODY, md5_as_hmac))


def test_unknown_sign_method_refused() -> None:
    """A sign-method the gateway does not know is refused even with a valid MD5."""
    headers = {
        "app-id": DOUDIAN_APP_KEY,
        "sign-method": "sha512",
        "event-sign": "960981292f3dafb89849fd8a1f774e46",
    }
    with pytest.raises(SignatureError):
        adapter().receive(request(DOUDIAN_BODY, headers))


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b"[1, 2]",
        b'[{"tag":"abc","msg_id":"1","data":"{}"}]',
        b'[{"msg_id":"1","data":"{}"}]',
        b'[{"tag":"101","msg_id":"1","data":"not json"}]',
        b'[{"tag":"101","msg_id":"1","data":"[1]"}]',
        b'[{"tag":"101","msg_id":"1"}]',
        b'[{"tag":"101","msg_id":{"x":1},"data":{}}]',
        b'[{"tag":"101","msg_id":"1","data":{"p_id":true}}]',
        b"[" * 40 + b"]" * 40,
        b'[{"tag":"101","msg_id":"1","data":"\xff"}]',
    ],
)
def test_malformed_bodies_refused(body: bytes) -> None:
    """Correctly signed but malformed pushes are PayloadErrors (HTTP 400)."""
    with pytest.raises(PayloadError):
        adapter().receive(request(body))


def test_get_handshake_refused_and_secret_not_in_repr() -> None:
    """Doudian has no GET verification; the adapter's repr never shows the secret."""
    with pytest.raises(PayloadError):
        adapter().handshake(WebhookRequest("GET", {}, {}, b""))
    assert DOUDIAN_SECRET not in repr(adapter())


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["tag", "msg_id", "msgId", "data", "p_id", "shop_id", "x"]),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=300), json_values.map(lambda v: json.dumps(v).encode())))
def test_fuzz_signed_bodies_raise_only_adapter_errors(body: bytes) -> None:
    """Any correctly signed body either parses or raises an AdapterError subclass."""
    try:
        events = adapter().receive(request(body))
    except AdapterError:
        return
    for event in events:
        assert isinstance(event.platform_msg_id, str) and event.platform_msg_id


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200), st.dictionaries(st.text(max_size=12), st.text(max_size=40)))
def test_fuzz_unsigned_requests_are_refused(body: bytes, headers: dict[str, str]) -> None:
    """Arbitrary unsigned requests never get past the signature check."""
    with pytest.raises(AdapterError):
        adapter().receive(request(body, headers))
