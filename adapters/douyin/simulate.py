"""Build correctly signed Douyin-family callbacks, as the platforms would send them.

For `kefu-gateway send-test`, the demo and the tests. Pure: returns headers and body; sending is
the caller's business.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from adapters.douyin.signature import doudian_sign, douyin_sign

__all__ = ["Callback", "doudian_push", "douyin_im_text", "douyin_webhook"]


@dataclass(frozen=True, slots=True)
class Callback:
    headers: dict[str, str]
    body: bytes
    content_type: str = "application/json"


def doudian_push(records: list[Mapping[str, Any]], *, app_key: str, app_secret: str) -> Callback:
    """A Doudian push of `records` (``data`` objects are sent as JSON strings, as Doudian does)."""
    wire = [
        {**r, "data": orjson.dumps(r["data"]).decode()} if isinstance(r.get("data"), dict) else r
        for r in records
    ]
    body = orjson.dumps(wire)
    return Callback(
        headers={"app-id": app_key, "event-sign": doudian_sign(app_key, body, app_secret)},
        body=body,
    )


def douyin_webhook(
    envelope: Mapping[str, Any], *, client_secret: str, msg_id: str | None = None
) -> Callback:
    """A Douyin open-platform webhook with its ``X-Douyin-Signature`` (and ``Msg-Id``)."""
    body = orjson.dumps(envelope)
    headers = {"x-douyin-signature": douyin_sign(client_secret, body)}
    if msg_id is not None:
        headers["msg-id"] = msg_id
    return Callback(headers=headers, body=body)


def douyin_im_text(
    *, client_key: str, sender: str, receiver: str, text: str, created_ms: int
) -> dict[str, Any]:
    """An ``im_receive_msg`` envelope carrying one text message."""
    return {
        "event": "im_receive_msg",
        "client_key": client_key,
        "from_user_id": sender,
        "to_user_id": receiver,
        "content": {
            "conversation_short_id": "@conv" + secrets.token_hex(4),
            "server_message_id": "@msg" + secrets.token_hex(8),
            "conversation_type": 1,
            "message_type": "text",
            "text": text,
            "create_time": created_ms,
        },
    }
