"""Micro-benchmark of PII masking: µs per 200-character message, against same-run baselines.

Run: ``.venv/bin/python bench/bench_pii.py [--rounds N]``. Prints one table: each case's best-of-7
CPU µs per call, and its ratio to two baselines timed in the same process on the same message —
``orjson.dumps`` of a message-sized dict (what publishing serialises anyway) and one plain
``re.sub`` with a mobile-number regex (the naive masker). Ratios make numbers comparable across
machines; absolute µs depend heavily on the CPU. No assertions: the tests do not time anything.
"""

from __future__ import annotations

import argparse
import json
import re
import time
import timeit
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import orjson

from normalizer.pii import MaskPolicy, PiiMasker, mask_log_event

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "pii"


def _fit(text: str) -> str:
    """Exactly 200 characters: the text, padded with more of itself."""
    return (text * (200 // len(text) + 1))[:200]


CLEAN = _fit(
    "您好，请问这款连衣裙还有货吗？我想买两件，一件红色一件蓝色，尺码是M和L。另外想问一下，"
    "下单后大概多久能发货呢？如果不合适可以七天无理由退换吗？运费是谁出？上次买的那件质量很好，"
    "这次想再给妈妈买一件，麻烦帮我看看有没有优惠券可以用，谢谢亲！"
)
CLEAN_NUMBERS = _fit(
    "亲，我昨天下单的那件外套，价格¥138.00，买了2件，订单号6919471234567891239，什么时候发货？"
    "优惠券满299减30还能用吗？快递是中通还是顺丰？2024-01-02 13:45:00付的款，比较着急，"
    "周末要穿，麻烦尽快安排，谢谢！如果没货了请告诉我，我换一个颜色也可以。"
)
DIRTY = _fit(
    "您好，我想改一下收货信息，新的联系电话是138 1234 5678，发票请发到我的邮箱abc.def@qq.com，"
    "订单号6919471234567891239，麻烦帮我备注一下，快递到了先打电话，我白天上班不在家，"
    "可以放快递柜，谢谢亲！另外想问问这款还有没有别的颜色，灰色或黑色都可以。"
)
VERY_DIRTY = _fit(
    "你好，订单6919471234567891239还没发货，收货人电话改成138 1234 5678，备用+86 139-8765-4321，"
    "邮箱abc.def@qq.com，座机010-12345678。退款请退到银行卡6222021234567890128，"
    "身份证110101199003071233，幺三八一二三四五六七八也可以联系我。"
)
PHONE_RE = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")


def best_us(fn: Callable[[], Any], rounds: int) -> float:
    """Best-of-7 average CPU µs per call (process time, so other jobs on the host don't count)."""
    timings = timeit.repeat(fn, number=rounds, repeat=7, timer=time.process_time)
    return min(timings) / rounds * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000, help="calls per timing (default 2000)")
    rounds = parser.parse_args().rounds

    shape = PiiMasker()
    pseudonym = PiiMasker(MaskPolicy(mode="pseudonym", key=b"bench-key-32-bytes-long-xxxxxxxx"))
    log = mask_log_event(shape)
    record = json.loads((FIXTURES / "doudian_105_address_changed.json").read_text("utf-8"))[0]

    cases: list[tuple[str, str, Callable[[], Any]]] = []
    for name, text in (
        ("clean", CLEAN),
        ("numbers", CLEAN_NUMBERS),
        ("dirty", DIRTY),
        ("very dirty", VERY_DIRTY),
    ):
        label = f"{name}, {len(shape.detect(text))} PII"
        cases.append((f"shape: {label}", text, partial(shape.mask_text, text)))
        cases.append((f"pseudonym: {label}", text, partial(pseudonym.mask_text, text)))
    cases.append(("log processor: clean event", CLEAN, lambda: log(None, "info", {"event": CLEAN})))
    cases.append(
        ("mask_fields: Doudian 105 record", record["data"], lambda: shape.mask_fields(record))
    )

    print(f"PII masking, CPU µs per call (best of 7 x {rounds}); mask_text on 200-character")
    print("messages (PII = values masked; 'numbers' holds prices, dates and an order id)\n")
    header = f"{'case':<38} {'µs':>8} {'x orjson':>9} {'x re.sub':>9}"
    print(header)
    print("-" * len(header))
    for name, text, fn in cases:
        message = {"platform": "douyin", "account": "shop", "kind": "text", "text": text}
        orjson_us = best_us(partial(orjson.dumps, message), rounds)
        resub_us = best_us(partial(PHONE_RE.sub, r"\1****\2", text), rounds)
        us = best_us(fn, rounds)
        print(f"{name:<38} {us:>8.2f} {us / orjson_us:>9.1f} {us / resub_us:>9.1f}")
    print(
        "\nbaselines on the clean message: "
        f"orjson.dumps {best_us(lambda: orjson.dumps({'text': CLEAN}), rounds):.2f} µs, "
        f"re.sub phone {best_us(lambda: PHONE_RE.sub('x', CLEAN), rounds):.2f} µs, "
        f"sum(range(1000)) {best_us(lambda: sum(range(1000)), rounds // 10 or 1):.2f} µs "
        "(CPU calibration; ~8 µs on a current laptop)"
    )


if __name__ == "__main__":
    main()
