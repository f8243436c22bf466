"""WeChat's SHA-1 signatures: `signature` over (token, timestamp, nonce) and `msg_signature`
over (token, timestamp, nonce, Encrypt); the strings are sorted, joined without separator, hashed.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["sign", "verify"]


def sign(*parts: str) -> str:
    """Lower-case hex SHA-1 of the sorted, concatenated parts."""
    return hashlib.sha1("".join(sorted(parts)).encode(), usedforsecurity=False).hexdigest()


def verify(expected: str | None, *parts: str) -> bool:
    """Constant-time comparison of a received signature with the one computed from `parts`."""
    if not expected:
        return False
    return hmac.compare_digest(sign(*parts).encode(), expected.strip().lower().encode())
