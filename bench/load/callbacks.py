"""Pre-generated WeChat callbacks for wrk: unique, correctly signed, safe-mode encrypted.

One request per line, ``<path>?<query>\\t<body>``, exactly as WeChat sends a Service Account text
message in safe mode (`signature`, `timestamp`, `nonce`, `openid`, `encrypt_type=aes`,
`msg_signature`; an XML envelope whose `Encrypt` is the AES ciphertext). Each line has its own
MsgId, nonce and random AES prefix, and comes from one of `customers` customers (the ones the
harness binds to advisors). Timestamps are the generation time, so the gateway under test runs
with a replay window that covers the whole run. Beside the file, ``<file>.offsets`` holds the
byte offset of every `OFFSET_STEP`-th line so wrk can seek to a segment instead of reading the
lines before it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from adapters.wechat.simulate import signed_callback, text_message_xml

from .account import AES_KEY, APP_ID, TOKEN, WEBHOOK_PATH
from .texts import customer_text

__all__ = ["OFFSET_STEP", "Pool", "customer_ids", "generate", "line_for", "read_offsets"]

OFFSET_STEP = 1000
MSG_ID_BASE = 24_000_000_000_000_000  # 17 digits like WeChat's MsgId; + run salt + index
OFFICIAL_ACCOUNT = "gh_kefu_bench0001"


@dataclass(frozen=True, slots=True)
class Pool:
    path: Path
    count: int
    timestamp: int
    customers: int


def customer_ids(count: int) -> list[str]:
    """The bench customers' openids (28 characters like WeChat's)."""
    return [f"oBenchCustomer{n:014d}" for n in range(count)]


def line_for(
    index: int, rng: random.Random, *, customers: list[str], timestamp: int, salt: int
) -> str:
    """Request number `index` of a pool, as a line (without the newline)."""
    sender = customers[rng.randrange(len(customers))]
    xml = text_message_xml(
        to=OFFICIAL_ACCOUNT,
        sender=sender,
        text=customer_text(rng),
        msg_id=MSG_ID_BASE + salt * 10_000_000 + index,
        created=timestamp,
    )
    callback = signed_callback(
        xml,
        token=TOKEN,
        timestamp=timestamp,
        app_id=APP_ID,
        encoding_aes_key=AES_KEY,
        nonce=str(rng.randrange(10**9)),
    )
    query = {**callback.query, "openid": sender}
    return f"{WEBHOOK_PATH}?{urlencode(query)}\t{callback.body.decode()}"


def generate(path: Path, count: int, *, customers: int = 1000, seed: int | None = None) -> Pool:
    """Write `count` requests to `path` (and its offsets file); MsgIds are unique per pool (a
    per-pool salt keeps two pools from colliding in one gateway store)."""
    timestamp = int(time.time())
    rng = random.Random(seed if seed is not None else timestamp)
    salt = rng.randrange(1_000_000)
    ids = customer_ids(customers)
    offsets: list[int] = []
    at = 0
    with path.open("wb") as out:
        for index in range(count):
            if index % OFFSET_STEP == 0:
                offsets.append(at)
            data = (
                line_for(index, rng, customers=ids, timestamp=timestamp, salt=salt) + "\n"
            ).encode()
            out.write(data)
            at += len(data)
    path.with_suffix(path.suffix + ".offsets").write_text(
        "\n".join(map(str, offsets)) + "\n", encoding="ascii"
    )
    return Pool(path, count, timestamp, customers)


def read_offsets(path: Path) -> list[int]:
    text = path.with_suffix(path.suffix + ".offsets").read_text(encoding="ascii")
    return [int(x) for x in text.split()]


def iter_lines(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            yield line.rstrip("\n")
