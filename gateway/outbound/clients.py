"""Platform send clients: the HTTP transport (aiohttp) around the pure builders and interpreters
in `adapters.wechat.send` and `adapters.douyin.send`.

One `ApiClient` per configured account, built by `build_clients`: it keeps the account's access
token (`TokenCache`), builds the request, calls the platform at the account's ``api_base`` with a
per-call timeout, interprets the answer, and on a token error refreshes the token and retries
once. Network errors, timeouts and 5xx are `transient`; retrying them is the caller's job
(`gateway.outbound.process`). Taobao (no public send API) and Doudian (no public 飞鸽 chat API)
accounts get a client that refuses everything as ``unsupported``. URLs are never logged: WeChat
carries the token in the query string.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import aiohttp

from adapters.douyin import send as douyin
from adapters.wechat import send as wechat
from gateway.accounts import Accounts, DouyinAccount, TaobaoAccount, WeChatAccount
from gateway.outbound.results import Attempt
from gateway.outbound.schema import Content, OutboundMessage
from gateway.outbound.tokens import TokenCache

__all__ = ["ApiClient", "PlatformClient", "Transport", "UnsupportedClient", "build_clients"]

Request = wechat.ApiRequest | douyin.ApiRequest
Verdict = wechat.Verdict | douyin.Verdict
Grant = wechat.TokenGrant | douyin.TokenGrant


class PlatformClient(Protocol):
    def check(self, message: OutboundMessage) -> str | None:
        """Why this account cannot send this message at all, or None."""
        ...

    async def send(self, message: OutboundMessage, content: Content) -> Attempt:
        """One send (with at most one token refresh); `content` may differ from the message's."""
        ...


class Transport:
    """Performs `ApiRequest`s on a shared aiohttp session with a timeout per call."""

    def __init__(self, session: aiohttp.ClientSession, timeout: float) -> None:
        self._session = session
        self._timeout = timeout

    async def call(self, request: Request) -> tuple[int, bytes] | Attempt:
        try:
            async with (
                asyncio.timeout(self._timeout),
                self._session.request(
                    request.method,
                    request.url,
                    params=dict(request.params),
                    headers=dict(request.headers),
                    data=request.body,
                ) as response,
            ):
                return response.status, await response.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return Attempt("transient", detail=f"network error: {type(exc).__name__}")


class Api(Protocol):
    """What `ApiClient` needs from one platform's adapter, bound to an account."""

    def token_request(self, force: bool) -> Request | Attempt: ...
    def read_token(self, status: int, body: bytes) -> Grant | Verdict: ...
    def check(self, message: OutboundMessage) -> str | None: ...
    def send_request(
        self, token: str, message: OutboundMessage, content: Content
    ) -> Request | str: ...
    def classify(self, status: int, body: bytes) -> Verdict: ...


class ApiClient:
    def __init__(
        self,
        api: Api,
        transport: Transport,
        *,
        token_margin: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._api = api
        self._transport = transport
        self.tokens = TokenCache(self._fetch_token, margin=token_margin, clock=clock)

    def check(self, message: OutboundMessage) -> str | None:
        return self._api.check(message)

    async def send(self, message: OutboundMessage, content: Content) -> Attempt:
        token = await self.tokens.get()
        for refreshed in (False, True):
            if isinstance(token, Attempt):
                return token
            request = self._api.send_request(token, message, content)
            if isinstance(request, str):
                return Attempt("refused", "unsupported", detail=request)
            answer = await self._transport.call(request)
            if isinstance(answer, Attempt):
                return answer
            verdict = self._api.classify(*answer)
            if verdict.kind != "token" or refreshed:
                return _attempt(verdict)
            token = await self.tokens.refresh(token)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _fetch_token(self, force: bool) -> tuple[str, float] | Attempt:
        request = self._api.token_request(force)
        if isinstance(request, Attempt):
            return request
        answer = await self._transport.call(request)
        if isinstance(answer, Attempt):
            return answer
        grant = self._api.read_token(*answer)
        if isinstance(grant, wechat.TokenGrant | douyin.TokenGrant):
            return grant.token, grant.expires_in
        if grant.kind == "transient":
            return Attempt("transient", code=grant.code, detail=grant.detail)
        return Attempt("failed", "platform_error", grant.code, grant.detail)


def _attempt(verdict: Verdict) -> Attempt:
    kind, code, msg_id = verdict.kind, verdict.code, verdict.platform_msg_id
    if kind == "ok":
        return Attempt("sent", code=code, detail="ok", platform_msg_id=msg_id)
    if kind in ("transient", "token"):
        return Attempt("transient", code=code, detail=verdict.detail)
    reason = kind if kind in ("window_closed", "reply_limit") else "platform_error"
    return Attempt("refused", reason, code, verdict.detail)


def _plain(model: Any) -> dict[str, Any]:
    return dict(model.model_dump(exclude_none=True))


class WeChatApi:
    def __init__(self, account: WeChatAccount) -> None:
        self._account = account

    def token_request(self, force: bool) -> Request | Attempt:
        secret = self._account.app_secret
        if secret is None:
            return Attempt("failed", "platform_error", detail="the account has no app_secret")
        base, app_id = self._account.api_base, self._account.app_id
        return wechat.token_request(base, app_id, secret.get_secret_value(), force=force)

    def read_token(self, status: int, body: bytes) -> Grant | Verdict:
        return wechat.read_token(status, body)

    def check(self, message: OutboundMessage) -> str | None:
        return wechat.unsupported(self._account.surface, message.kind, _plain(message.content))

    def send_request(self, token: str, message: OutboundMessage, content: Content) -> Request | str:
        built = wechat.send_request(
            self._account.surface,
            self._account.api_base,
            token,
            touser=message.customer,
            kind=message.kind,
            content=_plain(content),
            request_id=message.request_id,
        )
        return built.detail if isinstance(built, wechat.Unsupported) else built

    def classify(self, status: int, body: bytes) -> Verdict:
        return wechat.classify(status, body)


class DouyinApi:
    def __init__(self, account: DouyinAccount) -> None:
        self._account = account

    def token_request(self, force: bool) -> Request | Attempt:
        key, secret = self._account.client_key, self._account.client_secret
        if key is None or secret is None:
            return Attempt("failed", "platform_error", detail="the account has no client_key")
        return douyin.token_request(self._account.api_base, key, secret.get_secret_value())

    def read_token(self, status: int, body: bytes) -> Grant | Verdict:
        return douyin.read_token(status, body)

    def check(self, message: OutboundMessage) -> str | None:
        return douyin.unsupported(message.kind, _plain(message.content), _plain(message.context))

    def send_request(self, token: str, message: OutboundMessage, content: Content) -> Request | str:
        built = douyin.send_request(
            self._account.api_base,
            token,
            to_user_id=message.customer,
            kind=message.kind,
            content=_plain(content),
            context=_plain(message.context),
        )
        return built.detail if isinstance(built, douyin.Unsupported) else built

    def classify(self, status: int, body: bytes) -> Verdict:
        return douyin.classify(status, body)


class UnsupportedClient:
    """An account whose platform offers no send API the gateway can use."""

    def __init__(self, detail: str) -> None:
        self._detail = detail

    def check(self, message: OutboundMessage) -> str | None:
        return self._detail

    async def send(self, message: OutboundMessage, content: Content) -> Attempt:
        return Attempt("refused", "unsupported", detail=self._detail)


def build_clients(
    accounts: Accounts, transport: Transport, *, token_margin: float
) -> Mapping[tuple[str, str], PlatformClient]:
    """A client per configured account, keyed by (platform, account name)."""
    clients: dict[tuple[str, str], PlatformClient] = {}
    for (platform, name), account in accounts.by_key.items():
        client: PlatformClient
        if isinstance(account, WeChatAccount):
            client = ApiClient(WeChatApi(account), transport, token_margin=token_margin)
        elif isinstance(account, DouyinAccount) and account.flavor == "open":
            client = ApiClient(DouyinApi(account), transport, token_margin=token_margin)
        elif isinstance(account, TaobaoAccount):
            client = UnsupportedClient(TAOBAO_UNSUPPORTED)
        else:
            client = UnsupportedClient("Doudian offers no public API to send 飞鸽 chat messages.")
        clients[(platform.value, name)] = client
    return clients


TAOBAO_UNSUPPORTED = "Taobao offers no public API to send customer-service messages."
