"""atheris harness: Doudian (抖店) push adapter plus the normalizer.

    .venv/bin/python bench/fuzz/fuzz_doudian.py -atheris_runs=100000 -dict=bench/fuzz/json.dict

Each input is one control byte and a body. Control bits, each an anomaly: 0 wrong secret, 1 the
unconfirmed HMAC-SHA256 variant, 2 another app's ``app-id``, 3 the lenient adapter (unsigned probe
and HMAC-SHA256 accepted). A zero control byte makes a correctly signed push.
"""

from __future__ import annotations

import hashlib
import hmac

from _harness import APP_KEY, APP_SECRET, fixed_clock, guarded, load_atheris, main, split

atheris = load_atheris()

with atheris.instrument_imports(include=["adapters", "normalizer"]):
    from adapters.douyin import DoudianAdapter
    from gateway.models import WebhookRequest
    from normalizer.normalize import Normalizer
    from normalizer.pii import PiiMasker

STRICT = DoudianAdapter(account="dd", app_key=APP_KEY, app_secret=APP_SECRET, clock=fixed_clock)
LENIENT = DoudianAdapter(
    account="dd",
    app_key=APP_KEY,
    app_secret=APP_SECRET,
    clock=fixed_clock,
    accept_unsigned_probe=True,
    allow_hmac_sha256=True,
)
NORMALIZE = Normalizer(PiiMasker(), fixed_clock)

SEEDS = [
    b"\0"
    + b'[{"tag":"101","msg_id":"7000000000000000001","data":"{\\"p_id\\":6919000000000000001,'
    + b'\\"buyer_id\\":\\"b1\\",\\"pay_time\\":1767225600,\\"receiver_tel\\":\\"13812345678\\"}"}]',
    b"\0"
    + b'[{"tag":200,"msgId":"m2","data":{"aftersale_id":"7000000000000000123","p_id":1,'
    + b'"user_id":"b2","apply_time":"1767225600000"}}]',
    b'\0{"tag":"0","msg_id":"0","data":"{}"}',
    b'\x08{"tag":"0","msg_id":"0","data":""}',
    b'\0[{"tag":"504","msg_id":"m3","data":{"shop_id":9,"receiver_msg":{"name":"n","tel":"t"}}}]',
]


def test_one_input(data: bytes) -> None:
    (flags,), body = split(data, 1)
    wrong_secret, use_hmac, other_app, lenient = (bool(flags & bit) for bit in (1, 2, 4, 8))
    adapter = LENIENT if lenient else STRICT
    secret = APP_SECRET + "x" if wrong_secret else APP_SECRET
    message = APP_KEY.encode() + body + secret.encode()
    headers = {"app-id": "1" if other_app else APP_KEY}
    if use_hmac:
        headers["sign-method"] = "hmac-sha256"
        headers["event-sign"] = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    else:
        headers["event-sign"] = hashlib.md5(message, usedforsecurity=False).hexdigest()
    request = WebhookRequest("POST", headers, {}, body, "application/json")
    authentic = not wrong_secret and not other_app and (lenient or not use_hmac)

    def run() -> None:
        events = adapter.receive(request)
        if events and not authentic:
            raise AssertionError("an unauthentic Doudian push produced events")
        adapter.ack(request)
        for event in events:
            NORMALIZE(event)

    guarded(run)


if __name__ == "__main__":
    main(test_one_input, atheris, SEEDS)
