"""WeChat send API, pure: request builders and response interpreters (reference/wechat.md §0.3,
§0.4, §3.3, §3.4, §4). The gateway's transport (`gateway.outbound.clients`) does the HTTP.

Access token: ``POST {api_base}/cgi-bin/stable_token`` with
``{"grant_type": "client_credential", "appid", "secret", "force_refresh"}``. Chosen over
``GET cgi-bin/token`` because in normal mode it hands every caller the same token while it is
valid, so several gateway processes (each with its own cache) never invalidate each other's
token. After a token error the gateway asks again without ``force_refresh`` and forces a new token
only when WeChat returns the token that was just refused.

Send: Service Account and Mini Program ``POST {api_base}/cgi-bin/message/custom/send
?access_token=`` with ``touser``, ``msgtype`` and an object named after it; Channels store
``POST {api_base}/channels/ec/commkf/sendmsg?access_token=`` with ``request_id`` (the platform's
idempotency key: a retried request is not delivered twice), ``open_id``, ``msg_type``.

Kinds by surface (anything else is `Unsupported`): text everywhere; image by ``media_id``
everywhere; link → ``news`` with one article (Service Account) or ``link`` (Mini Program); a
``mini_program`` card → ``miniprogrampage`` (Service Account, Mini Program); a ``product`` card →
``product_share`` (Channels store; its object's shape is not in the reference: ``product_id``).

`classify` by ``errcode`` (never by errmsg): 0 sent; 40001/40014/42001 token (refresh, retry
once); 45015 and 95018 window closed; 45047 reply limit; -1, 45009, 45011, HTTP 5xx/429 and
unreadable bodies transient; every other code a permanent refusal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

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

Surface = Literal["service_account", "channels_store", "mini_program"]

TOKEN_ERRORS = frozenset({40001, 40014, 42001})
_WINDOW = frozenset({45015, 95018})
_LIMIT = frozenset({45047})
_TRANSIENT = frozenset({-1, 45009, 45011})
_JSON = {"Content-Type": "application/json; charset=utf-8"}


def token_request(api_base: str, app_id: str, app_secret: str, *, force: bool) -> ApiRequest:
    """The stable_token call (``force``: rotate even if the current token is still valid)."""
    body = {
        "grant_type": "client_credential",
        "appid": app_id,
        "secret": app_secret,
        "force_refresh": force,
    }
    return ApiRequest(
        "POST", f"{api_base.rstrip('/')}/cgi-bin/stable_token", {}, _JSON, orjson.dumps(body)
    )


def read_token(status: int, body: bytes) -> TokenGrant | Verdict:
    """A token grant, or why there is none (transient, or a permanent refusal)."""
    doc = _json(body)
    if status >= 500 or status == 429 or doc is None:
        return Verdict("transient", status if status >= 400 else None, "token endpoint unavailable")
    token, expires = doc.get("access_token"), doc.get("expires_in")
    if isinstance(token, str) and token and isinstance(expires, int | float) and expires > 0:
        return TokenGrant(token, float(expires))
    code = _errcode(doc)
    kind: VerdictKind = "transient" if code in _TRANSIENT else "rejected"
    return Verdict(kind, code, "the token endpoint refused the account's credentials")


def unsupported(surface: str, kind: str, content: Mapping[str, Any]) -> str | None:
    """Why `surface` cannot send this content, or None when it can."""
    card = content.get("type") if kind == "card" else None
    allowed = {
        "service_account": {"text", "image", "link", "card:mini_program"},
        "mini_program": {"text", "image", "link", "card:mini_program"},
        "channels_store": {"text", "image", "card:product"},
    }.get(surface, set())
    what = f"card:{card}" if card else kind
    if what in allowed:
        if what == "card:mini_program" and not (
            content.get("title") and content.get("thumb_media_id")
        ):
            return "a WeChat mini program card needs title and thumb_media_id"
        return None
    return f"WeChat {surface} cannot send {what.replace(':', ' ')} messages"


def send_request(
    surface: str,
    api_base: str,
    access_token: str,
    *,
    touser: str,
    kind: str,
    content: Mapping[str, Any],
    request_id: str,
) -> ApiRequest | Unsupported:
    """The send call for one message; `content` is the outbound content as plain data."""
    reason = unsupported(surface, kind, content)
    if reason is not None:
        return Unsupported(reason)
    base = api_base.rstrip("/")
    params = {"access_token": access_token}
    if surface == "channels_store":
        msg_type, obj = _store_object(kind, content)
        body: dict[str, Any] = {"request_id": request_id, "open_id": touser, "msg_type": msg_type}
        body[msg_type] = obj
        url = f"{base}/channels/ec/commkf/sendmsg"
    else:
        msg_type, obj = _custom_object(surface, kind, content)
        body = {"touser": touser, "msgtype": msg_type, msg_type: obj}
        url = f"{base}/cgi-bin/message/custom/send"
    return ApiRequest("POST", url, params, _JSON, orjson.dumps(body))


def classify(status: int, body: bytes) -> Verdict:
    """The meaning of a send response (HTTP status and body)."""
    doc = _json(body)
    if status >= 500 or status == 429:
        return Verdict("transient", status, f"HTTP {status}")
    if status >= 400:
        return Verdict("rejected", status, f"HTTP {status}")
    if doc is None:
        return Verdict("transient", None, "unreadable response")
    code = _errcode(doc)
    if code == 0:
        msg_id = doc.get("msgid") or doc.get("msg_id")
        return Verdict("ok", 0, "ok", None if msg_id is None else str(msg_id))
    if code in TOKEN_ERRORS:
        return Verdict("token", code, "access token invalid or expired")
    if code in _WINDOW:
        return Verdict("window_closed", code, "outside the customer's reply window")
    if code in _LIMIT:
        return Verdict("reply_limit", code, "the platform's reply count is used up")
    if code in _TRANSIENT:
        return Verdict("transient", code, "platform busy or rate limited")
    return Verdict("rejected", code, f"errcode {code}")


def _custom_object(surface: str, kind: str, c: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    if kind == "text":
        return "text", {"content": c["text"]}
    if kind == "image":
        return "image", {"media_id": c["media_id"]}
    if kind == "link" and surface == "mini_program":
        return "link", {k: c.get(k) or "" for k in ("title", "description", "url", "thumb_url")}
    if kind == "link":
        article = {"title": c["title"], "description": c.get("description") or "", "url": c["url"]}
        return "news", {"articles": [{**article, "picurl": c.get("thumb_url") or ""}]}
    return "miniprogrampage", {
        "title": c["title"],
        "appid": c["app_id"],
        "pagepath": c["page_path"],
        "thumb_media_id": c["thumb_media_id"],
    }


def _store_object(kind: str, c: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    if kind == "text":
        return "text", {"content": c["text"]}
    if kind == "image":
        return "image", {"media_id": c["media_id"]}
    return "product_share", {"product_id": c["product_id"]}


def _json(body: bytes) -> dict[str, Any] | None:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return doc if isinstance(doc, dict) else None


def _errcode(doc: Mapping[str, Any]) -> int:
    code = doc.get("errcode", 0)
    try:
        return int(code)
    except (TypeError, ValueError):
        return -1
