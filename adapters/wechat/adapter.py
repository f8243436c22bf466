"""WeChat webhook adapter for one account: URL verification, signature checks, safe-mode decrypt.

Request checks, in order, all fail-closed (reference/wechat.md §0):
1. `timestamp` is an integer within the replay window of now (when the window is not 0);
2. plaintext mode: `signature` = sha1(sorted(token, timestamp, nonce)) must match;
3. safe/compatible mode (``encrypt_type=aes``): `msg_signature` over the ciphertext must match,
   and `signature`, when sent, must match too; the plaintext's receive-id must be the AppID;
   the previous EncodingAESKey is tried during rotation. In compatible mode only the decrypted
   (authenticated) content is used; the plaintext copy in the envelope is ignored.
Repeated query parameters are refused as ambiguous.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from adapters.base import Clock, utc_now
from adapters.codec import loads_json, loads_xml, sniff
from adapters.wechat.crypto import WeChatCrypto
from adapters.wechat.events import to_event
from adapters.wechat.signature import verify
from gateway.errors import ConfigError, DecryptError, PayloadError, ReplayError, SignatureError
from gateway.models import Platform, PlatformEvent, Reply, WebhookRequest

__all__ = ["WeChatAdapter"]

_SUCCESS = Reply(body=b"success")


class WeChatAdapter:
    """Adapter for one WeChat account (Service Account, Mini Program or Channels store)."""

    platform = Platform.WECHAT

    def __init__(
        self,
        *,
        account: str,
        token: str,
        app_id: str,
        encoding_aes_keys: Sequence[str] = (),
        encrypted_only: bool = False,
        replay_window: int = 300,
        max_json_depth: int = 32,
        clock: Clock = utc_now,
    ) -> None:
        self._account = account
        self._token = token
        self._crypto = WeChatCrypto(list(encoding_aes_keys), app_id) if encoding_aes_keys else None
        if encrypted_only and self._crypto is None:
            raise ConfigError("encrypted_only needs an EncodingAESKey")
        self._encrypted_only = encrypted_only
        self._replay_window = replay_window
        self._max_json_depth = max_json_depth
        self._clock = clock

    def __repr__(self) -> str:
        return f"WeChatAdapter(account={self._account!r}, safe_mode={self._crypto is not None})"

    @property
    def account(self) -> str:
        return self._account

    def handshake(self, request: WebhookRequest) -> Reply:
        timestamp, nonce = self._fresh(request)
        echostr = _single(request, "echostr")
        if echostr is None or not verify(
            _single(request, "signature"), self._token, timestamp, nonce
        ):
            raise SignatureError("WeChat URL verification failed")
        return Reply(body=echostr.encode(), content_type="text/plain")

    def receive(self, request: WebhookRequest) -> Sequence[PlatformEvent]:
        timestamp, nonce = self._fresh(request)
        signature = _single(request, "signature")
        data = self._decode(request.body, sniff(request.body))
        if self._is_encrypted(request, data):
            plaintext = self._decrypt(request, data, timestamp, nonce, signature)
            data = self._decode(plaintext, sniff(plaintext))
        elif self._encrypted_only:
            # The query signature covers no body: accepting plaintext here would let anyone who
            # saw one signed URL post arbitrary messages within the replay window.
            raise SignatureError("plaintext callback on an account that requires safe mode")
        elif not verify(signature, self._token, timestamp, nonce):
            raise SignatureError("WeChat signature mismatch")
        return (to_event(data, self._account),)

    def ack(self, request: WebhookRequest) -> Reply:
        return _SUCCESS

    @staticmethod
    def _is_encrypted(request: WebhookRequest, envelope: Mapping[str, Any]) -> bool:
        """Safe or compatible mode: flagged by `encrypt_type=aes` (or a `msg_signature`), or a
        body that carries nothing but the ciphertext."""
        if (_single(request, "encrypt_type") or "").lower() == "aes":
            return True
        if "Encrypt" not in envelope:
            return False
        return _single(request, "msg_signature") is not None or "MsgType" not in envelope

    def _decrypt(
        self,
        request: WebhookRequest,
        envelope: Mapping[str, Any],
        timestamp: str,
        nonce: str,
        signature: str | None,
    ) -> bytes:
        if self._crypto is None:
            raise DecryptError("encrypted callback for an account without EncodingAESKey")
        encrypted = envelope.get("Encrypt")
        if not isinstance(encrypted, str) or not encrypted:
            raise PayloadError("encrypted callback without Encrypt")
        msg_signature = _single(request, "msg_signature")
        if not verify(msg_signature, self._token, timestamp, nonce, encrypted):
            raise SignatureError("WeChat msg_signature mismatch")
        if signature is not None and not verify(signature, self._token, timestamp, nonce):
            raise SignatureError("WeChat signature mismatch")
        return self._crypto.decrypt(encrypted)

    def _decode(self, body: bytes, fmt: str) -> Mapping[str, Any]:
        if fmt == "xml":
            return loads_xml(body, self._max_json_depth)
        data = loads_json(body, self._max_json_depth)
        if not isinstance(data, dict):
            raise PayloadError("WeChat JSON callback must be an object")
        return data

    def _fresh(self, request: WebhookRequest) -> tuple[str, str]:
        timestamp = _single(request, "timestamp")
        nonce = _single(request, "nonce")
        if (
            not timestamp
            or not nonce
            or not (timestamp.isascii() and timestamp.isdigit())
            or len(timestamp) > 12
        ):
            raise SignatureError("timestamp and nonce are required")
        if self._replay_window:
            skew = abs(self._clock().timestamp() - int(timestamp))
            if skew > self._replay_window:
                raise ReplayError("timestamp outside the replay window")
        return timestamp, nonce


def _single(request: WebhookRequest, name: str) -> str | None:
    values = request.query.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise PayloadError(f"query parameter {name} repeated")
    return values[0]
