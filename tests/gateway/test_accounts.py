"""The accounts file: valid documents load; every mistake names the account and the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.accounts import WeChatAccount, load_accounts, parse_accounts
from gateway.errors import ConfigError
from gateway.models import Platform

KEY = "Gw7kT2pQx9Lm4Rz8Vb1Nc6Hs3Jd5Fa0Ye2Ui7Oo4PqA"


def wechat(**overrides: Any) -> dict[str, Any]:
    return {
        "accounts": {"shop1": {"platform": "wechat", "token": "t", "app_id": "wx1", **overrides}}
    }


def test_example_file_loads() -> None:
    """The example accounts file shipped with the project is valid."""
    path = Path(__file__).parents[2] / "examples" / "accounts.toml"
    accounts = load_accounts(path, {"SHOP1_APP_SECRET": "s3cret"})
    shop = accounts.get(Platform.WECHAT, "shop1")
    assert isinstance(shop, WeChatAccount)
    assert shop.app_secret is not None and shop.app_secret.get_secret_value() == "s3cret"
    assert len(accounts) == 5


def test_env_reference_resolved_and_hidden_in_repr() -> None:
    """'env:NAME' reads the environment; the secret never shows in repr."""
    accounts = parse_accounts(wechat(token="env:TOK"), {"TOK": "very-secret-token"})
    account = accounts.get(Platform.WECHAT, "shop1")
    assert account is not None
    assert "very-secret-token" not in repr(account)
    assert (
        isinstance(account, WeChatAccount)
        and account.token.get_secret_value() == "very-secret-token"
    )


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (wechat(colour="blue"), "accounts.shop1: unknown key(s) ['colour']"),
        (
            {"accounts": {"shop1": {"platform": "wechat", "app_id": "wx1"}}},
            "accounts.shop1.token: missing",
        ),
        (wechat(token="env:NOPE"), "accounts.shop1.token: environment variable NOPE"),
        (
            wechat(encoding_aes_key="short"),
            "accounts.shop1.encoding_aes_key: an EncodingAESKey is 43",
        ),
        (wechat(surface="kiosk"), "accounts.shop1.surface"),
        (wechat(surface="channels_store"), "accounts.shop1.encoding_aes_key: required"),
        (wechat(previous_encoding_aes_key=KEY), "accounts.shop1.previous_encoding_aes_key"),
        (wechat(token=5), "accounts.shop1.token: must be a non-empty string"),
        (wechat(encryption="always", encoding_aes_key=KEY), "accounts.shop1.encryption: must be"),
        (wechat(encryption="required"), "accounts.shop1.encryption: 'required' needs"),
        ({"accounts": {"s": {"platform": "icq"}}}, "accounts.s.platform: must be one of"),
        ({"accounts": {"bad name": {"platform": "wechat"}}}, "accounts.bad name: account names"),
        (
            {"accounts": {"d": {"platform": "douyin", "flavor": "open"}}},
            "accounts.d.client_key: missing",
        ),
        ({"accounts": {"d": {"platform": "douyin", "flavor": "x"}}}, "accounts.d.flavor"),
        (
            {"accounts": {"t": {"platform": "taobao", "app_key": "k"}}},
            "accounts.t.app_secret: missing",
        ),
        ({"account": {}}, "unknown top-level key"),
    ],
)
def test_mistakes_name_account_and_key(doc: dict[str, Any], message: str) -> None:
    """Each mistake fails with a message naming where it is."""
    with pytest.raises(ConfigError) as info:
        parse_accounts(doc, {})
    assert message in str(info.value)


def test_bad_toml_and_missing_file(tmp_path: Path) -> None:
    """Unparseable TOML and a missing file are ConfigErrors naming the file."""
    bad = tmp_path / "a.toml"
    bad.write_text("[accounts.x\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_accounts(bad, {})
    with pytest.raises(ConfigError, match="does not exist"):
        load_accounts(tmp_path / "missing.toml", {})


def test_all_platforms_parse() -> None:
    """Douyin (both flavors) and Taobao accounts validate per DESIGN.md."""
    doc = {
        "accounts": {
            "dd": {"platform": "douyin", "flavor": "doudian", "app_key": "k", "app_secret": "s"},
            "dy": {"platform": "douyin", "flavor": "open", "client_key": "k", "client_secret": "s"},
            "tb": {"platform": "taobao", "app_key": "k", "app_secret": "s", "tmc_group": "g"},
        }
    }
    accounts = parse_accounts(doc, {})
    assert [a.name for a in accounts.of(Platform.DOUYIN)] == ["dd", "dy"]
    assert len(accounts.of(Platform.TAOBAO)) == 1


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, "optional"),
        ({"encoding_aes_key": KEY}, "optional"),
        ({"encoding_aes_key": KEY, "encryption": "required"}, "required"),
        ({"encoding_aes_key": KEY, "surface": "channels_store"}, "required"),
        (
            {"encoding_aes_key": KEY, "surface": "channels_store", "encryption": "optional"},
            "optional",
        ),
    ],
)
def test_encryption_defaults_to_required_for_channels_stores(
    overrides: dict[str, Any], expected: str
) -> None:
    """Stores push in safe mode only, so plaintext is refused there unless said otherwise."""
    account = parse_accounts(wechat(**overrides), {}).get(Platform.WECHAT, "shop1")
    assert isinstance(account, WeChatAccount) and account.encryption == expected
