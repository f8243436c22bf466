"""atheris harness: Taobao TMC frame codec and data-message mapping plus the normalizer.

    .venv/bin/python bench/fuzz/fuzz_taobao.py -atheris_runs=100000 -dict=bench/fuzz/json.dict

Each input is four control bytes and a payload. Control byte 0 bit 0 set: the payload is a raw
WebSocket message for `decode` (what TMC delivers). Otherwise a SEND/data frame is built: byte 1
picks the id (an INT64 from byte 2, or the first bytes of the payload as a STRING id), byte 2
the topic, byte 3 bit 0 gzips the content; the payload is the content. `decode` may raise only
`AdapterError`; `frame_event` must never raise (what it cannot map becomes a tmc_unparsed event).
"""

from __future__ import annotations

import gzip

from _harness import fixed_clock, guarded, load_atheris, main, split

atheris = load_atheris()

with atheris.instrument_imports(include=["adapters", "normalizer"]):
    from adapters.taobao.events import frame_event
    from adapters.taobao.tmc_codec import (
        Frame,
        Header,
        MessageKind,
        MessageType,
        ValueFormat,
        decode,
        encode,
    )
    from gateway.errors import AdapterError
    from normalizer.normalize import Normalizer
    from normalizer.pii import PiiMasker

NORMALIZE = Normalizer(PiiMasker(), fixed_clock)
TOPICS = ["taobao_trade_TradeBuyerPay", "taobao_refund_RefundCreated", "taobao_item_ItemAdd", ""]
TRADE = b'{"tid":3712345678901234567,"buyer_open_uid":"AAH1","status":"WAIT_SELLER_SEND_GOODS"}'


def data_frame(id_kind: int, topic: int, packed: int, payload: bytes) -> bytes:
    headers = [Header("__kind", ValueFormat.INT32, int(MessageKind.DATA))]
    if id_kind & 1:
        text, payload = payload[:20].decode("utf-8", "replace"), payload[20:]
        headers.append(Header("id", ValueFormat.STRING, text))
    else:
        headers.append(Header("id", ValueFormat.INT64, (id_kind << 40) - topic))
    headers.append(Header("topic", ValueFormat.STRING, TOPICS[topic % len(TOPICS)]))
    headers.append(Header("time", ValueFormat.DATE, 1_767_225_600_000))
    if packed & 1:
        headers.append(Header("content", ValueFormat.BYTES, gzip.compress(payload)))
    else:
        headers.append(Header("content", ValueFormat.STRING, payload.decode("utf-8", "replace")))
    return encode(Frame(MessageType.SEND, tuple(headers)))


SEEDS = [
    b"\0\0\0\0" + TRADE,
    b"\0\0\1\1" + b'{"refund_id":"7000000000000000123","buyer_open_uid":"AAH2"}',
    b"\0\1\2\0" + b"12345678901234567890" + b'{"num_iid":1}',
    b"\1\0\0\0" + data_frame(0, 0, 0, TRADE),
]


def test_one_input(data: bytes) -> None:
    (mode, id_kind, topic, packed), payload = split(data, 4)

    def run() -> None:
        wire = payload if mode & 1 else data_frame(id_kind, topic, packed, payload)
        try:
            frame = decode(wire)
        except AdapterError:
            if not mode & 1:
                raise AssertionError("a frame built by the codec does not decode") from None
            return
        mapped = frame_event(frame, account="tb", clock=fixed_clock)
        if mapped is not None:
            NORMALIZE(mapped.event)

    guarded(run)


if __name__ == "__main__":
    main(test_one_input, atheris, SEEDS)
