"""Known-answer vectors from reference/wechat.md §0.1 and §0.2."""

from __future__ import annotations

import pytest

from adapters.wechat.crypto import WeChatCrypto, decode_aes_key
from adapters.wechat.signature import sign, verify
from tests import wechat_reference as ref

VECTOR_KEY = "Gw7kT2pQx9Lm4Rz8Vb1Nc6Hs3Jd5Fa0Ye2Ui7Oo4PqA"
VECTOR_APPID = "wx1234567890abcdef"
VECTOR_MSG = (
    b"<xml><ToUserName><![CDATA[gh_0a1b2c3d4e5f]]></ToUserName>"
    b"<FromUserName><![CDATA[oUser_demo_openid]]></FromUserName>"
    b"<CreateTime>1735689600</CreateTime><MsgType><![CDATA[text]]></MsgType>"
    b"<Content><![CDATA[hi]]></Content><MsgId>24800000000000001</MsgId></xml>"
)


@pytest.mark.parametrize(
    ("token", "timestamp", "nonce", "expected"),
    [
        ("AAAAA", "1714036504", "1514711492", "f464b24fc39322e44b38aa78f5edd27bd1441696"),
        ("AAAAA", "1714037059", "486452656", "899cf89e464efb63f54ddac96b0a0a235f53aa78"),
        ("gw_demo_token", "1735689600", "8265301", "972938c723421c976fec14ad4132745cfaea99c6"),
    ],
)
def test_plain_signature_vectors(token: str, timestamp: str, nonce: str, expected: str) -> None:
    """The official and own signature examples reproduce exactly."""
    assert sign(token, timestamp, nonce) == expected
    assert verify(expected, token, timestamp, nonce)
    assert verify(expected.upper(), token, timestamp, nonce)
    assert not verify(expected[:-1] + "0", token, timestamp, nonce)


def test_safe_mode_vector() -> None:
    """The self-generated safe-mode vector: IV, padding and msg_signature as documented."""
    key = decode_aes_key(VECTOR_KEY)
    assert key[:16].hex() == "1b0ee44f6a50c7d2e6e11cfc55bd4d73"
    assert len(VECTOR_MSG) == 256
    crypto = WeChatCrypto([VECTOR_KEY], VECTOR_APPID)
    encrypted = crypto.encrypt(VECTOR_MSG, b"0123456789abcdef")
    assert len(__import__("base64").b64decode(encrypted)) == 320
    assert sign("gw_demo_token", "1735689600", "8265301", encrypted) == (
        "df6dc23293106c0c1e0526b1423f9bee395ad27f"
    )
    assert encrypted == ref.encrypt(VECTOR_MSG, VECTOR_KEY, VECTOR_APPID, b"0123456789abcdef")
    assert crypto.decrypt(encrypted) == VECTOR_MSG
    assert ref.decrypt(encrypted, VECTOR_KEY) == (VECTOR_MSG, VECTOR_APPID.encode())
