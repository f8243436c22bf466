"""Safe-mode crypto: round trips, rotation, and refusal of anything not made for us."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.wechat.crypto import WeChatCrypto
from gateway.errors import DecryptError
from tests import wechat_reference as ref

KEY = "Gw7kT2pQx9Lm4Rz8Vb1Nc6Hs3Jd5Fa0Ye2Ui7Oo4PqA"
OLD_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APPID = "wx1234567890abcdef"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2048))
def test_round_trip_against_reference(message: bytes) -> None:
    """Whatever the reference implementation encrypts, the adapter decrypts, and vice versa."""
    crypto = WeChatCrypto([KEY], APPID)
    assert crypto.decrypt(ref.encrypt(message, KEY, APPID)) == message
    assert ref.decrypt(crypto.encrypt(message), KEY) == (message, APPID.encode())


def test_previous_key_accepted_during_rotation() -> None:
    """A callback still encrypted with the previous EncodingAESKey is accepted."""
    crypto = WeChatCrypto([KEY, OLD_KEY], APPID)
    assert crypto.decrypt(ref.encrypt(b"<xml/>", OLD_KEY, APPID)) == b"<xml/>"


def test_unknown_key_refused() -> None:
    """Ciphertext made with a key the account does not have is refused."""
    with pytest.raises(DecryptError):
        WeChatCrypto([KEY], APPID).decrypt(ref.encrypt(b"<xml/>", OLD_KEY, APPID))


def test_wrong_receive_id_refused() -> None:
    """A payload encrypted for another AppID is refused even with the right key."""
    with pytest.raises(DecryptError):
        WeChatCrypto([KEY], APPID).decrypt(ref.encrypt(b"<xml/>", KEY, "wxOTHERAPPID00000"))


def test_padding_corruption_refused() -> None:
    """A ciphertext whose last block is corrupted fails the PKCS#7 or receive-id check.

    (The scheme has no MAC: integrity of the ciphertext comes from `msg_signature`, which the
    adapter tests cover; here only structural checks are exercised.)
    """
    raw = bytearray(base64.b64decode(ref.encrypt(b"<xml/>", KEY, APPID)))
    raw[-1] ^= 0xFF
    with pytest.raises(DecryptError):
        WeChatCrypto([KEY], APPID).decrypt(base64.b64encode(bytes(raw)).decode())


@pytest.mark.parametrize("bad", ["", "not base64!!", "QUJD", base64.b64encode(b"x" * 17).decode()])
def test_malformed_ciphertext_refused(bad: str) -> None:
    """Empty, non-base64 or non-block-sized ciphertext is refused, not crashed on."""
    with pytest.raises(DecryptError):
        WeChatCrypto([KEY], APPID).decrypt(bad)


def test_repr_hides_keys() -> None:
    """The crypto object's repr shows no key material."""
    assert KEY not in repr(WeChatCrypto([KEY], APPID))
