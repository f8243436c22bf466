"""WeChatAdapter: URL verification, both signatures, safe mode, replay window, parsing."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.wechat import WeChatAdapter
from gateway.errors import ConfigError, DecryptError, PayloadError, ReplayError, SignatureError
from gateway.models import Kind, WebhookRequest
from tests import wechat_reference as ref

TOKEN = "gw_demo_token"
KEY = "Gw7kT2pQx9Lm4Rz8Vb1Nc6Hs3Jd5Fa0Ye2Ui7Oo4PqA"
OLD_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APPID = "wx1234567890abcdef"
NOW = 1735689600
TEXT_XML = (
    b"<xml><ToUserName><![CDATA[gh_0a1b2c3d4e5f]]></ToUserName>"
    b"<FromUserName><![CDATA[oUser_demo_openid]]></FromUserName>"
    b"<CreateTime>1735689600</CreateTime><MsgType><![CDATA[text]]></MsgType>"
    b"<Content><![CDATA[where is my order?]]></Content><MsgId>24800000000000001</MsgId></xml>"
)


def adapter(*keys: str, window: int = 300, encrypted_only: bool = False) -> WeChatAdapter:
    return WeChatAdapter(
        account="shop1",
        token=TOKEN,
        app_id=APPID,
        encoding_aes_keys=keys,
        encrypted_only=encrypted_only,
        replay_window=window,
        clock=lambda: datetime.fromtimestamp(NOW + 10, UTC),
    )


def request(query: dict[str, str], body: bytes = b"", method: str = "POST") -> WebhookRequest:
    return WebhookRequest(
        method=method, headers={}, query={k: (v,) for k, v in query.items()}, body=body
    )


def safe_request(
    plaintext: bytes, key: str = KEY, appid: str = APPID, json_envelope: bool = False
) -> WebhookRequest:
    encrypted = ref.encrypt(plaintext, key, appid)
    body = (
        orjson.dumps({"ToUserName": "gh", "Encrypt": encrypted})
        if json_envelope
        else ref.xml_envelope(encrypted)
    )
    return request(ref.safe_mode_query(TOKEN, str(NOW), "123", encrypted), body)


def test_url_verification_echoes_echostr() -> None:
    """A correctly signed GET is answered with the plain echostr."""
    query = ref.plain_query(TOKEN, str(NOW), "42") | {"echostr": "8812345"}
    reply = adapter().handshake(request(query, method="GET"))
    assert reply.body == b"8812345"


def test_url_verification_with_bad_signature_refused() -> None:
    """A GET with a wrong signature gets no echo."""
    query = ref.plain_query("other", str(NOW), "42") | {"echostr": "8812345"}
    with pytest.raises(SignatureError):
        adapter().handshake(request(query, method="GET"))


def test_plaintext_text_message() -> None:
    """A plaintext XML text message becomes one customer-initiated text event."""
    (event,) = adapter().receive(request(ref.plain_query(TOKEN, str(NOW), "7"), TEXT_XML))
    assert event.kind is Kind.TEXT
    assert event.text == "where is my order?"
    assert event.customer.id == "oUser_demo_openid"
    assert event.platform_msg_id == "msg:24800000000000001"
    assert event.customer_initiated


def test_plaintext_with_wrong_signature_refused() -> None:
    """A plaintext callback signed with another token is refused."""
    with pytest.raises(SignatureError):
        adapter().receive(request(ref.plain_query("not-the-token", str(NOW), "7"), TEXT_XML))


def test_encrypted_only_account_refuses_correctly_signed_plaintext() -> None:
    """An account in safe mode refuses plaintext even with a valid query signature: that
    signature covers no body, so anyone holding one signed URL could post any message."""
    strict = adapter(KEY, encrypted_only=True)
    with pytest.raises(SignatureError, match="requires safe mode"):
        strict.receive(request(ref.plain_query(TOKEN, str(NOW), "7"), TEXT_XML))
    (event,) = strict.receive(safe_request(TEXT_XML))
    assert event.text == "where is my order?"


def test_encrypted_only_needs_a_key() -> None:
    with pytest.raises(ConfigError):
        adapter(encrypted_only=True)


def test_safe_mode_xml() -> None:
    """Safe-mode XML decrypts and parses."""
    (event,) = adapter(KEY).receive(safe_request(TEXT_XML))
    assert event.text == "where is my order?"


def test_safe_mode_with_previous_key() -> None:
    """During key rotation the previous EncodingAESKey still works."""
    (event,) = adapter(KEY, OLD_KEY).receive(safe_request(TEXT_XML, key=OLD_KEY))
    assert event.kind is Kind.TEXT


def test_safe_mode_requires_msg_signature() -> None:
    """Without msg_signature an encrypted callback is refused."""
    encrypted = ref.encrypt(TEXT_XML, KEY, APPID)
    query = ref.safe_mode_query(TOKEN, str(NOW), "1", encrypted)
    del query["msg_signature"]
    with pytest.raises(SignatureError):
        adapter(KEY).receive(request(query, ref.xml_envelope(encrypted)))


def test_safe_mode_checks_plain_signature_when_present() -> None:
    """A correct msg_signature does not excuse a wrong `signature`."""
    encrypted = ref.encrypt(TEXT_XML, KEY, APPID)
    query = ref.safe_mode_query(TOKEN, str(NOW), "1", encrypted) | {"signature": "0" * 40}
    with pytest.raises(SignatureError):
        adapter(KEY).receive(request(query, ref.xml_envelope(encrypted)))


def test_wrong_appid_inside_ciphertext_refused() -> None:
    """A correctly signed ciphertext for another AppID is refused."""
    with pytest.raises(DecryptError):
        adapter(KEY).receive(safe_request(TEXT_XML, appid="wxANOTHERAPP000000"))


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=1, max_value=255))
def test_tampered_ciphertext_refused(position: int, flip: int) -> None:
    """Changing any byte of the signed ciphertext breaks msg_signature: always refused."""
    encrypted = ref.encrypt(TEXT_XML, KEY, APPID)
    query = ref.safe_mode_query(TOKEN, str(NOW), "1", encrypted)
    raw = bytearray(base64.b64decode(encrypted))
    raw[position % len(raw)] ^= flip
    tampered = base64.b64encode(bytes(raw)).decode()
    with pytest.raises(SignatureError):
        adapter(KEY).receive(request(query, ref.xml_envelope(tampered)))


def test_encrypted_callback_for_plaintext_account_refused() -> None:
    """An account without EncodingAESKey refuses encrypted callbacks (fail closed)."""
    with pytest.raises(DecryptError):
        adapter().receive(safe_request(TEXT_XML))


@pytest.mark.parametrize("offset", [-301, 301, 10**6])
def test_stale_or_future_timestamp_refused(offset: int) -> None:
    """Timestamps outside the replay window are refused."""
    query = ref.plain_query(TOKEN, str(NOW + 10 + offset), "7")
    with pytest.raises(ReplayError):
        adapter().receive(request(query, TEXT_XML))


def test_replay_window_zero_disables_check() -> None:
    """With the window set to 0, old (but correctly signed) callbacks pass."""
    query = ref.plain_query(TOKEN, "1000", "7")
    assert adapter(window=0).receive(request(query, TEXT_XML))


def test_repeated_query_parameter_refused() -> None:
    """An ambiguous request with a repeated signature parameter is refused."""
    query = {k: (v,) for k, v in ref.plain_query(TOKEN, str(NOW), "7").items()}
    query["signature"] = (query["signature"][0], "x")
    with pytest.raises(PayloadError):
        adapter().receive(WebhookRequest("POST", {}, query, TEXT_XML))


@pytest.mark.parametrize("query", [{}, {"timestamp": "abc", "nonce": "1", "signature": "x"}])
def test_missing_or_bad_parameters_refused(query: dict[str, str]) -> None:
    """Missing or non-numeric timestamp/nonce are refused before anything else."""
    with pytest.raises(SignatureError):
        adapter().receive(request(query, TEXT_XML))


def test_channels_store_json_safe_mode() -> None:
    """A Channels store JSON customer-service message in safe mode becomes a text event."""
    plaintext = orjson.dumps(
        {
            "ToUserName": "gh_store",
            "FromUserName": "oBuyer",
            "CreateTime": NOW,
            "MsgType": "event",
            "Event": "commkf_send_msg_to_kf",
            "msg_id": 77001,
            "msg_type": "text",
            "msg_event": "EVENT_TYPE_SEND_MSG",
            "text": {"content": "在吗"},
        }
    )
    (event,) = adapter(KEY).receive(safe_request(plaintext, json_envelope=True))
    assert (event.kind, event.text, event.platform_msg_id) == (Kind.TEXT, "在吗", "kf:77001")


def test_channels_store_order_event_keeps_big_ids_as_strings() -> None:
    """Order ids beyond 2**53 are kept exactly, as strings."""
    plaintext = (
        b'{"ToUserName":"gh","FromUserName":"oBuyer","CreateTime":1735689700,'
        b'"MsgType":"event","Event":"channels_ec_order_pay",'
        b'"order_info":{"order_id":3712345678901234567,"pay_time":1735689699}}'
    )
    (event,) = adapter(KEY).receive(safe_request(plaintext, json_envelope=True))
    assert event.kind is Kind.ORDER
    assert event.order is not None and event.order.id == "3712345678901234567"
    assert event.order.status == "pay"
    assert event.platform_msg_id == "evt:channels_ec_order_pay:1735689700:3712345678901234567"


def test_safe_mode_detected_without_encrypt_type() -> None:
    """A ciphertext-only body with msg_signature is decrypted even without encrypt_type=aes."""
    encrypted = ref.encrypt(TEXT_XML, KEY, APPID)
    query = ref.safe_mode_query(TOKEN, str(NOW), "9", encrypted)
    del query["encrypt_type"]
    (event,) = adapter(KEY).receive(request(query, ref.xml_envelope(encrypted)))
    assert event.text == "where is my order?"


def test_ciphertext_only_body_needs_msg_signature() -> None:
    """A ciphertext-only body signed with the plain signature alone is refused."""
    encrypted = ref.encrypt(TEXT_XML, KEY, APPID)
    query = ref.plain_query(TOKEN, str(NOW), "9")
    with pytest.raises(SignatureError):
        adapter(KEY).receive(request(query, ref.xml_envelope(encrypted)))


def test_compatible_mode_uses_only_the_authenticated_content() -> None:
    """In compatible mode the plaintext copy is ignored; the decrypted content wins."""
    encrypted = ref.encrypt(TEXT_XML, KEY, APPID)
    body = (
        b"<xml><ToUserName>gh</ToUserName><FromUserName>oForged</FromUserName>"
        b"<CreateTime>1735689600</CreateTime><MsgType>text</MsgType>"
        b"<Content>forged</Content><MsgId>1</MsgId>"
        b"<Encrypt><![CDATA[" + encrypted.encode() + b"]]></Encrypt></xml>"
    )
    query = ref.safe_mode_query(TOKEN, str(NOW), "9", encrypted)
    (event,) = adapter(KEY).receive(request(query, body))
    assert (event.text, event.customer.id) == ("where is my order?", "oUser_demo_openid")
