"""Platform accounts from the TOML accounts file (`GATEWAY_CONFIG`).

One table per account, ``[accounts.<name>]``; the name is the last segment of the webhook path.
A secret is a literal or ``"env:NAME"`` (read from the environment at load time). Unknown keys,
missing required keys and malformed values fail at start-up with a `ConfigError` that names the
account and the key.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import SecretStr

from gateway.errors import ConfigError
from gateway.models import Platform

__all__ = [
    "Account",
    "Accounts",
    "DouyinAccount",
    "TaobaoAccount",
    "WeChatAccount",
    "load_accounts",
    "parse_accounts",
]

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_AES_KEY = re.compile(r"^[A-Za-z0-9]{43}$")

WeChatSurface = Literal["service_account", "channels_store", "mini_program"]
WeChatEncryption = Literal["required", "optional"]
DouyinFlavor = Literal["doudian", "open"]


@dataclass(frozen=True, slots=True)
class WeChatAccount:
    name: str
    token: SecretStr
    app_id: str
    surface: WeChatSurface = "service_account"
    encryption: WeChatEncryption = "optional"
    encoding_aes_key: SecretStr | None = None
    previous_encoding_aes_key: SecretStr | None = None
    app_secret: SecretStr | None = None
    api_base: str = "https://api.weixin.qq.com"
    platform: Platform = field(default=Platform.WECHAT, init=False)


@dataclass(frozen=True, slots=True)
class DouyinAccount:
    name: str
    flavor: DouyinFlavor
    app_key: str | None = None
    app_secret: SecretStr | None = None
    client_key: str | None = None
    client_secret: SecretStr | None = None
    api_base: str = "https://open.douyin.com"
    platform: Platform = field(default=Platform.DOUYIN, init=False)


@dataclass(frozen=True, slots=True)
class TaobaoAccount:
    name: str
    app_key: str
    app_secret: SecretStr
    tmc_url: str = "ws://mc.api.taobao.com/"
    tmc_group: str = "default"
    api_base: str = "https://eco.taobao.com/router/rest"
    platform: Platform = field(default=Platform.TAOBAO, init=False)


Account = WeChatAccount | DouyinAccount | TaobaoAccount


@dataclass(frozen=True, slots=True)
class Accounts:
    """All configured accounts, looked up by platform and name."""

    by_key: Mapping[tuple[Platform, str], Account] = field(default_factory=dict)

    def get(self, platform: Platform, name: str) -> Account | None:
        return self.by_key.get((platform, name))

    def of(self, platform: Platform) -> list[Account]:
        return [a for (p, _), a in self.by_key.items() if p is platform]

    def __len__(self) -> int:
        return len(self.by_key)


# key -> (required, is_secret)
_KEYS: dict[Platform, dict[str, tuple[bool, bool]]] = {
    Platform.WECHAT: {
        "token": (True, True),
        "app_id": (True, False),
        "surface": (False, False),
        "encryption": (False, False),
        "encoding_aes_key": (False, True),
        "previous_encoding_aes_key": (False, True),
        "app_secret": (False, True),
        "api_base": (False, False),
    },
    Platform.DOUYIN: {
        "flavor": (True, False),
        "app_key": (False, False),
        "app_secret": (False, True),
        "client_key": (False, False),
        "client_secret": (False, True),
        "api_base": (False, False),
    },
    Platform.TAOBAO: {
        "app_key": (True, False),
        "app_secret": (True, True),
        "tmc_url": (False, False),
        "tmc_group": (False, False),
        "api_base": (False, False),
    },
}
_DOUYIN_REQUIRED = {"doudian": ("app_key", "app_secret"), "open": ("client_key", "client_secret")}


def load_accounts(path: Path | None, environ: Mapping[str, str] | None = None) -> Accounts:
    """Read and validate the accounts file; no file means no accounts."""
    if path is None:
        return Accounts()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"accounts file {path} does not exist (GATEWAY_CONFIG)") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"accounts file {path} is not valid TOML: {exc}") from exc
    return parse_accounts(raw, os.environ if environ is None else environ)


def parse_accounts(raw: Mapping[str, Any], environ: Mapping[str, str]) -> Accounts:
    """Validate the parsed TOML document; see the module docstring for the rules."""
    unknown_top = set(raw) - {"accounts"}
    if unknown_top:
        raise ConfigError(
            f"unknown top-level key(s) {sorted(unknown_top)}; expected [accounts.<name>]"
        )
    tables = raw.get("accounts", {})
    if not isinstance(tables, dict):
        raise ConfigError("'accounts' must be a table of [accounts.<name>] tables")
    result: dict[tuple[Platform, str], Account] = {}
    for name, table in tables.items():
        account = _parse_account(name, table, environ)
        result[(account.platform, name)] = account
    return Accounts(result)


def _parse_account(name: str, table: Any, environ: Mapping[str, str]) -> Account:
    where = f"accounts.{name}"
    if not _NAME.match(name):
        raise ConfigError(f"{where}: account names use A-Z, a-z, 0-9, '_' and '-' (max 64)")
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: must be a table")
    try:
        platform = Platform(table.get("platform"))
    except ValueError:
        raise ConfigError(
            f"{where}.platform: must be one of {[p.value for p in Platform]}, "
            f"got {table.get('platform')!r}"
        ) from None
    spec = _KEYS[platform]
    unknown = set(table) - set(spec) - {"platform"}
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {sorted(unknown)} for platform {platform.value}"
        )
    values: dict[str, Any] = {}
    for key, (required, secret) in spec.items():
        if key not in table:
            if required:
                raise ConfigError(f"{where}.{key}: missing (required for {platform.value})")
            continue
        value = table[key]
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where}.{key}: must be a non-empty string")
        value = _resolve(value, f"{where}.{key}", environ)
        values[key] = SecretStr(value) if secret else value
    if platform is Platform.WECHAT:
        return _wechat(where, name, values)
    if platform is Platform.DOUYIN:
        return _douyin(where, name, values)
    return TaobaoAccount(name=name, **values)


def _resolve(value: str, where: str, environ: Mapping[str, str]) -> str:
    if not value.startswith("env:"):
        return value
    var = value[4:]
    resolved = environ.get(var)
    if not resolved:
        raise ConfigError(f"{where}: environment variable {var} is not set or empty")
    return resolved


def _wechat(where: str, name: str, values: dict[str, Any]) -> WeChatAccount:
    surface = values.get("surface", "service_account")
    if surface not in ("service_account", "channels_store", "mini_program"):
        raise ConfigError(
            f"{where}.surface: must be service_account, channels_store or mini_program, "
            f"got {surface!r}"
        )
    for key in ("encoding_aes_key", "previous_encoding_aes_key"):
        if key in values:
            _check_aes_key(f"{where}.{key}", values[key].get_secret_value())
    if "previous_encoding_aes_key" in values and "encoding_aes_key" not in values:
        raise ConfigError(f"{where}.previous_encoding_aes_key: set only with encoding_aes_key")
    if surface == "channels_store" and "encoding_aes_key" not in values:
        raise ConfigError(
            f"{where}.encoding_aes_key: required, Channels stores push in safe mode only"
        )
    # Channels stores push in safe mode only, so a plaintext body there is always forged.
    values.setdefault("encryption", "required" if surface == "channels_store" else "optional")
    if values["encryption"] not in ("required", "optional"):
        raise ConfigError(
            f"{where}.encryption: must be 'required' or 'optional', got {values['encryption']!r}"
        )
    if values["encryption"] == "required" and "encoding_aes_key" not in values:
        raise ConfigError(f"{where}.encryption: 'required' needs an encoding_aes_key")
    return WeChatAccount(name=name, **values)


def _check_aes_key(where: str, key: str) -> None:
    if not _AES_KEY.match(key):
        raise ConfigError(f"{where}: an EncodingAESKey is 43 characters from A-Z, a-z, 0-9")
    try:
        decoded = base64.b64decode(key + "=", validate=True)
    except binascii.Error as exc:  # pragma: no cover - the regex admits only base64 characters
        raise ConfigError(f"{where}: not base64") from exc
    if len(decoded) != 32:  # pragma: no cover - 43 base64 chars + '=' always decode to 32 bytes
        raise ConfigError(f"{where}: must decode to 32 bytes")


def _douyin(where: str, name: str, values: dict[str, Any]) -> DouyinAccount:
    flavor = values["flavor"]
    if flavor not in _DOUYIN_REQUIRED:
        raise ConfigError(f"{where}.flavor: must be 'doudian' or 'open', got {flavor!r}")
    for key in _DOUYIN_REQUIRED[flavor]:
        if key not in values:
            raise ConfigError(f"{where}.{key}: missing (required for flavor {flavor})")
    return DouyinAccount(name=name, **values)
