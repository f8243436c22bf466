"""The demo's sample traffic: one signed callback of every platform surface, built exactly as the
platform would send it (WeChat Service Account / Channels store / Mini Program, Doudian push,
Douyin IM webhook), and a Taobao TMC trade message for the in-process fake TMC server."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from adapters.douyin.simulate import doudian_push, douyin_im_text, douyin_webhook
from adapters.wechat.simulate import signed_callback, store_kf_text, text_message_xml
from gateway.accounts import Account, DouyinAccount, WeChatAccount

__all__ = ["STEPS", "HttpStep", "Post", "TmcStep", "demo_accounts", "wechat_text"]

DOUDIAN_KEY, DOUDIAN_SECRET = "7000000000000000042", "demo-doudian-secret"
DOUYIN_KEY, DOUYIN_SECRET = "awdemo0000000042", "demo-douyin-secret"
TAOBAO_KEY, TAOBAO_SECRET = "34000042", "demo-taobao-secret"


def demo_accounts(tmc_url: str) -> dict[str, Any]:
    """The accounts file of the demo (invented credentials)."""
    return {
        "accounts": {
            "demo-oa": {
                "platform": "wechat",
                "surface": "service_account",
                "token": "demo_oa_token",
                "app_id": "wxdemo000000000oa",
                "encoding_aes_key": "Gw7kT2pQx9Lm4Rz8Vb1Nc6Hs3Jd5Fa0Ye2Ui7Oo4PqA",
            },
            "demo-store": {
                "platform": "wechat",
                "surface": "channels_store",
                "token": "demo_store_token",
                "app_id": "wxdemo00000store",
                "encoding_aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
            },
            "demo-mp": {
                "platform": "wechat",
                "surface": "mini_program",
                "token": "demo_mp_token",
                "app_id": "wxdemo000000000mp",
            },
            "demo-dd": {
                "platform": "douyin",
                "flavor": "doudian",
                "app_key": DOUDIAN_KEY,
                "app_secret": DOUDIAN_SECRET,
            },
            "demo-dy": {
                "platform": "douyin",
                "flavor": "open",
                "client_key": DOUYIN_KEY,
                "client_secret": DOUYIN_SECRET,
            },
            "demo-tb": {
                "platform": "taobao",
                "app_key": TAOBAO_KEY,
                "app_secret": TAOBAO_SECRET,
                "tmc_url": tmc_url,
            },
        }
    }


@dataclass(frozen=True, slots=True)
class Post:
    """One HTTP callback: query, headers, body."""

    query: dict[str, str]
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


Build = Callable[[Account, str, int], Post]


@dataclass(frozen=True, slots=True)
class HttpStep:
    title: str
    account: str
    build: Build


@dataclass(frozen=True, slots=True)
class TmcStep:
    title: str
    account: str
    topic: str
    content: Callable[[str], str]


def _wechat(account: Account, plaintext: bytes, now: int) -> Post:
    assert isinstance(account, WeChatAccount)
    key = account.encoding_aes_key.get_secret_value() if account.encoding_aes_key else None
    callback = signed_callback(
        plaintext,
        token=account.token.get_secret_value(),
        timestamp=now,
        app_id=account.app_id,
        encoding_aes_key=key,
        json_envelope=account.surface == "channels_store",
    )
    return Post(callback.query, callback.body, {"Content-Type": callback.content_type})


def wechat_text(text: str) -> Build:
    def build(account: Account, customer: str, now: int) -> Post:
        assert isinstance(account, WeChatAccount)
        maker = store_kf_text if account.surface == "channels_store" else text_message_xml
        body = maker(
            to="gh_demo", sender=customer, text=text, msg_id=secrets.randbits(60), created=now
        )
        return _wechat(account, body, now)

    return build


def _store_order(account: Account, customer: str, now: int) -> Post:
    body = orjson.dumps(
        {
            "ToUserName": "gh_demo",
            "FromUserName": customer,
            "CreateTime": now,
            "MsgType": "event",
            "Event": "channels_ec_order_pay",
            "order_info": {"order_id": 3712345678901234567, "pay_time": now},
        }
    )
    return _wechat(account, body, now)


def _subscribe(account: Account, customer: str, now: int) -> Post:
    body = (
        f"<xml><ToUserName>gh_demo</ToUserName><FromUserName>{customer}</FromUserName>"
        f"<CreateTime>{now}</CreateTime><MsgType>event</MsgType><Event>subscribe</Event>"
        f"<EventKey>qrscene_advisor_7</EventKey></xml>"
    ).encode()
    return _wechat(account, body, now)


def _doudian_order(account: Account, customer: str, now: int) -> Post:
    assert isinstance(account, DouyinAccount) and account.app_key and account.app_secret
    record = {
        "tag": "100",
        "msg_id": secrets.token_hex(10),
        "data": {
            "p_id": 6919471234567891234,
            "shop_id": 42,
            "order_status": 1,
            "buyer_id": customer,
            "receiver_name": "王小明",
            "receiver_tel": "13912345678",
            "post_addr": "杭州市文三路1号",
            "create_time": now,
        },
    }
    callback = doudian_push(
        [record], app_key=account.app_key, app_secret=account.app_secret.get_secret_value()
    )
    return Post({}, callback.body, {**callback.headers, "Content-Type": callback.content_type})


def _douyin_im(account: Account, customer: str, now: int) -> Post:
    assert isinstance(account, DouyinAccount) and account.client_key and account.client_secret
    envelope = douyin_im_text(
        client_key=account.client_key,
        sender=customer,
        receiver="shop",
        text="这款还有货吗？加我微信 wx_abc123 聊",
        created_ms=now * 1000,
    )
    callback = douyin_webhook(
        envelope,
        client_secret=account.client_secret.get_secret_value(),
        msg_id=secrets.token_hex(8),
    )
    return Post({}, callback.body, {**callback.headers, "Content-Type": callback.content_type})


def _taobao_trade(customer: str) -> str:
    return orjson.dumps(
        {
            "tid": 3712345678901234567,
            "buyer_nick": customer,
            "status": "WAIT_SELLER_SEND_GOODS",
            "receiver_mobile": "13712345678",
        }
    ).decode()


STEPS: tuple[HttpStep | TmcStep, ...] = (
    HttpStep(
        "WeChat Service Account, safe mode (AES), XML text",
        "demo-oa",
        wechat_text("你好，我的手机号是 138 1234 5678，订单什么时候发货？"),
    ),
    HttpStep("WeChat Service Account, follow via a QR code", "demo-oa", _subscribe),
    HttpStep(
        "WeChat Channels store, JSON safe mode, customer-service text",
        "demo-store",
        wechat_text("退款请打到 6222 0212 3456 7890 128，邮箱 zhang.san@example.com"),
    ),
    HttpStep("WeChat Channels store, order paid event", "demo-store", _store_order),
    HttpStep(
        "WeChat Mini Program, plaintext XML text",
        "demo-mp",
        wechat_text("身份证号11010519491231002X，帮我查下物流"),
    ),
    HttpStep("Doudian (抖店) push, order created, receiver fields", "demo-dd", _doudian_order),
    HttpStep("Douyin open platform, IM text", "demo-dy", _douyin_im),
    TmcStep(
        "Taobao TMC, trade paid (from the in-process fake TMC)",
        "demo-tb",
        "taobao_trade_TradeBuyerPay",
        _taobao_trade,
    ),
)
