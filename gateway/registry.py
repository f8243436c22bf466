"""The adapter registry: one adapter per configured account, keyed by (platform, name).

Built once in the composition root; Taobao accounts have no webhook (their TMC client is started
by the app), so they are not in the registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TypedDict

from adapters.base import Adapter, Clock, utc_now
from adapters.douyin import DoudianAdapter, DouyinOpenAdapter
from adapters.wechat import WeChatAdapter
from gateway.accounts import Account, Accounts, DouyinAccount, WeChatAccount
from gateway.models import Platform
from gateway.settings import Settings

__all__ = ["build_adapters"]


class _Limits(TypedDict):
    replay_window: int
    max_json_depth: int
    clock: Clock


def build_adapters(
    accounts: Accounts, settings: Settings, clock: Clock = utc_now
) -> Mapping[tuple[Platform, str], Adapter]:
    adapters: dict[tuple[Platform, str], Adapter] = {}
    for key, account in accounts.by_key.items():
        adapter = _adapter(account, settings, clock)
        if adapter is not None:
            adapters[key] = adapter
    return MappingProxyType(adapters)


def _adapter(account: Account, settings: Settings, clock: Clock) -> Adapter | None:
    limits = _Limits(
        replay_window=settings.replay_window, max_json_depth=settings.max_json_depth, clock=clock
    )
    if isinstance(account, WeChatAccount):
        keys = [
            k.get_secret_value()
            for k in (account.encoding_aes_key, account.previous_encoding_aes_key)
            if k
        ]
        return WeChatAdapter(
            account=account.name,
            token=account.token.get_secret_value(),
            app_id=account.app_id,
            encoding_aes_keys=keys,
            encrypted_only=account.encryption == "required",
            **limits,
        )
    if isinstance(account, DouyinAccount):
        if account.flavor == "doudian":
            assert account.app_key and account.app_secret  # guaranteed by gateway.accounts
            return DoudianAdapter(
                account=account.name,
                app_key=account.app_key,
                app_secret=account.app_secret.get_secret_value(),
                **limits,
            )
        assert account.client_key and account.client_secret  # guaranteed by gateway.accounts
        return DouyinOpenAdapter(
            account=account.name,
            client_key=account.client_key,
            client_secret=account.client_secret.get_secret_value(),
            **limits,
        )
    return None
