"""WeChat safe mode (WXBizMsgCrypt): AES-256-CBC, IV = key[:16], PKCS#7 with block size 32.

Plaintext layout: 16 random bytes | 4-byte big-endian length L | L bytes of message | receive-id.
The receive-id must equal the account's AppID. During EncodingAESKey rotation the previous key is
tried after the current one. Cipher objects are built once per key and reused.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from gateway.errors import DecryptError

__all__ = ["WeChatCrypto", "decode_aes_key"]

_BLOCK = 32


def decode_aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key of a 43-character EncodingAESKey."""
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except binascii.Error as exc:
        raise DecryptError("EncodingAESKey is not base64") from exc
    if len(key) != 32:
        raise DecryptError("EncodingAESKey must decode to 32 bytes")
    return key


@dataclass(frozen=True, slots=True)
class _Key:
    cipher: Cipher[modes.CBC]


class WeChatCrypto:
    """Encrypt and decrypt WeChat safe-mode payloads for one receive-id (AppID)."""

    __slots__ = ("_keys", "_receive_id")

    def __init__(self, encoding_aes_keys: list[str], receive_id: str) -> None:
        if not encoding_aes_keys:
            raise DecryptError("at least one EncodingAESKey is required")
        self._keys = tuple(_cipher(decode_aes_key(k)) for k in encoding_aes_keys)
        self._receive_id = receive_id.encode()

    def __repr__(self) -> str:
        return f"WeChatCrypto(keys={len(self._keys)}, receive_id={self._receive_id.decode()!r})"

    def decrypt(self, encrypted: str) -> bytes:
        """The message bytes; DecryptError if no key yields a well-formed plaintext for us."""
        try:
            data = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise DecryptError("ciphertext is not base64") from exc
        if not data or len(data) % 16:
            raise DecryptError("ciphertext length is not a multiple of the AES block")
        for key in self._keys:
            message = self._try(key, data)
            if message is not None:
                return message
        raise DecryptError("ciphertext does not decrypt for this account")

    def encrypt(self, message: bytes, random_prefix: bytes | None = None) -> str:
        """Base64 ciphertext of `message` with the current key (for replies and test clients)."""
        prefix = os.urandom(16) if random_prefix is None else random_prefix
        if len(prefix) != 16:
            raise ValueError("random prefix must be 16 bytes")
        plain = prefix + struct.pack(">I", len(message)) + message + self._receive_id
        pad = _BLOCK - len(plain) % _BLOCK
        plain += bytes([pad]) * pad
        encryptor = self._keys[0].cipher.encryptor()
        return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()

    def _try(self, key: _Key, data: bytes) -> bytes | None:
        decryptor = key.cipher.decryptor()
        plain = decryptor.update(data) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= _BLOCK or plain[-pad:] != bytes([pad]) * pad:
            return None
        plain = plain[:-pad]
        if len(plain) < 20:
            return None
        (length,) = struct.unpack(">I", plain[16:20])
        if 20 + length > len(plain):
            return None
        if not hmac.compare_digest(plain[20 + length :], self._receive_id):
            return None
        return plain[20 : 20 + length]


def _cipher(key: bytes) -> _Key:
    return _Key(Cipher(algorithms.AES(key), modes.CBC(key[:16])))
