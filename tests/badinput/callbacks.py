"""Platform callbacks as the platforms send them, built without the gateway's adapter code.

WeChat callbacks come from `tests.wechat_reference` (an independent implementation of the scheme);
Doudian and Douyin open-platform signatures are computed here with hashlib directly. Every builder
returns a `Call`: the path, the query (a sequence of pairs, so a parameter can be repeated), the
headers and the raw body — exactly what goes on the wire.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import orjson
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient

from tests import wechat_reference as ref
from tests.conftest import ACCOUNTS_DOC, AES_KEY, APP_ID, OLD_AES_KEY, STORE_APP_ID, TOKEN

__all__ = [
    "ACCOUNTS",
    "DD_KEY",
    "DD_SECRET",
    "DY_KEY",
    "DY_SECRET",
    "ENDPOINTS",
    "OTHER_AES_KEY",
    "OTHER_APP_ID",
    "OTHER_TOKEN",
    "SECRETS",
    "TEXT",
    "Call",
    "GatewayClient",
    "doudian",
    "doudian_record",
    "douyin",
    "douyin_text",
    "good",
    "md5_hex",
    "new_customer",
    "now",
    "resign",
    "sha1_hex",
    "store_json",
    "text_xml",
    "wechat_plain",
    "wechat_safe",
]

TEXT = "秘密消息请勿记录"  # message text every callback carries; no log line may contain it
OTHER_TOKEN = "other_account_token"
OTHER_AES_KEY = "Zq9XwVu8Ts7Rq6Po5Nm4Lk3Jh2Gf1Ed0CbAzYxWvUtA"
OTHER_APP_ID = "wx0ther0000000000"
DD_KEY, DD_SECRET = "7000000000000000009", "doudian-badinput-secret"
DY_KEY, DY_SECRET = "awbadinput000001", "douyin-badinput-secret"

ACCOUNTS: dict[str, Any] = {
    "accounts": {
        **ACCOUNTS_DOC["accounts"],
        "other": {
            "platform": "wechat",
            "token": OTHER_TOKEN,
            "app_id": OTHER_APP_ID,
            "encoding_aes_key": OTHER_AES_KEY,
        },
        "dd": {
            "platform": "douyin",
            "flavor": "doudian",
            "app_key": DD_KEY,
            "app_secret": DD_SECRET,
        },
        "dy": {
            "platform": "douyin",
            "flavor": "open",
            "client_key": DY_KEY,
            "client_secret": DY_SECRET,
        },
    }
}
GatewayClient = TestClient[web.Request, web.Application]  # an in-process gateway under test
ENDPOINTS = ("wechat/plain", "wechat/safe", "wechat/store", "douyin/dd", "douyin/dy")
SECRETS = (TOKEN, AES_KEY, OLD_AES_KEY, OTHER_TOKEN, OTHER_AES_KEY, DD_SECRET, DY_SECRET)


@dataclass(frozen=True, slots=True)
class Call:
    """One HTTP request to the gateway, byte for byte."""

    path: str
    body: bytes = b""
    query: Sequence[tuple[str, str]] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    method: str = "POST"

    def with_query(self, **changes: str | None) -> Call:
        """The same call with query parameters replaced (a None value removes the parameter)."""
        kept = [(k, v) for k, v in self.query if k not in changes]
        added = [(k, v) for k, v in changes.items() if v is not None]
        return replace(self, query=(*kept, *added))

    def with_headers(self, **changes: str | None) -> Call:
        """The same call with headers replaced (a None value removes the header)."""
        headers = {k: v for k, v in self.headers.items() if k not in changes}
        headers.update({k: v for k, v in changes.items() if v is not None})
        return replace(self, headers=headers)

    def param(self, name: str) -> str:
        """The (first) value of a query parameter."""
        return next(v for k, v in self.query if k == name)

    async def send(self, client: GatewayClient, **kwargs: Any) -> ClientResponse:
        """Send the call through an aiohttp test client; extra kwargs go to the request."""
        data: Any = kwargs.pop("data", self.body)
        return await client.request(
            self.method,
            f"/webhooks/{self.path}",
            params=list(self.query),
            headers=dict(self.headers),
            data=data,
            **kwargs,
        )


def now() -> int:
    return int(time.time())


def new_customer(prefix: str = "oBad") -> str:
    """A customer id no other test uses."""
    return f"{prefix}_{secrets.token_hex(6)}"


def md5_hex(*parts: bytes) -> str:
    return hashlib.md5(b"".join(parts), usedforsecurity=False).hexdigest()


def sha1_hex(*parts: bytes) -> str:
    return hashlib.sha1(b"".join(parts), usedforsecurity=False).hexdigest()


def text_xml(customer: str, *, msg_id: int | None = None, created: int | None = None) -> bytes:
    """A WeChat Service Account text message in XML."""
    return (
        f"<xml><ToUserName><![CDATA[gh_test]]></ToUserName>"
        f"<FromUserName><![CDATA[{customer}]]></FromUserName>"
        f"<CreateTime>{created or now()}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{TEXT}]]></Content>"
        f"<MsgId>{msg_id or secrets.randbits(60)}</MsgId></xml>"
    ).encode()


def store_json(customer: str, *, msg_id: int | None = None) -> bytes:
    """A Channels store customer-service text message in JSON."""
    return orjson.dumps(
        {
            "ToUserName": "gh_store",
            "FromUserName": customer,
            "CreateTime": now(),
            "MsgType": "event",
            "Event": "commkf_send_msg_to_kf",
            "msg_id": msg_id or secrets.randbits(60),
            "msg_type": "text",
            "msg_event": "EVENT_TYPE_SEND_MSG",
            "text": {"content": TEXT},
        }
    )


def wechat_plain(
    account: str,
    body: bytes,
    *,
    token: str = TOKEN,
    timestamp: int | str | None = None,
    nonce: str | None = None,
) -> Call:
    """A plaintext-mode WeChat callback: `signature` over token, timestamp and nonce."""
    ts = str(now() if timestamp is None else timestamp)
    query = ref.plain_query(token, ts, nonce or secrets.token_hex(4))
    return Call(f"wechat/{account}", body, tuple(query.items()), {"Content-Type": "text/xml"})


def wechat_safe(
    account: str,
    plaintext: bytes,
    *,
    token: str = TOKEN,
    aes_key: str = AES_KEY,
    app_id: str | None = None,
    timestamp: int | str | None = None,
    nonce: str | None = None,
    json_envelope: bool | None = None,
    encrypted: str | None = None,
) -> Call:
    """A safe-mode WeChat callback: plaintext encrypted, `msg_signature` over the ciphertext."""
    receive_id = app_id or (STORE_APP_ID if account == "store" else APP_ID)
    ciphertext = encrypted if encrypted is not None else ref.encrypt(plaintext, aes_key, receive_id)
    ts = str(now() if timestamp is None else timestamp)
    query = ref.safe_mode_query(token, ts, nonce or secrets.token_hex(4), ciphertext)
    as_json = account == "store" if json_envelope is None else json_envelope
    if as_json:
        body = orjson.dumps({"ToUserName": "gh_store", "Encrypt": ciphertext})
        return Call(
            f"wechat/{account}", body, tuple(query.items()), {"Content-Type": "application/json"}
        )
    return Call(
        f"wechat/{account}",
        ref.xml_envelope(ciphertext),
        tuple(query.items()),
        {"Content-Type": "text/xml"},
    )


def doudian_record(customer: str, *, tag: str = "101", msg_id: str | None = None) -> dict[str, Any]:
    """One Doudian push record (a paid order) whose buyer is `customer`; data as a JSON string."""
    data = {
        "p_id": 6919000000000000000 + secrets.randbelow(10**9),
        "buyer_id": customer,
        "shop_id": 1,
    }
    return {
        "tag": tag,
        "msg_id": msg_id or secrets.token_hex(10),
        "data": orjson.dumps(data).decode(),
    }


def doudian(
    body: bytes | list[dict[str, Any]],
    *,
    app_key: str = DD_KEY,
    secret: str = DD_SECRET,
    account: str = "dd",
) -> Call:
    """A Doudian push: ``event-sign`` = MD5(app_key ‖ body ‖ app_secret)."""
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    sign = md5_hex(app_key.encode(), raw, secret.encode())
    headers = {"app-id": app_key, "event-sign": sign, "Content-Type": "application/json"}
    return Call(f"douyin/{account}", raw, (), headers)


def douyin_text(customer: str, *, client_key: str = DY_KEY) -> dict[str, Any]:
    """An ``im_receive_msg`` envelope: a text message from `customer`."""
    return {
        "event": "im_receive_msg",
        "client_key": client_key,
        "from_user_id": customer,
        "to_user_id": "merchant",
        "content": {
            "server_message_id": "@msg" + secrets.token_hex(8),
            "conversation_type": 1,
            "message_type": "text",
            "text": TEXT,
            "create_time": now() * 1000,
        },
    }


def douyin(
    body: bytes | dict[str, Any],
    *,
    secret: str = DY_SECRET,
    msg_id: str | None = None,
    account: str = "dy",
) -> Call:
    """A Douyin open-platform webhook: ``X-Douyin-Signature`` = SHA-1(client_secret ‖ body)."""
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    headers = {
        "X-Douyin-Signature": sha1_hex(secret.encode(), raw),
        "Content-Type": "application/json",
    }
    headers["Msg-Id"] = msg_id or secrets.token_hex(12)
    return Call(f"douyin/{account}", raw, (), headers)


def good(endpoint: str, customer: str) -> Call:
    """A correctly signed callback to `endpoint` carrying one message from `customer`."""
    if endpoint == "wechat/plain":
        return wechat_plain("plain", text_xml(customer))
    if endpoint == "wechat/safe":
        return wechat_safe("safe", text_xml(customer))
    if endpoint == "wechat/store":
        return wechat_safe("store", store_json(customer))
    if endpoint == "douyin/dd":
        return doudian([doudian_record(customer)])
    if endpoint == "douyin/dy":
        return douyin(douyin_text(customer))
    raise ValueError(f"unknown endpoint {endpoint}")


def resign(call: Call, body: bytes) -> Call:
    """`call` with another body, signed again where the platform signs the body (Douyin family);
    WeChat's query signature does not cover the body, and msg_signature covers only Encrypt."""
    if call.path.startswith("douyin/dd"):
        return doudian(body, account=call.path.split("/")[1])
    if call.path.startswith("douyin/"):
        return douyin(body, msg_id=call.headers.get("Msg-Id"), account=call.path.split("/")[1])
    return replace(call, body=body)
