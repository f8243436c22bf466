"""Douyin open-platform private-message send API, pure: request builders and response
interpreters (reference/douyin_taobao.md §2.6). The gateway's transport does the HTTP.

Token: ``POST {api_base}/oauth/client_token/`` with ``{"client_key", "client_secret",
"grant_type": "client_credential"}`` → ``{"data": {"access_token", "expires_in", "error_code"}}``
(valid 2 h; fetching again invalidates the previous token after a grace period).

Send: ``POST {api_base}/im/send/msg/?open_id=<the merchant account's open_id>`` with header
``access-token`` and ``{"to_user_id", "conversation_id", "msg_id", "scene", "content":
{"msg_type", <payload>}}`` where ``conversation_id``/``msg_id`` are the webhook's
``conversation_short_id``/``server_message_id`` of the message replied to and ``scene`` the
``source`` of ``im_authorize`` for active messages (all from the outbound ``context``). Kinds:
text (1, ``{text: {text}}``), image (2, ``{image: {media_id}}``), a ``consult`` card
(8, ``retain_consult_card{card_id}``), a ``mini_program`` card (10, ``applet_card{
card_template_id, app_id, path, query}``). Links and products are `Unsupported`.

`classify`: the code is ``data.error_code`` (older APIs), ``err_no`` or ``error_code``; 0 sent;
28001008/2190008/10008 (access token expired) token; 28001005/28001006/2100004 (busy, network)
and 28003018 (rate), HTTP 5xx/429 and unreadable bodies transient; anything else a refusal.
Reply-window and quota codes of this API are not documented (reference §2.6: [U]); they surface
as ``rejected`` with the platform's code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from adapters.sending import ApiRequest, TokenGrant, Unsupported, Verdict, VerdictKind

__all__ = [
    "TOKEN_ERRORS",
    "ApiRequest",
    "TokenGrant",
    "Unsupported",
    "Verdict",
    "classify",
    "read_token",
    "send_request",
    "token_request",
    "unsupported",
]


TOKEN_ERRORS = frozenset({28001008, 2190008, 10008})
_TRANSIENT = frozenset({28001005, 28001006, 2100004, 28003018, 10020})
_MSG_TYPES = {"text": 1, "image": 2, "card:consult": 8, "card:mini_program": 10}
_JSON = {"Content-Type": "application/json"}


def token_request(api_base: str, client_key: str, client_secret: str) -> ApiRequest:
    """The client_token call."""
    body = {
        "client_key": client_key,
        "client_secret": client_secret,
        "grant_type": "client_credential",
    }
    url = f"{api_base.rstrip('/')}/oauth/client_token/"
    return ApiRequest("POST", url, {}, _JSON, orjson.dumps(body))


def read_token(status: int, body: bytes) -> TokenGrant | Verdict:
    """A token grant, or why there is none."""
    doc = _json(body)
    if status >= 500 or status == 429 or doc is None:
        return Verdict("transient", status if status >= 400 else None, "token endpoint unavailable")
    data = _data(doc)
    token, expires = data.get("access_token"), data.get("expires_in")
    if isinstance(token, str) and token and _number(expires) > 0:
        return TokenGrant(token, _number(expires))
    code = _code(doc)
    kind: VerdictKind = "transient" if code in _TRANSIENT else "rejected"
    return Verdict(kind, code, "the token endpoint refused the account's credentials")


def unsupported(kind: str, content: Mapping[str, Any], context: Mapping[str, Any]) -> str | None:
    """Why this cannot be sent, or None when it can."""
    what = f"card:{content.get('type')}" if kind == "card" else kind
    if what not in _MSG_TYPES:
        return f"Douyin private messages cannot carry {what.replace(':', ' ')} content"
    if what == "card:mini_program" and not content.get("card_template_id"):
        return "a Douyin applet card needs card_template_id"
    if not context.get("open_id"):
        return "a Douyin send needs context.open_id (the merchant account's open_id)"
    return None


def send_request(
    api_base: str,
    access_token: str,
    *,
    to_user_id: str,
    kind: str,
    content: Mapping[str, Any],
    context: Mapping[str, Any],
) -> ApiRequest | Unsupported:
    """The send call for one message; `content` and `context` as plain data."""
    reason = unsupported(kind, content, context)
    if reason is not None:
        return Unsupported(reason)
    what = f"card:{content.get('type')}" if kind == "card" else kind
    payload: dict[str, Any] = {"msg_type": _MSG_TYPES[what]}
    if what == "text":
        payload["text"] = {"text": content["text"]}
    elif what == "image":
        payload["image"] = {"media_id": content["media_id"]}
    elif what == "card:consult":
        payload["retain_consult_card"] = {"card_id": content["card_id"]}
    else:
        card = {"card_template_id": content["card_template_id"], "app_id": content["app_id"]}
        card.update(path=content["page_path"], query=content.get("query") or "")
        payload["applet_card"] = card
    body: dict[str, Any] = {"to_user_id": to_user_id, "content": payload}
    for key in ("conversation_id", "msg_id", "scene"):
        if context.get(key):
            body[key] = context[key]
    headers = {**_JSON, "access-token": access_token}
    url = f"{api_base.rstrip('/')}/im/send/msg/"
    return ApiRequest(
        "POST", url, {"open_id": str(context["open_id"])}, headers, orjson.dumps(body)
    )


def classify(status: int, body: bytes) -> Verdict:
    """The meaning of a send response."""
    if status >= 500 or status == 429:
        return Verdict("transient", status, f"HTTP {status}")
    if status >= 400:
        return Verdict("rejected", status, f"HTTP {status}")
    doc = _json(body)
    if doc is None:
        return Verdict("transient", None, "unreadable response")
    code = _code(doc)
    data = _data(doc)
    msg_id = doc.get("msg_id") or data.get("msg_id")
    if code == 0 or (code is None and msg_id):
        return Verdict("ok", 0, "ok", None if msg_id is None else str(msg_id))
    if code is None:
        return Verdict("rejected", None, "unrecognised response")
    if code in TOKEN_ERRORS:
        return Verdict("token", code, "access token invalid or expired")
    if code in _TRANSIENT:
        return Verdict("transient", code, "platform busy or rate limited")
    return Verdict("rejected", code, f"error_code {code}")


def _code(doc: Mapping[str, Any]) -> int | None:
    data = doc.get("data")
    for holder, key in ((data, "error_code"), (doc, "err_no"), (doc, "error_code")):
        if isinstance(holder, dict) and holder.get(key) is not None:
            return int(_number(holder[key], -1))
    return None


def _data(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    data = doc.get("data")
    return data if isinstance(data, dict) else {}


def _number(value: Any, default: float = 0.0) -> float:
    if isinstance(value, bool):
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _json(body: bytes) -> dict[str, Any] | None:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return doc if isinstance(doc, dict) else None
