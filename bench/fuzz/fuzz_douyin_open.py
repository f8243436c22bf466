"""atheris harness: Douyin open-platform webhook adapter plus the normalizer.

    .venv/bin/python bench/fuzz/fuzz_douyin_open.py -atheris_runs=100000 -dict=bench/fuzz/json.dict

Each input is two control bytes and a body: byte 0 bit 0 signs with a wrong secret; byte 1 is the
length of a ``Msg-Id`` header cut from the body (0: no header). A zero control prefix makes a
correctly signed webhook without Msg-Id.
"""

from __future__ import annotations

import hashlib

from _harness import CLIENT_KEY, CLIENT_SECRET, fixed_clock, guarded, load_atheris, main, split

atheris = load_atheris()

with atheris.instrument_imports(include=["adapters", "normalizer"]):
    from adapters.douyin import DouyinOpenAdapter
    from gateway.models import WebhookRequest
    from normalizer.normalize import Normalizer
    from normalizer.pii import PiiMasker

ADAPTER = DouyinOpenAdapter(
    account="dy", client_key=CLIENT_KEY, client_secret=CLIENT_SECRET, clock=fixed_clock
)
NORMALIZE = Normalizer(PiiMasker(), fixed_clock)

SEEDS = [
    b"\0\0"
    + b'{"event":"im_receive_msg","client_key":"awfuzz0000000001","from_user_id":"u1",'
    + b'"to_user_id":"m","content":{"server_message_id":"@m1","message_type":"text",'
    + b'"text":"13812345678","create_time":1767225600000,'
    + b'"user_infos":[{"open_id":"u1","nick_name":"n"}]}}',
    b'\0\0{"event":"im_send_msg","from_user_id":"m","to_user_id":"u2",'
    + b'"content":"{\\"message_type\\":\\"image\\",\\"resource_url\\":\\"http://x\\"}"}',
    b'\0\0{"event":"verify_webhook","client_key":"awfuzz0000000001","content":{"challenge":42}}',
    b'\0\0{"event":"new_follow_action","from_user_id":"u3","content":{}}',
]


def test_one_input(data: bytes) -> None:
    (flags, id_length), body = split(data, 2)
    unsigned = bool(flags & 1)
    msg_id, body = (body[:id_length].decode("utf-8", "replace"), body[id_length:])
    secret = CLIENT_SECRET + "x" if unsigned else CLIENT_SECRET
    headers = {"x-douyin-signature": hashlib.sha1(secret.encode() + body).hexdigest()}
    if id_length:
        headers["msg-id"] = msg_id
    request = WebhookRequest("POST", headers, {}, body, "application/json")

    def run() -> None:
        events = ADAPTER.receive(request)
        if events and unsigned:
            raise AssertionError("an unsigned Douyin webhook produced events")
        ADAPTER.ack(request)
        for event in events:
            NORMALIZE(event)

    guarded(run)


if __name__ == "__main__":
    main(test_one_input, atheris, SEEDS)
