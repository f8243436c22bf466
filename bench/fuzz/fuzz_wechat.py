"""atheris harness: WeChat webhook adapter (plaintext and safe mode) plus the normalizer.

    .venv/bin/python bench/fuzz/fuzz_wechat.py -atheris_runs=100000 -dict=bench/fuzz/wechat.dict

Each input is three control bytes and a body. Control byte 0 is a set of anomalies (bit 0 safe-mode
account, 1 wrong token, 2 GET verification, 3 safe account but plaintext body, 4 timestamp taken
from the body, 5 a repeated query parameter); byte 1 is the timestamp's offset from the clock
(±512 s around the ±300 s window); byte 2 picks the repeated parameter. All-zero control bytes
make a correctly signed, fresh plaintext POST, so the fuzzer spends its effort on bodies; on a
safe-mode account the body is encrypted and signed (msg_signature) before it is sent.
"""

from __future__ import annotations

from _harness import AES_KEY, APP_ID, NOW, TOKEN, fixed_clock, guarded, load_atheris, main, split

atheris = load_atheris()

with atheris.instrument_imports(include=["adapters", "normalizer"]):
    from adapters.wechat import WeChatAdapter
    from adapters.wechat.crypto import WeChatCrypto
    from adapters.wechat.signature import sign
    from gateway.models import WebhookRequest
    from normalizer.normalize import Normalizer
    from normalizer.pii import PiiMasker

PLAIN = WeChatAdapter(account="plain", token=TOKEN, app_id=APP_ID, clock=fixed_clock)
SAFE = WeChatAdapter(
    account="safe", token=TOKEN, app_id=APP_ID, encoding_aes_keys=[AES_KEY], clock=fixed_clock
)
CRYPTO = WeChatCrypto([AES_KEY], APP_ID)
NORMALIZE = Normalizer(PiiMasker(), fixed_clock)

SEEDS = [
    bytes([flags, 128, 0]) + body
    for flags in (0, 1)
    for body in (
        b"<xml><ToUserName><![CDATA[gh]]></ToUserName><FromUserName><![CDATA[oU1]]></FromUserName>"
        b"<CreateTime>1767225600</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        b"<Content><![CDATA[13812345678]]></Content><MsgId>24800000000000001</MsgId></xml>",
        b"<xml><FromUserName>oU2</FromUserName><CreateTime>1767225600</CreateTime>"
        b"<MsgType>event</MsgType><Event>subscribe</Event><EventKey>qrscene_7</EventKey></xml>",
        b'{"FromUserName":"oU3","CreateTime":1767225600,"MsgType":"event",'
        b'"Event":"commkf_send_msg_to_kf","msg_id":1,"msg_type":"text","text":{"content":"hi"}}',
        b'{"FromUserName":"oU4","CreateTime":1767225600,"MsgType":"event",'
        b'"Event":"channels_ec_order_pay","order_info":{"order_id":3712345678901234567}}',
        b"<xml><FromUserName>oU5</FromUserName><CreateTime>1767225600</CreateTime>"
        b"<MsgType>image</MsgType><PicUrl>http://x/y</PicUrl><MediaId>m</MediaId><MsgId>2</MsgId></xml>",
    )
]


def test_one_input(data: bytes) -> None:
    (flags, skew, repeat), body = split(data, 3)
    safe, unsigned, get = bool(flags & 1), bool(flags & 2), bool(flags & 4)
    encrypt = safe and not flags & 8
    stamp = body[:14].decode("utf-8", "replace") if flags & 16 else str(NOW + (skew - 128) * 4)
    nonce = f"n{skew}"
    token = TOKEN + "x" if unsigned else TOKEN
    pairs = [("timestamp", stamp), ("nonce", nonce), ("signature", sign(token, stamp, nonce))]
    if encrypt:
        ciphertext = CRYPTO.encrypt(body)
        pairs += [("encrypt_type", "aes"), ("msg_signature", sign(token, stamp, nonce, ciphertext))]
        body = (
            b"<xml><ToUserName>gh</ToUserName><Encrypt>" + ciphertext.encode() + b"</Encrypt></xml>"
        )
    if get:
        pairs.append(("echostr", nonce))
    if flags & 32:
        pairs.append(pairs[repeat % len(pairs)])
    query: dict[str, tuple[str, ...]] = {}
    for key, value in pairs:
        query[key] = (*query.get(key, ()), value)
    request = WebhookRequest("GET" if get else "POST", {}, query, body, "text/xml")
    adapter = SAFE if safe else PLAIN

    def run() -> None:
        if get:
            adapter.handshake(request)
            return
        events = adapter.receive(request)
        if events and unsigned:
            raise AssertionError("a WeChat callback with a wrong signature produced events")
        adapter.ack(request)
        for event in events:
            NORMALIZE(event)

    guarded(run)


if __name__ == "__main__":
    main(test_one_input, atheris, SEEDS)
