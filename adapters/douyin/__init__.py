"""Douyin: Doudian (抖店) message push and Douyin open-platform webhooks (reference §1, §2).

Both arrive at ``POST /webhooks/douyin/{account}``; the account's ``flavor`` chooses the adapter.
"""

from adapters.douyin.doudian import DoudianAdapter
from adapters.douyin.open_platform import DouyinOpenAdapter
from adapters.douyin.signature import doudian_hmac_sign, doudian_sign, douyin_sign

__all__ = [
    "DoudianAdapter",
    "DouyinOpenAdapter",
    "doudian_hmac_sign",
    "doudian_sign",
    "douyin_sign",
]
