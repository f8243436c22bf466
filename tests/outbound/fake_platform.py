"""A fake WeChat + Douyin send API on loopback that checks what the real APIs check.

WeChat: ``POST /cgi-bin/stable_token`` (appid/secret checked → 40013/40125; the current token is
handed out again until it expires; ``force_refresh`` issues a new one and invalidates the old),
``POST /cgi-bin/message/custom/send`` and ``POST /channels/ec/commkf/sendmsg`` (``access_token``
unknown → 40001, expired → 42001; body shape per msgtype → 44002/40008/47001; the customer's
window (`customer_message`) and reply count → 45015/45047; the store's ``request_id`` is
deduplicated: a repeat answers ok without a second delivery).
Douyin: ``POST /oauth/client_token/`` (client_key/secret → 10013; the newest two tokens are
valid) and ``POST /im/send/msg/`` (``access-token`` header unknown or expired → 28001008; body
shape per msg_type → 28001007).

Failure injection: ``failure_rate`` of send calls fail *before* processing with HTTP 503 or
(``failure_codes``) errcode/error_code -1/28001005, half each; with ``fail_after_processing`` a
store send fails *after* it was delivered (the retry must then be deduplicated by request_id).
Every processed send is recorded in `deliveries`; `calls` counts every request per endpoint.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

WINDOW_SECONDS = 48 * 3600.0
_CUSTOM_TYPES: dict[str, tuple[str, ...]] = {
    "text": ("content",),
    "image": ("media_id",),
    "news": ("articles",),
    "link": ("title", "description", "url", "thumb_url"),
    "miniprogrampage": ("title", "appid", "pagepath", "thumb_media_id"),
}
_STORE_TYPES: dict[str, tuple[str, ...]] = {
    "text": ("content",),
    "image": ("media_id",),
    "product_share": ("product_id",),
}
_DOUYIN_TYPES = {
    1: ("text", "text"),
    2: ("image", "media_id"),
    8: ("retain_consult_card", "card_id"),
}


@dataclass
class Delivery:
    endpoint: str  #: custom | store | douyin
    app: str
    to: str
    body: dict[str, Any]
    request_id: str | None = None

    @property
    def text(self) -> str | None:
        c = self.body.get("text") or (self.body.get("content") or {}).get("text")
        if isinstance(c, dict):
            value = c.get("content") or c.get("text")
            return value if isinstance(value, str) else None
        return None


@dataclass
class _Token:
    app: str
    expires_at: float
    valid: bool = True


@dataclass
class FakePlatform:
    wechat_apps: dict[str, str] = field(default_factory=dict)  #: appid -> secret
    mini_program_apps: frozenset[str] = frozenset()  #: appids that may send msgtype link
    douyin_apps: dict[str, str] = field(default_factory=dict)  #: client_key -> secret
    token_ttl: float = 7200.0
    replies_per_action: int = 5
    enforce_windows: bool = True
    failure_rate: float = 0.0
    fail_after_processing: bool = False
    failure_codes: bool = True  #: inject errcode -1 / 28001005 as well as HTTP 503
    delay: float = 0.0  #: seconds every send call takes
    seed: int = 7
    clock: Callable[[], float] = time.time
    tokens: dict[str, _Token] = field(default_factory=dict)
    current: dict[str, str] = field(default_factory=dict)
    windows: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    deliveries: list[Delivery] = field(default_factory=list)
    store_requests: set[str] = field(default_factory=set)
    calls: Counter[str] = field(default_factory=Counter)
    token_fetches: Counter[str] = field(default_factory=Counter)
    injected: int = 0
    dedup_hits: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/cgi-bin/stable_token", self._stable_token)
        app.router.add_post("/cgi-bin/message/custom/send", self._custom_send)
        app.router.add_post("/channels/ec/commkf/sendmsg", self._store_send)
        app.router.add_post("/oauth/client_token/", self._client_token)
        app.router.add_post("/im/send/msg/", self._douyin_send)
        return app

    # test controls ---------------------------------------------------------------------------

    def customer_message(self, app: str, customer: str, at: float | None = None) -> None:
        """The customer wrote: the window opens (or renews) and the reply count restarts."""
        self.windows[(app, customer)] = [self.clock() if at is None else at, 0]

    def expire_tokens(self) -> None:
        """Every token issued so far expires now (as if 2 hours had passed)."""
        for token in self.tokens.values():
            token.expires_at = self.clock() - 1

    # WeChat -----------------------------------------------------------------------------------

    async def _stable_token(self, request: web.Request) -> web.Response:
        self.calls["stable_token"] += 1
        doc = await _json_body(request)
        app, secret = str(doc.get("appid", "")), str(doc.get("secret", ""))
        if doc.get("grant_type") != "client_credential" or app not in self.wechat_apps:
            return _ok({"errcode": 40013, "errmsg": "invalid appid"})
        if not secrets.compare_digest(secret, self.wechat_apps[app]):
            return _ok({"errcode": 40125, "errmsg": "invalid appsecret"})
        self.token_fetches[app] += 1
        token = self._live(self.current.get(app))
        if token is None or doc.get("force_refresh") is True:
            if token is not None:
                self.tokens[token].valid = False
            token = self._issue(app)
        remaining = int(self.tokens[token].expires_at - self.clock())
        return _ok({"access_token": token, "expires_in": remaining})

    async def _custom_send(self, request: web.Request) -> web.Response:
        return await self._wechat_send(request, "custom")

    async def _store_send(self, request: web.Request) -> web.Response:
        return await self._wechat_send(request, "store")

    async def _wechat_send(self, request: web.Request, endpoint: str) -> web.Response:
        self.calls[endpoint] += 1
        await asyncio.sleep(self.delay)
        if (failure := self._inject("errcode", -1)) is not None:
            return failure
        token = self.tokens.get(request.query.get("access_token", ""))
        if token is None or not token.valid:
            return _ok({"errcode": 40001, "errmsg": "invalid credential, access_token is invalid"})
        if token.expires_at <= self.clock():
            return _ok({"errcode": 42001, "errmsg": "access_token expired"})
        doc = await _json_body(request)
        error = self._wechat_shape(endpoint, token.app, doc)
        if error is not None:
            return _ok({"errcode": error, "errmsg": "data format error"})
        to = str(doc.get("touser") or doc.get("open_id"))
        request_id = doc.get("request_id") if endpoint == "store" else None
        if request_id is not None and request_id in self.store_requests:
            self.dedup_hits += 1
            return _ok({"errcode": 0, "errmsg": "ok"})
        refusal = self._spend_window(token.app, to)
        if refusal is not None:
            return _ok(refusal)
        if request_id is not None:
            self.store_requests.add(request_id)
        self.deliveries.append(Delivery(endpoint, token.app, to, doc, request_id))
        failure = self._inject("errcode", -1) if self._fails_late(endpoint) else None
        if failure is not None:
            return failure
        return _ok({"errcode": 0, "errmsg": "ok", "msgid": len(self.deliveries)})

    def _wechat_shape(self, endpoint: str, app: str, doc: dict[str, Any]) -> int | None:
        if endpoint == "custom":
            to, msgtype, types = doc.get("touser"), doc.get("msgtype"), _CUSTOM_TYPES
            if msgtype == "link" and app not in self.mini_program_apps:
                return 40008
        else:
            to, msgtype, types = doc.get("open_id"), doc.get("msg_type"), _STORE_TYPES
        if not isinstance(to, str) or not to:
            return 40003
        if msgtype not in types:
            return 40008
        obj = doc.get(str(msgtype))
        if not isinstance(obj, dict) or any(k not in obj for k in types[str(msgtype)]):
            return 47001
        if msgtype == "text" and not (isinstance(obj["content"], str) and obj["content"]):
            return 44003
        if msgtype == "news" and not (
            isinstance(obj["articles"], list)
            and len(obj["articles"]) == 1
            and all(k in obj["articles"][0] for k in ("title", "url"))
        ):
            return 47001
        return None

    def _spend_window(self, app: str, to: str) -> dict[str, Any] | None:
        if not self.enforce_windows:
            return None
        window = self.windows.get((app, to))
        if window is None or window[0] + WINDOW_SECONDS <= self.clock():
            return {"errcode": 45015, "errmsg": "response out of time limit"}
        if window[1] >= self.replies_per_action:
            return {"errcode": 45047, "errmsg": "out of response count limit"}
        window[1] += 1
        return None

    # Douyin -----------------------------------------------------------------------------------

    async def _client_token(self, request: web.Request) -> web.Response:
        self.calls["client_token"] += 1
        doc = await _json_body(request)
        key = str(doc.get("client_key", ""))
        if self.douyin_apps.get(key) != doc.get("client_secret") or not key:
            return _ok(
                {"data": {"error_code": 10013, "description": "bad client"}, "message": "error"}
            )
        self.token_fetches[key] += 1
        mine = [t for t, v in self.tokens.items() if v.app == key and v.valid]
        for stale in mine[:-1]:  # only the newest two tokens stay valid
            self.tokens[stale].valid = False
        token = self._issue(key)
        return _ok(
            {
                "data": {"access_token": token, "expires_in": int(self.token_ttl), "error_code": 0},
                "message": "success",
            }
        )

    async def _douyin_send(self, request: web.Request) -> web.Response:
        self.calls["douyin"] += 1
        await asyncio.sleep(self.delay)
        if (failure := self._inject("douyin", 28001005)) is not None:
            return failure
        token = self.tokens.get(request.headers.get("access-token", ""))
        if token is None or not token.valid or token.expires_at <= self.clock():
            return _douyin_error(28001008)
        doc = await _json_body(request)
        content = doc.get("content")
        msg_type = content.get("msg_type") if isinstance(content, dict) else None
        spec = _DOUYIN_TYPES.get(msg_type) if isinstance(msg_type, int) else None
        to = doc.get("to_user_id")
        if (
            spec is None
            or not isinstance(to, str)
            or not request.query.get("open_id")
            or not isinstance(content, dict)
            or not isinstance(content.get(spec[0]), dict)
            or not content[spec[0]].get(spec[1])
        ):
            return _douyin_error(28001007)
        self.deliveries.append(Delivery("douyin", token.app, to, doc))
        return _ok(
            {"data": {"error_code": 0, "description": ""}, "msg_id": f"@{len(self.deliveries)}"}
        )

    # helpers ----------------------------------------------------------------------------------

    def _issue(self, app: str) -> str:
        token = secrets.token_hex(16)
        self.tokens[token] = _Token(app, self.clock() + self.token_ttl)
        self.current[app] = token
        return token

    def _live(self, token: str | None) -> str | None:
        state = self.tokens.get(token or "")
        return (
            token if state is not None and state.valid and state.expires_at > self.clock() else None
        )

    def _fails_late(self, endpoint: str) -> bool:
        return endpoint == "store" and self.fail_after_processing

    def _inject(self, flavor: str, code: int) -> web.Response | None:
        if self.failure_rate <= 0 or self._rng.random() >= self.failure_rate:
            return None
        self.injected += 1
        if not self.failure_codes or self._rng.random() < 0.5:
            return web.Response(status=503, text="upstream unavailable")
        if flavor == "douyin":
            return _douyin_error(code)
        return _ok({"errcode": code, "errmsg": "system error"})


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        doc = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _ok(doc: dict[str, Any]) -> web.Response:
    return web.Response(body=orjson.dumps(doc), content_type="application/json")


def _douyin_error(code: int) -> web.Response:
    return _ok({"data": {"error_code": code, "description": "error"}, "extra": {"logid": "fake"}})
