"""Build correctly signed (and, in safe mode, encrypted) WeChat callbacks, as WeChat would.

Used by `kefu-gateway send-test`, the demo, the tests and the benchmarks. Pure: returns the query
and the body; sending is the caller's business.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

import orjson

from adapters.wechat.crypto import WeChatCrypto
from adapters.wechat.signature import sign

__all__ = ["Callback", "signed_callback", "store_kf_text", "text_message_xml"]


@dataclass(frozen=True, slots=True)
class Callback:
    query: dict[str, str]
    body: bytes
    content_type: str


def text_message_xml(*, to: str, sender: str, text: str, msg_id: int, created: int) -> bytes:
    """A Service Account / Mini Program text message in XML."""
    return (
        f"<xml><ToUserName><![CDATA[{to}]]></ToUserName>"
        f"<FromUserName><![CDATA[{sender}]]></FromUserName>"
        f"<CreateTime>{created}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content>{escape(text)}</Content><MsgId>{msg_id}</MsgId></xml>"
    ).encode()


def store_kf_text(*, to: str, sender: str, text: str, msg_id: int, created: int) -> bytes:
    """A Channels store customer-service text message (`commkf_send_msg_to_kf`) in JSON."""
    payload: Mapping[str, Any] = {
        "ToUserName": to,
        "FromUserName": sender,
        "CreateTime": created,
        "MsgType": "event",
        "Event": "commkf_send_msg_to_kf",
        "msg_id": msg_id,
        "msg_type": "text",
        "msg_event": "EVENT_TYPE_SEND_MSG",
        "text": {"content": text},
    }
    return orjson.dumps(payload)


def signed_callback(
    plaintext: bytes,
    *,
    token: str,
    timestamp: int,
    app_id: str = "",
    encoding_aes_key: str | None = None,
    nonce: str | None = None,
    json_envelope: bool = False,
) -> Callback:
    """Sign `plaintext`; with an EncodingAESKey, encrypt it into a safe-mode envelope first."""
    nonce = nonce or str(secrets.randbelow(10**9))
    ts = str(timestamp)
    query = {"timestamp": ts, "nonce": nonce, "signature": sign(token, ts, nonce)}
    content_type = "application/json" if plaintext.lstrip()[:1] == b"{" else "text/xml"
    if encoding_aes_key is None:
        return Callback(query, plaintext, content_type)
    encrypted = WeChatCrypto([encoding_aes_key], app_id).encrypt(plaintext)
    query |= {"encrypt_type": "aes", "msg_signature": sign(token, ts, nonce, encrypted)}
    if json_envelope:
        body = orjson.dumps({"ToUserName": "gh_kefu_gateway", "Encrypt": encrypted})
        return Callback(query, body, "application/json")
    body = (
        f"<xml><ToUserName><![CDATA[gh_kefu_gateway]]></ToUserName>"
        f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    ).encode()
    return Callback(query, body, "text/xml")
