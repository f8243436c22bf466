"""Wrong key material is refused at start-up (fail closed), naming the account and the key but
never echoing the value: an EncodingAESKey of the wrong length, alphabet or base64."""

from __future__ import annotations

import pytest

from gateway.accounts import parse_accounts
from gateway.errors import ConfigError
from tests.conftest import AES_KEY, APP_ID, TOKEN


@pytest.mark.parametrize(
    "key",
    [
        AES_KEY[:42],  # 42 characters: 31.5 bytes
        AES_KEY + "B",  # 44 characters
        AES_KEY[:22],  # half a key (a 16-byte AES-128 key would be 22 characters)
        AES_KEY[:42] + "=",  # padded base64 instead of WeChat's 43 characters
        AES_KEY[:42] + "+",  # a base64 character outside WeChat's alphabet
        "",
    ],
    ids=["42-chars", "44-chars", "22-chars", "padded", "plus-sign", "empty"],
)
@pytest.mark.parametrize("field", ["encoding_aes_key", "previous_encoding_aes_key"])
def test_wrong_aes_key_fails_at_start_up(key: str, field: str) -> None:
    """A malformed (previous) EncodingAESKey stops start-up with a ConfigError naming the key."""
    table = {"platform": "wechat", "token": TOKEN, "app_id": APP_ID, "encoding_aes_key": AES_KEY}
    table[field] = key
    with pytest.raises(ConfigError) as refused:
        parse_accounts({"accounts": {"shop": table}}, {})
    message = str(refused.value)
    assert f"accounts.shop.{field}" in message
    assert not key or key not in message
    assert TOKEN not in message
