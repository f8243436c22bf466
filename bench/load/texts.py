"""Realistic customer-service texts: about 200 Chinese characters, some with phone numbers.

Sentences a buyer writes to a shop's customer service (orders, delivery, sizes, returns,
invoices), filled with random order numbers and products; about a third of the messages carry a
mainland mobile number in one of the spellings the PII masker must catch.
"""

from __future__ import annotations

import random

__all__ = ["customer_text", "phone_number"]

OPENERS = ("你好", "您好", "在吗", "亲，在吗", "客服你好", "老板在吗", "麻烦问一下", "打扰了")
PRODUCTS = ("羽绒服", "连衣裙", "运动鞋", "保温杯", "蓝牙耳机", "儿童书包", "床上四件套",
            "电饭煲", "面霜", "茶叶礼盒", "猫粮", "登山包", "手机壳",
            "空气炸锅", "牛仔裤")  # fmt: skip
SENTENCES = (
    "我昨天下的订单{order}到现在还没有发货，请问什么时候能发出来？",
    "收到的{product}尺码偏小，想换大一号的，需要怎么操作？",
    "{product}外包装有破损，里面的东西也有划痕，能不能给我补发一个？",
    "物流信息已经三天没有更新了，麻烦帮我催一下快递。",
    "我想开一张增值税普通发票，抬头是公司名称，税号稍后发给你。",
    "请问这款{product}有没有现货？我想今天下单明天能收到。",
    "下单的时候地址填错了，能不能帮我改成公司的地址？",
    "活动页面写的满三百减五十，为什么结算的时候没有减？",
    "{product}用了两天就坏了，申请售后一直没人处理。",
    "我是老客户了，这次买的{product}和上次颜色不一样，是不是发错了？",
    "退货的快递单号已经填好了，退款大概多久能到账？",
    "能不能帮我备注一下，送货之前先打电话，白天家里没人。",
    "订单{order}显示已签收，但是我根本没有收到包裹。",
    "想问一下{product}可以用优惠券吗，店铺券和平台券能不能叠加？",
    "赠品没有收到，页面上说买{product}送一个收纳袋。",
    "颜色和图片差别有点大，可以七天无理由退货吗？",
    "麻烦尽快回复，我周末要出门，急着用。",
    "谢谢，你们的服务态度很好，下次还会再来买。",
)
PHONE_SENTENCES = (
    "我的手机号是{phone}，有问题直接打给我。",
    "收货电话改成{phone}，原来那个号码不用了。",
    "快递员联系不上我的话请打{phone}。",
)
_PREFIXES = ("138", "139", "150", "151", "186", "187", "135", "177", "199")


def phone_number(rng: random.Random) -> str:
    """A mainland mobile number, sometimes with +86 or separators."""
    digits = rng.choice(_PREFIXES) + "".join(rng.choice("0123456789") for _ in range(8))
    style = rng.random()
    if style < 0.6:
        return digits
    if style < 0.8:
        return f"+86 {digits}"
    return f"{digits[:3]}-{digits[3:7]}-{digits[7:]}"


def customer_text(rng: random.Random, *, phone_share: float = 0.3, length: int = 200) -> str:
    """One message of about `length` characters (never much more)."""
    parts = [rng.choice(OPENERS) + "，"]
    if rng.random() < phone_share:
        parts.append(rng.choice(PHONE_SENTENCES).format(phone=phone_number(rng)))
    size = sum(map(len, parts))
    while size < length - 10:
        sentence = rng.choice(SENTENCES).format(
            order="".join(rng.choice("0123456789") for _ in range(19)),
            product=rng.choice(PRODUCTS),
        )
        if size + len(sentence) > length + 20:
            break
        parts.insert(rng.randrange(1, len(parts) + 1), sentence)
        size += len(sentence)
    return "".join(parts)
