"""Douyin open platform (open.douyin.com) webhook adapter for one app (reference §2).

Checks, fail-closed: ``X-Douyin-Signature`` = lowercase hex SHA-1(client_secret ‖ raw body),
compared in constant time on the raw bytes; the body is a JSON object with an ``event``; a
``client_key`` in the body, when present, must be the account's.

URL verification is a signed POST, ``{"event":"verify_webhook","content":{"challenge":N}}``:
`receive` returns no event for it and `ack` answers ``{"challenge":N}`` (the same JSON value).
`ack` works from the request alone (adapters keep no per-request state): it re-verifies the
signature and re-parses the body before echoing anything (cheap next to the publish it follows).
Every other accepted webhook is answered HTTP 200 ``success``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from adapters.base import Clock, utc_now
from adapters.codec import loads_json
from adapters.douyin import open_events
from adapters.douyin.signature import douyin_sign
from adapters.fields import digest_matches, header
from gateway.errors import ConfigError, PayloadError, SignatureError
from gateway.models import Platform, PlatformEvent, Reply, WebhookRequest

__all__ = ["DouyinOpenAdapter"]

_SUCCESS = Reply(body=b"success", content_type="text/plain")
_MAX_MSG_ID = 256


class DouyinOpenAdapter:
    """Adapter for one Douyin open-platform app's webhooks (``flavor = "open"``)."""

    platform = Platform.DOUYIN

    def __init__(
        self,
        *,
        account: str,
        client_key: str,
        client_secret: str,
        replay_window: int = 300,
        max_json_depth: int = 32,
        clock: Clock = utc_now,
    ) -> None:
        """`replay_window` is accepted for a uniform constructor but unused: Douyin webhooks carry
        no signed timestamp; retries are deduplicated on ``Msg-Id``."""
        if not client_key or not client_secret:
            raise ConfigError("DouyinOpenAdapter needs client_key and client_secret")
        self._account = account
        self._client_key = client_key
        self._client_secret = client_secret
        self._replay_window = replay_window
        self._max_json_depth = max_json_depth
        self._clock = clock

    def __repr__(self) -> str:
        return f"DouyinOpenAdapter(account={self._account!r}, client_key={self._client_key!r})"

    @property
    def account(self) -> str:
        return self._account

    def handshake(self, request: WebhookRequest) -> Reply:
        raise PayloadError("Douyin verifies webhooks with a signed POST, not a GET")

    def receive(self, request: WebhookRequest) -> Sequence[PlatformEvent]:
        envelope = self._verified(request)
        name = open_events.event_name(envelope)
        if name == open_events.VERIFY_WEBHOOK:
            open_events.challenge_of(envelope, self._max_json_depth)  # malformed → 400 now
            return ()
        msg_id = header(request.headers, "msg-id")
        if msg_id is not None:
            msg_id = msg_id.strip()
            if len(msg_id) > _MAX_MSG_ID:
                raise PayloadError("Msg-Id header too long")
        event = open_events.to_event(
            envelope,
            account=self._account,
            msg_id=msg_id,
            body=request.body,
            clock=self._clock,
            max_json_depth=self._max_json_depth,
        )
        return (event,)

    def ack(self, request: WebhookRequest) -> Reply:
        envelope = self._verified(request)
        if envelope.get("event") != open_events.VERIFY_WEBHOOK:
            return _SUCCESS
        challenge = open_events.challenge_of(envelope, self._max_json_depth)
        return Reply(body=orjson.dumps({"challenge": challenge}), content_type="application/json")

    def _verified(self, request: WebhookRequest) -> Mapping[str, Any]:
        expected = douyin_sign(self._client_secret, request.body)
        if not digest_matches(expected, header(request.headers, "x-douyin-signature")):
            raise SignatureError("Douyin webhook is not authentic")
        envelope = loads_json(request.body, self._max_json_depth)
        if not isinstance(envelope, dict):
            raise PayloadError("Douyin webhook body must be a JSON object")
        client_key = envelope.get("client_key")
        if client_key is not None and client_key != self._client_key:
            raise SignatureError("Douyin webhook is not authentic")
        return envelope
