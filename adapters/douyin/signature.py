"""Douyin-family callback signatures, computed over the exact bytes received (reference §1.3, §2.2).

* Doudian push ``event-sign`` = lowercase hex MD5(app_key ‖ raw body ‖ app_secret) — confirmed
  in every SDK. The HMAC-SHA256 variant (key app_secret over the same string) is unconfirmed and
  only used when an account opts in and the request says ``sign-method: hmac-sha256``.
* Douyin open platform ``X-Douyin-Signature`` = lowercase hex SHA-1(client_secret ‖ raw body):
  a plain hash, not an HMAC.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["doudian_hmac_sign", "doudian_sign", "douyin_sign"]


def doudian_sign(app_key: str, body: bytes, app_secret: str) -> str:
    """The Doudian push ``event-sign``: MD5 hex of app_key, body and app_secret concatenated."""
    digest = hashlib.md5(app_key.encode(), usedforsecurity=False)
    digest.update(body)
    digest.update(app_secret.encode())
    return digest.hexdigest()


def doudian_hmac_sign(app_key: str, body: bytes, app_secret: str) -> str:
    """The unconfirmed ``sign-method: hmac-sha256`` variant of `doudian_sign`."""
    message = app_key.encode() + body + app_secret.encode()
    return hmac.new(app_secret.encode(), message, hashlib.sha256).hexdigest()


def douyin_sign(client_secret: str, body: bytes) -> str:
    """The open platform's ``X-Douyin-Signature``: SHA-1 hex of client_secret then body."""
    digest = hashlib.sha1(client_secret.encode(), usedforsecurity=False)
    digest.update(body)
    return digest.hexdigest()
