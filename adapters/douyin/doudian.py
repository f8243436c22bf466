"""Doudian (抖店) message push adapter for one app (reference §1).

Request checks, in order, all fail-closed:
1. the ``app-id`` header equals the account's app_key;
2. ``event-sign`` equals lowercase hex MD5(app_key ‖ raw body ‖ app_secret), compared in
   constant time on the raw bytes (the unconfirmed HMAC-SHA256 variant only when the account opts
   in and the request sends ``sign-method: hmac-sha256``);
3. the body is JSON (an array of records, or one record) within the depth limit.

The verification push (tag 0) yields no event and is answered like any push. Doudian has no GET
verification; the answer to every accepted push is ``{"code":0,"msg":"success"}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from adapters.base import Clock, utc_now
from adapters.codec import loads_json
from adapters.douyin import doudian_events
from adapters.douyin.signature import doudian_hmac_sign, doudian_sign
from adapters.fields import digest_matches, header
from gateway.errors import ConfigError, PayloadError, SignatureError
from gateway.models import Platform, PlatformEvent, Reply, WebhookRequest

__all__ = ["SUCCESS", "DoudianAdapter"]

SUCCESS = Reply(body=orjson.dumps({"code": 0, "msg": "success"}), content_type="application/json")
_REFUSED = "Doudian push is not authentic"


class DoudianAdapter:
    """Adapter for one Doudian app's message push (``flavor = "doudian"``)."""

    platform = Platform.DOUYIN

    def __init__(
        self,
        *,
        account: str,
        app_key: str,
        app_secret: str,
        replay_window: int = 300,
        max_json_depth: int = 32,
        clock: Clock = utc_now,
        accept_unsigned_probe: bool = False,
        allow_hmac_sha256: bool = False,
    ) -> None:
        """`replay_window` is accepted for a uniform constructor but unused: Doudian pushes carry
        no signed timestamp, so retries are handled by dedup on ``msg_id`` instead.

        `accept_unsigned_probe` answers an unsigned verification push (tag 0, no data) — whether
        Doudian signs it is unconfirmed. `allow_hmac_sha256` accepts the unconfirmed
        ``sign-method: hmac-sha256`` variant. Both are off by default (fail closed).
        """
        if not app_key or not app_secret:
            raise ConfigError("DoudianAdapter needs app_key and app_secret")
        self._account = account
        self._app_key = app_key
        self._app_secret = app_secret
        self._replay_window = replay_window
        self._max_json_depth = max_json_depth
        self._clock = clock
        self._accept_unsigned_probe = accept_unsigned_probe
        self._allow_hmac_sha256 = allow_hmac_sha256

    def __repr__(self) -> str:
        return f"DoudianAdapter(account={self._account!r}, app_key={self._app_key!r})"

    @property
    def account(self) -> str:
        return self._account

    def handshake(self, request: WebhookRequest) -> Reply:
        raise PayloadError("Doudian verifies the push URL with a signed POST (tag 0), not a GET")

    def receive(self, request: WebhookRequest) -> Sequence[PlatformEvent]:
        if not self._authentic(request):
            if self._accept_unsigned_probe and self._is_probe(request.body):
                return ()
            raise SignatureError(_REFUSED)
        items = doudian_events.records(loads_json(request.body, self._max_json_depth))
        events = (
            doudian_events.to_event(
                record,
                account=self._account,
                clock=self._clock,
                max_json_depth=self._max_json_depth,
            )
            for record in items
        )
        return tuple(event for event in events if event is not None)

    def ack(self, request: WebhookRequest) -> Reply:
        return SUCCESS

    def _authentic(self, request: WebhookRequest) -> bool:
        if header(request.headers, "app-id") != self._app_key:
            return False
        method = (header(request.headers, "sign-method") or "md5").strip().lower()
        if method == "md5":
            expected = doudian_sign(self._app_key, request.body, self._app_secret)
        elif method == "hmac-sha256" and self._allow_hmac_sha256:
            expected = doudian_hmac_sign(self._app_key, request.body, self._app_secret)
        else:
            return False
        return digest_matches(expected, header(request.headers, "event-sign"))

    def _is_probe(self, body: bytes) -> bool:
        try:
            parsed: Any = loads_json(body, self._max_json_depth)
            items: list[Mapping[str, Any]] = doudian_events.records(parsed)
            return doudian_events.is_verification(items)
        except PayloadError:
            return False
