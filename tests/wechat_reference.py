"""An independent, test-only implementation of WeChat's callback scheme (reference/wechat.md §0).

Written from the spec, sharing no code with `adapters.wechat`, so the adapter is checked against
the scheme rather than against itself.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def sha1_signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def encrypt(
    message: bytes, encoding_aes_key: str, receive_id: str, prefix: bytes | None = None
) -> str:
    key = base64.b64decode(encoding_aes_key + "=")
    assert len(key) == 32
    body = (
        (prefix or os.urandom(16)) + struct.pack("!I", len(message)) + message + receive_id.encode()
    )
    n = 32 - (len(body) % 32)
    body += bytes([n] * n)
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(enc.update(body) + enc.finalize()).decode("ascii")


def decrypt(encrypted: str, encoding_aes_key: str) -> tuple[bytes, bytes]:
    key = base64.b64decode(encoding_aes_key + "=")
    dec = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    plain = dec.update(base64.b64decode(encrypted)) + dec.finalize()
    plain = plain[: -plain[-1]]
    (length,) = struct.unpack("!I", plain[16:20])
    return plain[20 : 20 + length], plain[20 + length :]


def xml_envelope(encrypted: str) -> bytes:
    return (
        "<xml><ToUserName><![CDATA[gh_test]]></ToUserName>"
        f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    ).encode()


def safe_mode_query(token: str, timestamp: str, nonce: str, encrypted: str) -> dict[str, str]:
    return {
        "timestamp": timestamp,
        "nonce": nonce,
        "signature": sha1_signature(token, timestamp, nonce),
        "encrypt_type": "aes",
        "msg_signature": sha1_signature(token, timestamp, nonce, encrypted),
        "openid": "oUser",
    }


def plain_query(token: str, timestamp: str, nonce: str) -> dict[str, str]:
    return {
        "timestamp": timestamp,
        "nonce": nonce,
        "signature": sha1_signature(token, timestamp, nonce),
    }
