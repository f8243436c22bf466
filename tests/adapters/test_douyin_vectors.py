"""Known-answer vectors from reference/douyin_taobao.md §1.3 and §2.2 for the Douyin signatures."""

from __future__ import annotations

from adapters.douyin import doudian_hmac_sign, doudian_sign, douyin_sign
from adapters.fields import digest_matches

DOUDIAN_APP_KEY = "7000000000000000001"
DOUDIAN_SECRET = "demo-secret-0001"
# Copied verbatim from the reference: `data` is a JSON string, its quotes escaped.
DOUDIAN_BODY = (
    rb'[{"tag":"100","msg_id":"7000000000000000001::100:1700000000:abc","data":"{\"p_id\":'
    rb"6920000000000000001,\"s_ids\":[6920000000000000002],\"shop_id\":100001,\"order_status"
    rb'\":1,\"order_type\":0,\"create_time\":1700000000,\"biz\":2}"}]'
)
DOUYIN_SECRET = "demo-client-secret"
DOUYIN_BODY = b'{"event":"verify_webhook","client_key":"awdemo123","content":{"challenge":12345}}'


def test_doudian_md5_vector() -> None:
    """event-sign = MD5(app_key + body + app_secret), lowercase hex, as in §1.3."""
    assert doudian_sign(DOUDIAN_APP_KEY, DOUDIAN_BODY, DOUDIAN_SECRET) == (
        "960981292f3dafb89849fd8a1f774e46"
    )


def test_doudian_hmac_sha256_vector() -> None:
    """The unconfirmed hmac-sha256 variant reproduces the reference's value."""
    assert doudian_hmac_sign(DOUDIAN_APP_KEY, DOUDIAN_BODY, DOUDIAN_SECRET) == (
        "aa307889a3ab0c11c091d22d862fe567c28ef0bc280811524b9afc3bec96822f"
    )


def test_douyin_sha1_vector() -> None:
    """X-Douyin-Signature = SHA-1(client_secret + body), lowercase hex, as in §2.2."""
    assert douyin_sign(DOUYIN_SECRET, DOUYIN_BODY) == "2cd80bbb4957c95f775efad8e3f5503b2c753c94"


def test_digest_comparison_ignores_case_only() -> None:
    """Received digests match in any hex case; any other difference, or none sent, fails."""
    expected = "2cd80bbb4957c95f775efad8e3f5503b2c753c94"
    assert digest_matches(expected, expected.upper())
    assert digest_matches(expected, f" {expected} ")
    assert not digest_matches(expected, expected[:-1] + "5")
    assert not digest_matches(expected, None)
    assert not digest_matches(expected, "")
    assert not digest_matches(expected, "签名")
