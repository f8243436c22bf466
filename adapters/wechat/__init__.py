"""WeChat: Service Account, Mini Program and Channels store callbacks (reference/wechat.md)."""

from adapters.wechat.adapter import WeChatAdapter
from adapters.wechat.crypto import WeChatCrypto
from adapters.wechat.signature import sign

__all__ = ["WeChatAdapter", "WeChatCrypto", "sign"]
